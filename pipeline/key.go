package pipeline

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hitexport/hitexport/encoders"
)

// ObjectKey is what an object's key says. The key is, relative to the
// bucket's key prefix (added by store.WithPrefix):
//
//	[rejected/]<dir>hitlogs-<window start, Unix s>-<topic>-<partition>-<first offset><ext><compression ext>
//
// e.g. hitlogs-1687241400-hits-3-42.ndjson.zst,
// dt=2023-06-20/hour=06/hitlogs-1687241400-hits-3-42.ndjson.zst or
// rejected/hitlogs-1687241400-hits-3-7.rejected.ndjson.gz. <dir> is the
// folder part of the key template (KeyTemplate), empty by default. Rejected
// objects take the window of their first record's Kafka time. This file is
// the only place that knows the shape of keys.
type ObjectKey struct {
	// Kind is KindRejected for keys under rejected/; ParseKey gives KindHits
	// for every other key (a late object's key looks like an on-time one).
	Kind Kind
	// Dir is the folder part, "" or ending in "/" (after rejected/).
	Dir string
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

// DefaultKeyTemplate is the key template of today's flat keys.
const DefaultKeyTemplate = "hitlogs-{timestamp}{ext}"

// KeyFileName is what the last path element of every key template must be:
// the seed's file name. {timestamp} is the window start (Unix seconds); the
// partition layout adds its unique suffix -<topic>-<partition>-<first
// offset> between it and {ext}, so hitlogs-{timestamp}{ext} becomes
// hitlogs-1687241400-hits-3-42.ndjson.gz.
const KeyFileName = "hitlogs-{timestamp}{ext}"

// Placeholders lists the placeholders of key templates, for messages.
var Placeholders = []string{"{yyyy}", "{mm}", "{dd}", "{hh}", "{integration}", "{timestamp}", "{ext}"}

// KeyTemplate is a parsed key template: folders of placeholders and
// literal text, then the file name KeyFileName. Placeholders: {yyyy},
// {mm}, {dd}, {hh} of the window start in UTC (zero-padded), {integration}
// (the integration's name; "default" in env mode), {timestamp} (the window
// start, Unix seconds) and {ext} (the extension with compression, e.g.
// .ndjson.gz). Hive style:
//
//	dt={yyyy}-{mm}-{dd}/hour={hh}/hitlogs-{timestamp}{ext}
//
// The zero KeyTemplate is DefaultKeyTemplate (no folders).
type KeyTemplate struct {
	src string
	dir []tmplPart // the folder part, ending in "/" (empty: no folders)
}

type tmplPart struct {
	lit string // literal text, or
	ph  string // a placeholder's name (without braces)
}

// KeyTemplateError says what is wrong with a key template; Placeholder is
// the offending placeholder, if that is the problem.
type KeyTemplateError struct {
	Placeholder string
	Msg         string
}

func (e *KeyTemplateError) Error() string { return e.Msg }

// keyLiteralOK says whether c may appear literally in a template: the
// characters S3 documents as safe in keys (letters, digits, ! - _ . * ' ( ))
// plus = (Hive folders) and / (folders).
func keyLiteralOK(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!-_.*'()=/", c) >= 0
}

// ParseKeyTemplate checks a key template: only the placeholders above and
// characters S3 keys allow; folders without empty elements or elements
// starting with "." or "_" (Hive and Spark skip those; the exporter keeps
// them for itself), not under the reserved rejected/ and hitexport-check/;
// and the last path element exactly KeyFileName. An empty template is the
// default.
func ParseKeyTemplate(src string) (KeyTemplate, error) {
	if src == "" {
		src = DefaultKeyTemplate
	}
	bad := func(ph, f string, a ...any) (KeyTemplate, error) {
		return KeyTemplate{}, &KeyTemplateError{Placeholder: ph, Msg: fmt.Sprintf(f, a...)}
	}
	if len(src) > 512 {
		return bad("", "too long (%d characters, at most 512)", len(src))
	}
	// Placeholders first: an unknown one is the likeliest mistake.
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '{':
			j := strings.IndexByte(src[i:], '}')
			if j < 0 {
				return bad("", "unclosed { at character %d", i+1)
			}
			ph := src[i : i+j+1]
			known := false
			for _, p := range Placeholders {
				known = known || p == ph
			}
			if !known {
				return bad(ph, "unknown placeholder %s: accepted %s", ph, strings.Join(Placeholders, " "))
			}
			i += j
		case '}':
			return bad("", "} without { at character %d", i+1)
		default:
			if !keyLiteralOK(src[i]) {
				return bad("", "character %q at %d is not allowed in keys: use letters, digits and ! - _ . * ' ( ) = /", src[i], i+1)
			}
		}
	}
	slash := strings.LastIndexByte(src, '/')
	dir, file := src[:slash+1], src[slash+1:]
	if file != KeyFileName {
		return bad("", "the file name (after the last /) must be exactly %s, the seed's file name (got %q)", KeyFileName, file)
	}
	if strings.Contains(dir, "{ext}") {
		return bad("{ext}", "{ext} belongs to the file name only")
	}
	if dir != "" {
		for _, el := range strings.Split(strings.TrimSuffix(dir, "/"), "/") {
			if el == "" || el[0] == '.' || el[0] == '_' {
				return bad("", "folder %q is not allowed: no leading /, no //, no folder starting with . or _ (those are the exporter's own)", el)
			}
		}
		first := dir[:strings.IndexByte(dir, '/')+1]
		if first == keyRejectedDir || first == checkDir {
			return bad("", "the folder %s is the exporter's own", first)
		}
	}
	t := KeyTemplate{src: src}
	for rest := dir; rest != ""; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			t.dir = append(t.dir, tmplPart{lit: rest})
			break
		}
		if i > 0 {
			t.dir = append(t.dir, tmplPart{lit: rest[:i]})
		}
		j := strings.IndexByte(rest, '}')
		t.dir = append(t.dir, tmplPart{ph: rest[i+1 : j]})
		rest = rest[j+1:]
	}
	return t, nil
}

