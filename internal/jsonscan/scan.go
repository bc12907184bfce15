// Package jsonscan reads raw JSON bytes without decoding them into Go values.
// It has two halves:
//
//   - ScanText validates one JSON value exactly as encoding/json.Valid does,
//     and its UTF-8 as utf8.Valid does, and, in the same pass, finds a
//     top-level member (hits.Decode uses it on every record); Scan is the
//     same without the UTF-8 check; Number checks a number's syntax.
//   - Kind, String, EachMember, EachElement, SkipValue read values already known
//     to be valid JSON (the OCSF mapping walks a hit with them).
//
// Both work on the bytes as given: no reflection, no allocation on the common
// paths.
package jsonscan

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
	"unsafe"
)

// Scan validates b as one JSON value exactly as encoding/json.Valid does
// (RFC 8259 grammar, JSON whitespace only, at most maxDepth nested arrays and
// objects; bytes inside strings are not checked for UTF-8: ScanText does
// that) and, in the same pass, finds the members of the top-level object
// whose name is key: tv is the value of the last one (without surrounding
// whitespace), n how many there are. object reports whether the value is an
// object. It replaces json.Valid followed by a second walk over the members:
// one pass over the bytes instead of two, and no per-byte state function
// calls (FuzzScan checks it against encoding/json and EachMember).
func Scan(b []byte, key string) (ok, object bool, tv []byte, n int) {
	t, ok, _ := scan(b, key, false)
	if !ok {
		return false, false, nil, 0
	}
	return true, t.Object, t.Value, t.N
}

// Text is what ScanText finds in its input.
type Text struct {
	// UTF8 is utf8.Valid(b). When it is false the other fields are zero.
	UTF8 bool
	// Valid is encoding/json.Valid(b). When it is false the fields below
	// are zero.
	Valid bool
	// Object reports whether the value is an object.
	Object bool
	// Value is the value of the last top-level member named key, without
	// surrounding whitespace; N is how many such members there are.
	Value []byte
	N     int
	// Start and End bound the value in b without the whitespace around it
	// (b[Start:End] is bytes.TrimSpace(b)).
	Start, End int
	// LineBreaks reports whether b[Start:End] holds a '\n' or '\r'. In
	// valid JSON these can only be whitespace between tokens (a string
	// cannot hold them raw).
	LineBreaks bool
}

// ScanText is Scan and utf8.Valid in one pass over b: outside strings valid
// JSON is ASCII, so only the non-ASCII runs inside strings are checked for
// UTF-8 (when b is not valid JSON, utf8.Valid tells UTF8). It also reports
// where the value lies in b and whether it spans lines, so that a caller
// need not look at b again (FuzzScanText checks it against encoding/json,
// utf8.Valid and EachMember).
func ScanText(b []byte, key string) Text {
	t, ok, badUTF8 := scan(b, key, true)
	if !ok {
		return Text{UTF8: !badUTF8 && utf8.Valid(b)}
	}
	t.UTF8, t.Valid = true, true
	return t
}

