package pipeline

import (
	"strconv"
	"strings"
	"time"

	"github.com/hitexport/hitexport/encoders"
)

// ObjectKey is what an object's key says. The key is, relative to the
// bucket's key prefix (added by store.WithPrefix):
//
//	[rejected/]hitlogs-<window start, Unix s>-<topic>-<partition>-<first offset><ext><compression ext>
//
// e.g. hitlogs-1687241400-hits-3-42.ndjson.zst or
// rejected/hitlogs-1687241400-hits-3-7.rejected.ndjson.gz. Rejected objects
// take the window of their first record's Kafka time. This file is the only
// place that knows the shape of keys.
type ObjectKey struct {
	// Kind is KindRejected for keys under rejected/; ParseKey gives KindHits
	// for every other key (a late object's key looks like an on-time one).
	Kind Kind
	// Window is the window start, Unix ms (whole seconds in the key).
	Window    int64
	Topic     string
	Partition int
	First     int64
	// Ext is the encoder's extension, e.g. ".ndjson", ".ocsf.json",
	// ".rejected.ndjson".
	Ext         string
	Compression encoders.Compression
}

const (
	keyName        = "hitlogs-"
	keyRejectedDir = "rejected/"
	checkDir       = "hitexport-check/"
)

// Key is the deterministic key of the object k names.
func Key(k ObjectKey) string {
	var b strings.Builder
	if k.Kind == KindRejected {
		b.WriteString(keyRejectedDir)
	}
	b.WriteString(keyName)
	b.WriteString(strconv.FormatInt(k.Window/1000, 10))
	b.WriteByte('-')
	b.WriteString(k.Topic)
	b.WriteByte('-')
	b.WriteString(strconv.Itoa(k.Partition))
	b.WriteByte('-')
	b.WriteString(strconv.FormatInt(k.First, 10))
	b.WriteString(k.Ext)
	b.WriteString(k.Compression.Extension())
	return b.String()
}

// ParseKey reads a key written by Key. The topic is what lies between the
// window start and the last two numbers (partition and first offset), so
// topics with dashes parse; callers compare it with theirs.
func ParseKey(key string) (ObjectKey, bool) {
	var k ObjectKey
	rest, rejected := strings.CutPrefix(key, keyRejectedDir)
	k.Kind = KindHits
	if rejected {
		k.Kind = KindRejected
	}
	rest, ok := strings.CutPrefix(rest, keyName)
	if !ok || strings.Contains(rest, "/") {
		return ObjectKey{}, false
	}
	ws, rest, ok := strings.Cut(rest, "-")
	if !ok {
		return ObjectKey{}, false
	}
	sec, err := strconv.ParseInt(ws, 10, 64)
	if err != nil {
		return ObjectKey{}, false
	}
	k.Window = sec * 1000
	// The first offset is the digits after the last dash; the extension
	// follows it (topics may hold dots, extensions hold no dash or digit).
	i := strings.LastIndexByte(rest, '-')
	if i < 0 {
		return ObjectKey{}, false
	}
	tail := rest[i+1:]
	d := 0
	for d < len(tail) && tail[d] >= '0' && tail[d] <= '9' {
		d++
	}
	if d == 0 || d == len(tail) || tail[d] != '.' {
		return ObjectKey{}, false
	}
	if k.First, err = strconv.ParseInt(tail[:d], 10, 64); err != nil {
		return ObjectKey{}, false
	}
	ext := tail[d:]
	name := rest[:i]
	j := strings.LastIndexByte(name, '-')
	if j <= 0 {
		return ObjectKey{}, false
	}
	if k.Partition, err = strconv.Atoi(name[j+1:]); err != nil || k.Partition < 0 {
		return ObjectKey{}, false
	}
	k.Topic = name[:j]
	k.Compression = CompressionOf(ext)
	k.Ext = strings.TrimSuffix(ext, k.Compression.Extension())
	if k.Ext == "" {
		return ObjectKey{}, false
	}
	return k, true
}

// CompressionOf is the compression a key's (or extension's) suffix names.
func CompressionOf(key string) encoders.Compression {
	for _, c := range []encoders.Compression{encoders.Gzip, encoders.Zstd} {
		if strings.HasSuffix(key, c.Extension()) {
			return c
		}
	}
	return encoders.None
}

// CheckKey is the key of the test object "check" writes at t:
// hitexport-check/hitlogs-<Unix s>-check<ext>.
func CheckKey(t time.Time, ext string) string {
	return checkDir + keyName + strconv.FormatInt(t.Unix(), 10) + "-check" + ext
}

// IsCheckKey says whether key is a test object of "check".
func IsCheckKey(key string) bool { return strings.Contains(key, checkDir) }