// String is the template's text.
func (t KeyTemplate) String() string {
	if t.src == "" {
		return DefaultKeyTemplate
	}
	return t.src
}

// Dir is the folder part of keys of the window (start, Unix ms) and
// integration: "" for the default template, else ending in "/". An
// integration name's characters that keys do not allow become "-".
func (t KeyTemplate) Dir(window int64, integration string) string {
	if len(t.dir) == 0 {
		return ""
	}
	ws := time.UnixMilli(window).UTC()
	var b strings.Builder
	for _, p := range t.dir {
		switch p.ph {
		case "":
			b.WriteString(p.lit)
		case "yyyy":
			fmt.Fprintf(&b, "%04d", ws.Year())
		case "mm":
			fmt.Fprintf(&b, "%02d", int(ws.Month()))
		case "dd":
			fmt.Fprintf(&b, "%02d", ws.Day())
		case "hh":
			fmt.Fprintf(&b, "%02d", ws.Hour())
		case "timestamp":
			b.WriteString(strconv.FormatInt(window/1000, 10))
		case "integration":
			if integration == "" {
				integration = "default"
			}
			for i := 0; i < len(integration); i++ {
				c := integration[i]
				atStart := b.Len() == 0 || strings.HasSuffix(b.String(), "/")
				if c == '/' || !keyLiteralOK(c) || (atStart && (c == '.' || c == '_')) {
					c = '-'
				}
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}

// ListPrefix is the longest literal beginning of the template's keys (of
// hit objects; rejected objects have rejected/ before it): a listing under
// it sees every object of the template.
func (t KeyTemplate) ListPrefix() string {
	if len(t.dir) == 0 {
		return keyName
	}
	return t.dir[0].lit
}

// Key is the deterministic key of the object k names.
func Key(k ObjectKey) string {
	var b strings.Builder
	if k.Kind == KindRejected {
		b.WriteString(keyRejectedDir)
	}
	b.WriteString(k.Dir)
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

// ParseKey reads a key written by Key, whatever the key template: the
// folders are kept in Dir, the window start and the rest are read from the
// file name. The topic is what lies between the window start and the last
// two numbers (partition and first offset), so topics with dashes parse;
// callers compare it with theirs.
func ParseKey(key string) (ObjectKey, bool) {
	var k ObjectKey
	rest, rejected := strings.CutPrefix(key, keyRejectedDir)
	k.Kind = KindHits
	if rejected {
		k.Kind = KindRejected
	}
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		k.Dir, rest = rest[:i+1], rest[i+1:]
		if !dirOK(k.Dir) {
			return ObjectKey{}, false
		}
	}
	rest, ok := strings.CutPrefix(rest, keyName)
	if !ok {
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

// dirOK says whether dir (ending in "/") can be a key's folder part: no
// empty, "." or ".." element, none starting with "." or "_" (Hive and
// Spark skip those: they are left to the exporter's own staging), and not
// under the reserved rejected/ or hitexport-check/.
func dirOK(dir string) bool {
	if strings.HasPrefix(dir, keyRejectedDir) || strings.HasPrefix(dir, checkDir) {
		return false
	}
	for _, el := range strings.Split(strings.TrimSuffix(dir, "/"), "/") {
		if el == "" || el[0] == '.' || el[0] == '_' {
			return false
		}
	}
	return true
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
