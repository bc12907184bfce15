// Package jsonscan reads raw JSON bytes without decoding them into Go values.
// It has two halves:
//
//   - Scan validates one JSON value exactly as encoding/json.Valid does and, in
//     the same pass, finds a top-level member (hits.Decode uses it on every
//     record; Number checks a number's syntax).
//   - Kind, String, EachMember, EachElement, SkipValue read values already known
//     to be valid JSON (the OCSF mapping walks a hit with them).
//
// Both work on the bytes as given: no reflection, no allocation on the common
// paths.
package jsonscan

import (
	"encoding/binary"
	"math/bits"
)

// Scan validates b as one JSON value exactly as encoding/json.Valid does
// (RFC 8259 grammar, JSON whitespace only, at most maxDepth nested arrays and
// objects; bytes inside strings are not checked for UTF-8, Decode does that
// first) and, in the same pass, finds the members of the top-level object
// whose name is key: tv is the value of the last one (without surrounding
// whitespace), n how many there are. object reports whether the value is an
// object. It replaces json.Valid followed by a second walk over the members:
// one pass over the bytes instead of two, and no per-byte state function
// calls (FuzzScan checks it against encoding/json and EachMember).
func Scan(b []byte, key string) (ok, object bool, tv []byte, n int) {
	var stackBuf [32]byte
	stack := stackBuf[:0] // '{' or '[' per open container
	i := SkipSpace(b, 0)
	object = i < len(b) && b[i] == '{'
	pending, start := false, 0 // a top-level key member's value is being read from start
	for {
		// A value starts at b[i] (after optional whitespace).
		i = SkipSpace(b, i)
		if i >= len(b) {
			return false, false, nil, 0
		}
		switch c := b[i]; c {
		case '{', '[':
			if len(stack) >= MaxDepth {
				return false, false, nil, 0
			}
			stack = append(stack, c)
			i = SkipSpace(b, i+1)
			if i < len(b) && b[i] == c+2 { // '}' or ']'
				stack = stack[:len(stack)-1]
				i++
				break
			}
			if c == '{' {
				var isKey, mok bool
				if i, isKey, mok = scanMember(b, i, key, len(stack) == 1); !mok {
					return false, false, nil, 0
				}
				if isKey {
					pending, start = true, SkipSpace(b, i)
				}
			}
			continue
		case '"':
			if i, _ = scanString(b, i); i < 0 {
				return false, false, nil, 0
			}
		case 't':
			if i = scanLiteral(b, i, "true"); i < 0 {
				return false, false, nil, 0
			}
		case 'f':
			if i = scanLiteral(b, i, "false"); i < 0 {
				return false, false, nil, 0
			}
		case 'n':
			if i = scanLiteral(b, i, "null"); i < 0 {
				return false, false, nil, 0
			}
		default:
			if i = Number(b, i); i < 0 {
				return false, false, nil, 0
			}
		}
		// A value ended at b[i]: close containers, or go on to the next
		// element or member.
		for {
			if pending && len(stack) == 1 {
				tv, pending = b[start:i], false
				n++
			}
			i = SkipSpace(b, i)
			if len(stack) == 0 {
				if i != len(b) {
					return false, false, nil, 0
				}
				return true, object, tv, n
			}
			if i >= len(b) {
				return false, false, nil, 0
			}
			top := stack[len(stack)-1]
			if b[i] == top+2 {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			if b[i] != ',' {
				return false, false, nil, 0
			}
			i = SkipSpace(b, i+1)
			if top == '{' {
				var isKey, mok bool
				if i, isKey, mok = scanMember(b, i, key, len(stack) == 1); !mok {
					return false, false, nil, 0
				}
				if isKey {
					pending, start = true, SkipSpace(b, i)
				}
			}
			break
		}
	}
}

// MaxDepth is encoding/json's limit of nested arrays and objects.
const MaxDepth = 10000

// scanMember reads `"name" :` at b[i] and returns the index after the colon
// and, when top is set, whether the name is key.
func scanMember(b []byte, i int, key string, top bool) (next int, isKey, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false, false
	}
	end, escaped := scanString(b, i)
	if end < 0 {
		return 0, false, false
	}
	if top {
		if escaped {
			isKey = KeyEquals(b[i:end], key)
		} else {
			isKey = string(b[i+1:end-1]) == key
		}
	}
	j := end
	if j < len(b) && b[j] != ':' {
		j = SkipSpace(b, j)
	}
	if j >= len(b) || b[j] != ':' {
		return 0, false, false
	}
	return j + 1, isKey, true
}

// strPlain marks the bytes a JSON string holds as they are: everything but
// the quote, the backslash and control characters.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// Word-at-a-time string scanning: specials has the high bit of every byte
// of w that ends a run of plain string bytes — '"', '\\' or a control
// character — set, and possibly of bytes above the first such byte (the
// borrow of the subtraction runs upwards), never below it: so the lowest set
// bit, w read little-endian, is exactly the first special byte. Bytes from
// 0x80 up are plain (UTF-8 is checked before Scan).
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

func specials(w uint64) uint64 {
	q := w ^ ('"' * lsb)
	s := w ^ ('\\' * lsb)
	return (((q - lsb) &^ q) | ((s - lsb) &^ s) | ((w - 0x20*lsb) &^ w)) & msb
}

// scanString returns the index after the string starting at b[i] == '"', or
// -1 if it is not a valid JSON string, and whether it holds escapes. Plain
// bytes are skipped eight at a time.
func scanString(b []byte, i int) (int, bool) {
	i++
	escaped := false
	for {
		for i+8 <= len(b) {
			if m := specials(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		for i < len(b) && strPlain[b[i]] {
			i++
		}
		if i >= len(b) {
			return -1, escaped
		}
		switch b[i] {
		case '"':
			return i + 1, escaped
		case '\\':
			escaped = true
			if i+1 >= len(b) {
				return -1, escaped
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return -1, escaped
				}
				i += 6
			default:
				return -1, escaped
			}
		default: // a control character
			return -1, escaped
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func scanLiteral(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// Number returns the index after the JSON number at b[i], or -1:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func Number(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i++
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// KeyEquals compares a quoted JSON string (valid) with key, decoding escapes
// only when there are any.
func KeyEquals(quoted []byte, key string) bool {
	plain, decoded, escaped, ok := unquote(quoted)
	if escaped {
		return decoded == key
	}
	return ok && string(plain) == key
}

// SkipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// PlainASCII returns the length of the longest prefix of s whose bytes a
// JSON string holds as they are and are ASCII: no '"', '\\', control
// character or byte from 0x80 up. It looks at eight bytes at a time (writers
// of JSON strings skip such runs with it).
func PlainASCII(s string) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if m := specials(w) | w&msb; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for i < len(s) && s[i] < 0x80 && strPlain[s[i]] {
		i++
	}
	return i
}
