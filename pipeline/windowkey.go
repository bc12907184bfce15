package pipeline

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hitexport/hitexport/encoders"
)

// Objects names the two object layouts (HITEXPORT_LAYOUT).
type Objects string

// The object layouts.
const (
	// ObjectsPartition: one object per window, partition and flush, named
	// with topic, partition and first offset (key.go). For very high volume.
	ObjectsPartition Objects = "partition"
	// ObjectsWindow: partition workers stage parts under _hitexport/ and the
	// Merger writes one object per window, hitlogs-<window start s><ext>
	// (docs/objects.md).
	ObjectsWindow Objects = "window"
)

// The exporter's own folder in the window layout, and its sub-folders. Names
// starting with '_' are ignored by Athena, Hive, Spark and DuckDB.
const (
	InternalDir    = "_hitexport/"
	stagingDir     = InternalDir + "staging/"
	stagingLateDir = InternalDir + "staging-late/"
	progressDir    = InternalDir + "progress/"
	mergingDir     = InternalDir + "merging/"
	mergedDir      = InternalDir + "merged/"
)

// IsInternalKey says whether key is one of the exporter's own objects of the
// window layout (staged parts, progress markers, merge manifests and
// records), not an object for the customer.
func IsInternalKey(key string) bool { return strings.HasPrefix(key, InternalDir) }

// IsPendingKey says whether key is a staged part or a merge manifest: work
// not finished yet (a bucket at rest holds none).
func IsPendingKey(key string) bool {
	return strings.HasPrefix(key, stagingDir) || strings.HasPrefix(key, stagingLateDir) || strings.HasPrefix(key, mergingDir)
}

// StagedPart is what a staged part's key says.
type StagedPart struct {
	Late      bool
	Window    int64 // Unix ms
	Topic     string
	Partition int
	First     int64
	// Ext is the full extension of the final object, compression included.
	Ext string
	// Codec is how the part's bytes are compressed when that is not Ext's
	// compression (encoders.S2; staging.go): its key says so with
	// stagedS2Mark after the first offset. "" is Ext's compression (parts
	// of versions before S2 staging, and uncompressed layouts).
	Codec encoders.Compression
}

// StagedKey is the key of a staged part:
// _hitexport/staging[-late]/<window start s>/<topic>-<partition>-<first offset>[_s2]<ext>.
func StagedKey(p StagedPart) string {
	dir := stagingDir
	if p.Late {
		dir = stagingLateDir
	}
	return dir + strconv.FormatInt(p.Window/1000, 10) + "/" + p.Topic + "-" + strconv.Itoa(p.Partition) + "-" +
		strconv.FormatInt(p.First, 10) + stagedCodecMark(p.Codec) + p.Ext
}

// ParseStagedKey reads a key written by StagedKey.
func ParseStagedKey(key string) (StagedPart, bool) {
	var p StagedPart
	rest, ok := strings.CutPrefix(key, stagingDir)
	if !ok {
		if rest, ok = strings.CutPrefix(key, stagingLateDir); !ok {
			return p, false
		}
		p.Late = true
	}
	ws, name, ok := strings.Cut(rest, "/")
	if !ok {
		return p, false
	}
	if _, err := strconv.ParseInt(ws, 10, 64); err != nil {
		return p, false
	}
	name, p.Codec = cutStagedCodecMark(name)
	// The file name is the tail of a partition-layout key: reuse its parser.
	k, ok := ParseKey(keyName + ws + "-" + name)
	if !ok || k.Kind != KindHits {
		return p, false
	}
	p.Window, p.Topic, p.Partition, p.First = k.Window, k.Topic, k.Partition, k.First
	p.Ext = k.Ext + k.Compression.Extension()
	return p, true
}

// WindowKey is what a final object's key of the window layout says:
//
//	hitlogs-<window start s>[_late-<NNN>][_<MMM>]<ext>
//
// Late is 0 for the window's object and n ≥ 1 for its n-th late object;
// Split is 1 for the first object of a merge and m ≥ 2 for the m-th when the
// merge was split at MAX_OBJECT_BYTES. The numbers have three digits at
// least, so keys sort in the order written: the window's object, its split
// objects, then the late objects ('.' sorts before '_', digits before 'l').
type WindowKey struct {
	// Dir is the key template's folders of the window ("" by default; e.g.
	// "dt=2026-12-02/hour=10/"), before the file name.
	Dir         string
	Window      int64 // Unix ms
	Late        int
	Split       int
	Ext         string // the encoder's extension, e.g. ".ndjson"
	Compression encoders.Compression
}

// Name is the merge's name inside the exporter's folder: "<window s>" or
// "<window s>_late-<NNN>".
func (k WindowKey) Name() string {
	s := strconv.FormatInt(k.Window/1000, 10)
	if k.Late > 0 {
		s += fmt.Sprintf("_late-%03d", k.Late)
	}
	return s
}

// FinalKey is the key of the final object k names.
func FinalKey(k WindowKey) string {
	s := k.Dir + keyName + k.Name()
	if k.Split > 1 {
		s += fmt.Sprintf("_%03d", k.Split)
	}
	return s + k.Ext + k.Compression.Extension()
}

// ParseWindowKey reads a key written by FinalKey.
func ParseWindowKey(key string) (WindowKey, bool) {
	var k WindowKey
	if IsInternalKey(key) {
		return k, false
	}
	slash := strings.LastIndexByte(key, '/')
	k.Dir = key[:slash+1]
	rest, ok := strings.CutPrefix(key[slash+1:], keyName)
	if !ok || strings.Contains(rest, "/") {
		return k, false
	}
	dot := strings.IndexByte(rest, '.')
	if dot <= 0 {
		return k, false
	}
	name, ext := rest[:dot], rest[dot:]
	ws, tail, _ := strings.Cut(name, "_")
	sec, err := strconv.ParseInt(ws, 10, 64)
	if err != nil || sec < 0 {
		return k, false
	}
	k.Window, k.Split = sec*1000, 1
	if tail != "" {
		if lt, ok := strings.CutPrefix(tail, "late-"); ok {
			n, more, _ := strings.Cut(lt, "_")
			if k.Late, err = strconv.Atoi(n); err != nil || k.Late < 1 {
				return k, false
			}
			tail = more
		}
		if tail != "" {
			if k.Split, err = strconv.Atoi(tail); err != nil || k.Split < 2 {
				return k, false
			}
		}
	}
	k.Compression = CompressionOf(ext)
	k.Ext = strings.TrimSuffix(ext, k.Compression.Extension())
	if k.Ext == "" || k.Ext == "." {
		return k, false
	}
	return k, true
}

// progressKey is the progress marker of a partition.
func progressKey(topic string, partition int) string {
	return progressDir + topic + "-" + strconv.Itoa(partition)
}