// scan is Scan and ScanText. It reads the bytes once, in a state machine
// written as gotos so that the common shapes cost no call: a string is
// skipped eight bytes at a time until a quote ends it, and the byte after a
// token is compared with what the grammar expects before any whitespace is
// skipped. Escapes, non-ASCII bytes (checked for UTF-8 when checkUTF8 is
// set) and strings ending in the last eight bytes go through stringRest.
// badUTF8 is set when a string holds invalid UTF-8 (ok is then false).
func scan(b []byte, key string, checkUTF8 bool) (t Text, ok, badUTF8 bool) {
	var (
		stackBuf [64]byte
		stack    = stackBuf[:] // stack[d] is the container enclosing the one opened at depth d+1
		depth    int           // open containers
		top      byte          // the innermost open container ('{' or '['), 0 at the top level
		i, j     int
		m        uint64
		start    = -1 // a top-level key member's value is being read from b[start]
		esc      bool
		isKey    bool
		keyStart int
		c        byte
	)
	p := unsafe.Pointer(unsafe.SliceData(b))
	i = SkipSpace(b, 0)
	t.Start = i
	t.Object = i < len(b) && b[i] == '{'

value: // a value starts at b[i] (whitespace already skipped)
	if uint(i) >= uint(len(b)) { // (as uint: no bounds check on b[i])
		return Text{}, false, false
	}
	c = b[i]
	if c != '"' {
		goto other
	}
str: // the string value starting at b[i]
	j = i + 1
	for j+8 <= len(b) {
		if m = stops(load64(p, j)); m != 0 {
			j += bits.TrailingZeros64(m) >> 3
			if *(*byte)(unsafe.Add(p, j)) == '"' { // j < len(b): the word held it
				i = j + 1
				goto after
			}
			break
		}
		j += 8
	}
	if i, _, badUTF8 = stringRest(b, j, checkUTF8); i < 0 {
		return Text{}, false, badUTF8
	}
	goto after

other: // any other value
	switch c {
	case '{', '[':
		if depth >= MaxDepth {
			return Text{}, false, false
		}
		if depth == len(stack) {
			stack = append(stack, make([]byte, len(stack))...)
		}
		stack[depth] = top
		depth++
		top = c
		i++
		if i < len(b) && b[i] <= ' ' {
			i = skipSpaceLB(b, i, &t.LineBreaks)
		}
		if i < len(b) && b[i] == c+2 { // '}' or ']'
			depth--
			top = stack[depth]
			i++
			goto after
		}
		if c == '[' {
			goto value
		}
		goto member
	case 't':
		if len(b)-i < 4 || load32(p, i) != litTrue {
			return Text{}, false, false
		}
		i += 4
	case 'f':
		if len(b)-i < 5 || load32(p, i+1) != litAlse {
			return Text{}, false, false
		}
		i += 5
	case 'n':
		if len(b)-i < 4 || load32(p, i) != litNull {
			return Text{}, false, false
		}
		i += 4
	default:
		if i = Number(b, i); i < 0 {
			return Text{}, false, false
		}
	}

after: // a value ended at b[i-1]
	if start >= 0 && depth == 1 {
		t.Value, start = b[start:i], -1
		t.N++
	}
	// The common case first: `,"`, a name or a string element next.
	if i+2 <= len(b) && load16(p, i) == commaQuote {
		i++
		if top == '{' {
			goto name0
		}
		if top == '[' {
			goto str
		}
	}
	if depth == 0 {
		t.End = i
		if SkipSpace(b, i) != len(b) {
			return Text{}, false, false
		}
		return t, true, false
	}
	if i < len(b) && b[i] <= ' ' {
		i = skipSpaceLB(b, i, &t.LineBreaks)
	}
	if uint(i) >= uint(len(b)) {
		return Text{}, false, false
	}
	if c = b[i]; c == ',' {
		i++
		if i < len(b) && b[i] <= ' ' {
			i = skipSpaceLB(b, i, &t.LineBreaks)
		}
		if top == '[' {
			goto value
		}
		goto member
	}
	if c != top+2 { // '}' or ']'
		return Text{}, false, false
	}
	depth--
	top = stack[depth]
	i++
	goto after

member: // `"name" : value` starts at b[i]
	if uint(i) >= uint(len(b)) || b[i] != '"' {
		return Text{}, false, false
	}
name0: // b[i] is the name's opening quote
	keyStart = i
	j = i + 1
	for j+8 <= len(b) {
		if m = stops(load64(p, j)); m != 0 {
			j += bits.TrailingZeros64(m) >> 3
			if *(*byte)(unsafe.Add(p, j)) == '"' { // j < len(b): the word held it
				i, esc = j+1, false
				goto name
			}
			break
		}
		j += 8
	}
	if i, esc, badUTF8 = stringRest(b, j, checkUTF8); i < 0 {
		return Text{}, false, badUTF8
	}
name: // the name is b[keyStart:i]
	isKey = false
	if depth == 1 && i-keyStart == len(key)+2 {
		isKey = string(b[keyStart+1:i-1]) == key
	}
	if depth == 1 && esc {
		isKey = KeyEquals(b[keyStart:i], key)
	}
	// The common case first: `:"`, a string value.
	if i+2 <= len(b) && load16(p, i) == colonQuote {
		i++
		if isKey {
			start = i
		}
		goto str
	}
	if i < len(b) && b[i] <= ' ' {
		i = skipSpaceLB(b, i, &t.LineBreaks)
	}
	if i >= len(b) || b[i] != ':' {
		return Text{}, false, false
	}
	i++
	if i < len(b) && b[i] <= ' ' {
		i = skipSpaceLB(b, i, &t.LineBreaks)
	}
	if isKey {
		start = i
	}
	goto value
}

