package encoders

// Reading the values of a hit (raw JSON, already checked by json.Valid) the
// mapping needs as text, IP address, HTTP version or status code.

import (
	"bytes"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/hitexport/hitexport/internal/jsonscan"
)

func ocsfNonEmptyString(raw []byte) (string, bool) {
	if jsonscan.Kind(raw) != '"' {
		return "", false
	}
	s := ocsfStringView(raw)
	return s, s != ""
}

// ocsfTextOf is a raw value as text: a string's content, else compact JSON.
func ocsfTextOf(raw []byte) string {
	if jsonscan.Kind(raw) == '"' {
		return ocsfStringView(raw)
	}
	return ocsfCompactText(raw)
}

func ocsfCompactText(raw []byte) string {
	return string(ocsfAppendCompact(nil, raw))
}

// ocsfValidIP accepts what OCSF's ip_t accepts and Go can parse: IPv4 and IPv6
// (with an optional zone), at most 40 characters.
func ocsfValidIP(s string) bool {
	if ocsfPlainIPv4(s) {
		return true // what netip.ParseAddr accepts, without its work
	}
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
	switch jsonscan.Kind(raw) {
	case '0':
		s = string(bytes.TrimSpace(raw))
	case '"':
		s = ocsfStringView(raw)
	default:
		return 0, false
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n >= 0 && n <= 999 && (jsonscan.Kind(raw) == '0' || s == strconv.Itoa(n)) {
			return n, true
		}
		return 0, false
	}
	if jsonscan.Kind(raw) != '0' {
		return 0, false
	}
	fl, err := strconv.ParseFloat(s, 64)
	if err != nil || fl != math.Trunc(fl) || fl < 0 || fl > 999 {
		return 0, false
	}
	return int(fl), true
}

// ocsfPlainIPv4: s is a dotted-quad IPv4 address in the form netip.ParseAddr
// accepts: four decimal fields of 0..255 without leading zeros. False says
// nothing (ocsfValidIP then asks netip).
func ocsfPlainIPv4(s string) bool {
	fields, v, digits := 0, 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			if digits == 1 && v == 0 {
				return false // a leading zero
			}
			v = v*10 + int(c-'0')
			digits++
			if v > 255 {
				return false
			}
		case c == '.' && digits > 0 && fields < 3:
			fields++
			v, digits = 0, 0
		default:
			return false
		}
	}
	return fields == 3 && digits > 0
}
