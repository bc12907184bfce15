package encoders

// The hot path of reading a hit: members of an object and string contents,
// in one pass over the bytes, without callbacks into encoding/json. Each
// function here gives up ("not done", ok false) on anything it does not
// expect, and the caller then does what it did before with internal/jsonscan,
// so the result is the same whatever the input.

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/hitexport/hitexport/internal/jsonscan"
)

// ocsfStringView is jsonscan.StringView, without its work when raw is a
// string token (as the scanners give it: no surrounding space) without
// escapes.
func ocsfStringView(raw []byte) string {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && bytes.IndexByte(raw[1:len(raw)-1], '\\') < 0 {
		return ocsfView(raw[1 : len(raw)-1])
	}
	return jsonscan.StringView(raw)
}

// ocsfUnescape appends the content of the string token raw (with its quotes)
// decoded as encoding/json decodes it into a string: escapes resolved,
// invalid surrogates and invalid UTF-8 as U+FFFD. ok is false (and b
// unchanged) on anything a valid JSON string does not hold.
func ocsfUnescape(b, raw []byte) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return b, false
	}
	n := len(b)
	s := raw[1 : len(raw)-1]
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 >= len(s) {
				return b[:n], false
			}
			switch s[i+1] {
			case '"', '\\', '/':
				b = append(b, s[i+1])
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r := ocsfHex4(s[i:])
				if r < 0 {
					return b[:n], false
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if dec := utf16.DecodeRune(r, ocsfHex4(s[i:])); dec != utf8.RuneError {
						b = utf8.AppendRune(b, dec)
						i += 6
						continue
					}
					r = utf8.RuneError
				}
				b = utf8.AppendRune(b, r)
				continue
			default:
				return b[:n], false
			}
			i += 2
		case c == '"' || c < 0x20:
			return b[:n], false
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, "\uFFFD"...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
		}
	}
	return b, true
}

// ocsfHex4 reads `\uXXXX` at the start of s; -1 when it is not there.
func ocsfHex4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// ocsfSkipStr returns the index after the string starting at b[i] ('"'), or
// -1 (as jsonscan.SkipStringEsc), and whether its content is plain: only
// printable ASCII without '"' or '\\', so that it is its own decoded text and
// ocsfAppendString would write it as it is between quotes.
func ocsfSkipStr(b []byte, i int) (end int, plain bool) {
	j := i + 1
	for j+8 <= len(b) {
		w := binary.LittleEndian.Uint64(b[j:])
		if m := ocsfSpecials(w); m != 0 {
			j += bits.TrailingZeros64(m) >> 3
			if b[j] == '"' {
				return j + 1, true
			}
			goto slow
		}
		j += 8
	}
	for ; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1, true
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			goto slow
		}
	}
	return -1, false
slow:
	// b[j] is a backslash, a control byte or not ASCII: SkipStringEsc from
	// there (it starts reading at its i+1).
	end, _ = jsonscan.SkipStringEsc(b, j-1)
	return end, false
}

const (
	ocsfLSB = 0x0101010101010101
	ocsfMSB = 0x8080808080808080
)

// ocsfSpecials has the high bit of the first byte of w (read little-endian)
// that is '"', '\\', below 0x20 or not ASCII set (and possibly of bytes
// above it, never below).
func ocsfSpecials(w uint64) uint64 {
	q := w ^ ('"' * ocsfLSB)
	s := w ^ ('\\' * ocsfLSB)
	return (((q - ocsfLSB) &^ q) | ((s - ocsfLSB) &^ s) | ((w - 0x20*ocsfLSB) &^ w) | w) & ocsfMSB
}

// ocsfSkipValue is jsonscan.SkipValue, and for a string whether it is plain
// (ocsfSkipStr).
func ocsfSkipValue(b []byte, i int) (end int, plain bool) {
	if i < len(b) && b[i] == '"' {
		return ocsfSkipStr(b, i)
	}
	return jsonscan.SkipValue(b, i), false
}

// ocsfEachElementP is jsonscan.EachElement that also tells fn whether a
// string element is plain (ocsfSkipStr).
func ocsfEachElementP(raw []byte, fn func(el []byte, plain bool)) {
	i := jsonscan.SkipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return
	}
	i = jsonscan.SkipSpace(raw, i+1)
	for i < len(raw) && raw[i] != ']' {
		end, plain := ocsfSkipValue(raw, i)
		if end <= i { // invalid JSON: no value here (e.g. `[1}]`)
			return
		}
		fn(raw[i:end], plain)
		i = jsonscan.SkipSpace(raw, end)
		if i < len(raw) && raw[i] == ',' {
			i = jsonscan.SkipSpace(raw, i+1)
		}
	}
}

// ocsfSpace: a JSON whitespace byte.
func ocsfSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// ocsfEachMemberP is jsonscan.EachMember on a well-formed object: it calls fn
// with each member's key (unescaped) and raw value, and whether the key (as
// written, so also as decoded) and the value (when a string) are plain
// (ocsfSkipStr), and reports true. On anything else (not an object, a
// malformed one) it reports false, possibly after some calls of fn: the
// caller then undoes them and asks jsonscan.EachMember.
func ocsfEachMemberP(raw []byte, fn func(key, val []byte, keyPlain, valPlain bool)) bool {
	i := jsonscan.SkipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	i = jsonscan.SkipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return true
	}
	for i < len(raw) && raw[i] == '"' {
		end, keyPlain := ocsfSkipStr(raw, i)
		if end < 0 {
			return false
		}
		key := raw[i+1 : end-1]
		if !keyPlain && bytes.IndexByte(key, '\\') >= 0 {
			key, _ = jsonscan.Unquote(raw[i:end])
		}
		i = end
		if i < len(raw) && ocsfSpace(raw[i]) {
			i = jsonscan.SkipSpace(raw, i)
		}
		if i >= len(raw) || raw[i] != ':' {
			return false
		}
		i++
		if i < len(raw) && ocsfSpace(raw[i]) {
			i = jsonscan.SkipSpace(raw, i)
		}
		vend, valPlain := ocsfSkipValue(raw, i)
		if vend < 0 {
			return false
		}
		fn(key, raw[i:vend], keyPlain, valPlain)
		i = vend
		if i < len(raw) && ocsfSpace(raw[i]) {
			i = jsonscan.SkipSpace(raw, i)
		}
		if i < len(raw) && raw[i] == ',' {
			i++
			if i < len(raw) && ocsfSpace(raw[i]) {
				i = jsonscan.SkipSpace(raw, i)
			}
			continue
		}
		return i < len(raw) && raw[i] == '}'
	}
	return false
}

// ocsfPlainText: b is plain text (printable ASCII without '"' or '\\'), for
// short tokens (numbers, literals) where a byte loop is the cheapest.
func ocsfPlainText(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
