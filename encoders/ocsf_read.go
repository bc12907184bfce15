package encoders

// Reading raw JSON values of a hit (already checked by json.Valid).

import (
	"bytes"
	"encoding/json"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// ocsfKind classifies a raw JSON value by its first byte: '"', '{', '[', 't', 'f',
// 'n', '0' (number) or 0 (empty / invalid).
func ocsfKind(raw []byte) byte {
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

func ocsfSkipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// ocsfSkipString returns the index after the string starting at b[i] ('"'), or -1.
func ocsfSkipString(b []byte, i int) int {
	for j := i + 1; ; {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return -1
		}
		j += k
		n := 0
		for p := j - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return j + 1
		}
		j++
	}
}

// ocsfSkipValue returns the index after the value starting at b[i], or -1.
func ocsfSkipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return ocsfSkipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				k := ocsfSkipString(b, j)
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

// ocsfEachMember calls fn with the (unescaped) key and the raw value of each
// member of the object raw; false when raw is not an object.
func ocsfEachMember(raw []byte, fn func(key, val []byte)) bool {
	i := ocsfSkipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	i = ocsfSkipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return true
	}
	for i < len(raw) && raw[i] == '"' {
		end := ocsfSkipString(raw, i)
		if end < 0 {
			return false
		}
		key := raw[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			key = []byte(ocsfString(raw[i:end]))
		}
		i = ocsfSkipSpace(raw, end)
		if i >= len(raw) || raw[i] != ':' {
			return false
		}
		i = ocsfSkipSpace(raw, i+1)
		vend := ocsfSkipValue(raw, i)
		if vend < 0 {
			return false
		}
		fn(key, raw[i:vend])
		i = ocsfSkipSpace(raw, vend)
		if i < len(raw) && raw[i] == ',' {
			i = ocsfSkipSpace(raw, i+1)
			continue
		}
		return i < len(raw) && raw[i] == '}'
	}
	return false
}

// ocsfEachElement calls fn with each raw element of the array raw.
func ocsfEachElement(raw []byte, fn func(el []byte)) {
	i := ocsfSkipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return
	}
	i = ocsfSkipSpace(raw, i+1)
	for i < len(raw) && raw[i] != ']' {
		end := ocsfSkipValue(raw, i)
		if end < 0 {
			return
		}
		fn(raw[i:end])
		i = ocsfSkipSpace(raw, end)
		if i < len(raw) && raw[i] == ',' {
			i = ocsfSkipSpace(raw, i+1)
		}
	}
}

// ocsfString decodes a raw JSON string (ocsfKind '"').
func ocsfString(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) >= 2 && bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

func ocsfNonEmptyString(raw []byte) (string, bool) {
	if ocsfKind(raw) != '"' {
		return "", false
	}
	s := ocsfString(raw)
	return s, s != ""
}

// ocsfTextOf is a raw value as text: a string's content, else compact JSON.
func ocsfTextOf(raw []byte) string {
	if ocsfKind(raw) == '"' {
		return ocsfString(raw)
	}
	return ocsfCompactText(raw)
}

func ocsfCompactText(raw []byte) string {
	return string(ocsfAppendCompact(nil, raw))
}

// ocsfValidIP accepts what OCSF's ip_t accepts and Go can parse: IPv4 and IPv6
// (with an optional zone), at most 40 characters.
func ocsfValidIP(s string) bool {
	if len(s) > 40 {
		return false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	return !a.Is4() || !strings.Contains(s, "%")
}

// ocsfHTTPVersion recognises "HTTP/1.1", "http/2", "1.0", "HTTP/3.0"... and
// returns the version number as written.
func ocsfHTTPVersion(raw []byte) (string, bool) {
	s, ok := ocsfNonEmptyString(raw)
	if !ok {
		return "", false
	}
	v := s
	if len(v) > 5 && strings.EqualFold(v[:5], "HTTP/") {
		v = v[5:]
	}
	switch v {
	case "0.9", "1.0", "1.1", "2", "2.0", "3", "3.0":
		return v, true
	}
	return "", false
}

// ocsfStatusCode accepts an integral JSON number or a string of digits in 0..999.
func ocsfStatusCode(raw []byte) (int, bool) {
	var s string
	switch ocsfKind(raw) {
	case '0':
		s = string(bytes.TrimSpace(raw))
	case '"':
		s = ocsfString(raw)
	default:
		return 0, false
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n >= 0 && n <= 999 && (ocsfKind(raw) == '0' || s == strconv.Itoa(n)) {
			return n, true
		}
		return 0, false
	}
	if ocsfKind(raw) != '0' {
		return 0, false
	}
	fl, err := strconv.ParseFloat(s, 64)
	if err != nil || fl != math.Trunc(fl) || fl < 0 || fl > 999 {
		return 0, false
	}
	return int(fl), true
}
