package jsonscan

// Readers of values already known to be valid JSON (after Scan or
// encoding/json.Valid). They do not validate: on invalid input they stop early
// or return -1, they never panic.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"unsafe"
)

// Kind classifies a raw JSON value by its first byte: '"', '{', '[', 't', 'f',
// 'n', '0' (number) or 0 (empty / invalid).
func Kind(raw []byte) byte {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '"', '{', '[', 't', 'f', 'n':
			return c
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			return '0'
		default:
			return 0
		}
	}
	return 0
}

// SkipString returns the index after the string starting at b[i] ('"'), or -1.
func SkipString(b []byte, i int) int {
	end, _ := SkipStringEsc(b, i)
	return end
}

// quoteOrBackslash has the high bit of the first byte of w (read
// little-endian) that is '"' or '\\' set (and possibly of bytes above it,
// never below).
func quoteOrBackslash(w uint64) uint64 {
	q := w ^ ('"' * lsb)
	s := w ^ ('\\' * lsb)
	return (((q - lsb) &^ q) | ((s - lsb) &^ s)) & msb
}

// SkipStringEsc returns the index after the string starting at b[i] ('"')
// and whether it holds a backslash; -1 when it does not end. Unlike Scan it
// does not validate the contents: it finds the first unescaped quote,
// eight bytes at a time.
func SkipStringEsc(b []byte, i int) (int, bool) {
	j, esc := i+1, false
	for {
		for j+8 <= len(b) {
			if m := quoteOrBackslash(binary.LittleEndian.Uint64(b[j:])); m != 0 {
				j += bits.TrailingZeros64(m) >> 3
				goto special
			}
			j += 8
		}
		for j < len(b) && b[j] != '"' && b[j] != '\\' {
			j++
		}
		if j >= len(b) {
			return -1, esc
		}
	special:
		if b[j] == '"' {
			return j + 1, esc
		}
		esc = true
		j += 2
	}
}

// SkipValue returns the index after the value starting at b[i], or -1.
func SkipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return SkipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				k := SkipString(b, j)
				if k < 0 {
					return -1
				}
				j = k - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	default:
		for j := i; j < len(b); j++ {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return j
			}
		}
		return len(b)
	}
}

// EachMember calls fn with the (unescaped) key and the raw value of each
// member of the object raw; false when raw is not an object.
func EachMember(raw []byte, fn func(key, val []byte)) bool {
	i := SkipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	i = SkipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return true
	}
	for i < len(raw) && raw[i] == '"' {
		end := SkipString(raw, i)
		if end < 0 {
			return false
		}
		key, _ := Unquote(raw[i:end])
		i = SkipSpace(raw, end)
		if i >= len(raw) || raw[i] != ':' {
			return false
		}
		i = SkipSpace(raw, i+1)
		vend := SkipValue(raw, i)
		if vend < 0 {
			return false
		}
		fn(key, raw[i:vend])
		i = SkipSpace(raw, vend)
		if i < len(raw) && raw[i] == ',' {
			i = SkipSpace(raw, i+1)
			continue
		}
		return i < len(raw) && raw[i] == '}'
	}
	return false
}

// EachElement calls fn with each raw element of the array raw.
func EachElement(raw []byte, fn func(el []byte)) {
	i := SkipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return
	}
	i = SkipSpace(raw, i+1)
	for i < len(raw) && raw[i] != ']' {
		end := SkipValue(raw, i)
		if end <= i { // invalid JSON: no value here (e.g. `[1}]`)
			return
		}
		fn(raw[i:end])
		i = SkipSpace(raw, end)
		if i < len(raw) && raw[i] == ',' {
			i = SkipSpace(raw, i+1)
		}
	}
}

// String decodes a raw JSON string (Kind '"').
func String(raw []byte) string {
	plain, decoded, escaped, ok := unquote(raw)
	switch {
	case !ok:
		return ""
	case escaped:
		return decoded
	default:
		return string(plain)
	}
}

// Unquote returns the content of the JSON string raw (valid JSON, surrounding
// whitespace allowed): the bytes between the quotes, not copied, when there is
// no escape, else the decoded bytes. ok is false when raw is not a string.
func Unquote(raw []byte) (s []byte, ok bool) {
	plain, decoded, escaped, ok := unquote(raw)
	if escaped {
		return []byte(decoded), ok
	}
	return plain, ok
}

// unquote is String, Unquote and KeyEquals in one: a string without escapes
// is its bytes between the quotes (plain, no copy or allocation), one with
// escapes is decoded by encoding/json (decoded, escaped set).
func unquote(raw []byte) (plain []byte, decoded string, escaped, ok bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '"' {
		return nil, "", false, false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw[1 : len(raw)-1], "", false, true
	}
	var s string // not the named result: &decoded would move it to the heap on every call
	if json.Unmarshal(raw, &s) != nil {
		return nil, "", false, false
	}
	return nil, s, true, true
}

// StringView is String without a copy when raw holds no escape: the result
// then shares raw's bytes, so it is only valid while raw is not modified
// (the OCSF mapping uses it for values it writes out before the record is
// done with; a record's value is never modified).
func StringView(raw []byte) string {
	plain, decoded, escaped, ok := unquote(raw)
	switch {
	case !ok:
		return ""
	case escaped:
		return decoded
	case len(plain) == 0:
		return ""
	default:
		return unsafe.String(&plain[0], len(plain))
	}
}
