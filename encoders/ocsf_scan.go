package encoders

// The hot path of reading a hit: members of an object and string contents,
// in one pass over the bytes, without callbacks into encoding/json. Each
// function here gives up ("not done", ok false) on anything it does not
// expect, and the caller then does what it did before with internal/jsonscan,
// so the result is the same whatever the input.

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/hitexport/hitexport/internal/jsonscan"
)

// ocsfEachMember is jsonscan.EachMember on a well-formed object: it calls fn
// with each member's key (unescaped) and raw value and reports true. On
// anything else (not an object, a malformed one) it reports false, possibly
// after some calls of fn: the caller then undoes them and asks
// jsonscan.EachMember.
func ocsfEachMember(raw []byte, fn func(key, val []byte)) bool {
	i := jsonscan.SkipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	i = jsonscan.SkipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return true
	}
	for i < len(raw) && raw[i] == '"' {
		end, esc := jsonscan.SkipStringEsc(raw, i)
		if end < 0 {
			return false
		}
		var key []byte
		if esc {
			key, _ = jsonscan.Unquote(raw[i:end])
		} else {
			key = raw[i+1 : end-1]
		}
		i = jsonscan.SkipSpace(raw, end)
		if i >= len(raw) || raw[i] != ':' {
			return false
		}
		i = jsonscan.SkipSpace(raw, i+1)
		vend := jsonscan.SkipValue(raw, i)
		if vend < 0 {
			return false
		}
		fn(key, raw[i:vend])
		i = jsonscan.SkipSpace(raw, vend)
		if i < len(raw) && raw[i] == ',' {
			i = jsonscan.SkipSpace(raw, i+1)
			continue
		}
		return i < len(raw) && raw[i] == '}'
	}
	return false
}

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