// load64 and load32 read b[i:i+8] and b[i:i+4], little-endian, from p, the
// start of b, without the bounds checks and slice arithmetic of
// binary.LittleEndian.Uint64(b[i:]) (the caller has checked the length).
func load64(p unsafe.Pointer, i int) uint64 {
	return binary.LittleEndian.Uint64((*[8]byte)(unsafe.Add(p, i))[:])
}

func load16(p unsafe.Pointer, i int) uint16 {
	return binary.LittleEndian.Uint16((*[2]byte)(unsafe.Add(p, i))[:])
}

const (
	commaQuote = ',' | '"'<<8
	colonQuote = ':' | '"'<<8
)

func load32(p unsafe.Pointer, i int) uint32 {
	return binary.LittleEndian.Uint32((*[4]byte)(unsafe.Add(p, i))[:])
}

// MaxDepth is encoding/json's limit of nested arrays and objects.
const MaxDepth = 10000

// The literals read as little-endian words ("alse" is false after its f).
const (
	litTrue = 't' | 'r'<<8 | 'u'<<16 | 'e'<<24
	litAlse = 'a' | 'l'<<8 | 's'<<16 | 'e'<<24
	litNull = 'n' | 'u'<<8 | 'l'<<16 | 'l'<<24
)

// skipSpaceLB is SkipSpace that also sets *lb when it skips a line break.
func skipSpaceLB(b []byte, i int, lb *bool) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t':
		case '\n', '\r':
			*lb = true
		default:
			return i
		}
		i++
	}
	return i
}

// stringRest reads the rest of a string from b[j], every byte before j
// being plain: it returns the index after the closing quote, or -1 if the
// string is not valid JSON (or, with checkUTF8, not valid UTF-8: badUTF8),
// and whether it holds escapes.
func stringRest(b []byte, j int, checkUTF8 bool) (end int, escaped, badUTF8 bool) {
	for {
		for j+8 <= len(b) {
			if m := stops(binary.LittleEndian.Uint64(b[j:])); m != 0 {
				j += bits.TrailingZeros64(m) >> 3
				break
			}
			j += 8
		}
		for j < len(b) && strPlainASCII[b[j]] {
			j++
		}
		if j >= len(b) {
			return -1, escaped, false
		}
		switch c := b[j]; {
		case c == '"':
			return j + 1, escaped, false
		case c == '\\':
			escaped = true
			if j+1 >= len(b) {
				return -1, escaped, false
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(b) || !isHex(b[j+2]) || !isHex(b[j+3]) || !isHex(b[j+4]) || !isHex(b[j+5]) {
					return -1, escaped, false
				}
				j += 6
			default:
				return -1, escaped, false
			}
		case c < 0x20: // a control character
			return -1, escaped, false
		default: // a run of bytes from 0x80 up
			k := j + 1
			for k < len(b) && b[k] >= utf8.RuneSelf {
				k++
			}
			// An ASCII byte always starts a rune, so b is valid UTF-8
			// exactly when each such run is.
			if checkUTF8 && !utf8.Valid(b[j:k]) {
				return -1, escaped, true
			}
			j = k
		}
	}
}

// strPlain marks the bytes a JSON string holds as they are: everything but
// the quote, the backslash and control characters; strPlainASCII the same
// below 0x80.
var strPlain, strPlainASCII = func() (t, a [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
		a[c] = t[c] && c < utf8.RuneSelf
	}
	return t, a
}()

// Word-at-a-time string scanning: stops has the high bit of every byte of
// w (read little-endian) that ends a run of plain ASCII string bytes set —
// '"', '\\', a control character or a byte from 0x80 up — and possibly of
// bytes above the first such byte, never below it: a borrow of the
// subtractions starts only at a byte below 0x20 or equal to '"' or '\\'
// and runs upwards. So the lowest set bit is exactly the first stop. Per
// byte x with no borrow in: x-0x20 has its high bit set when x < 0x20 (or
// x >= 0xa0); (x^'"')-1 when x == '"' or x >= 0x80 except x == 0xa2;
// (x^'\\')-1 when x == '\\' or x >= 0x80 except x == 0xdc; so every byte
// from 0x80 up is caught by one of the last two.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

func stops(w uint64) uint64 {
	return ((w - 0x20*lsb) | ((w ^ '"'*lsb) - lsb) | ((w ^ '\\'*lsb) - lsb)) & msb
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
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
		if m := stops(w); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for i < len(s) && s[i] < 0x80 && strPlain[s[i]] {
		i++
	}
	return i
}
