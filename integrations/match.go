package integrations

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"sort"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// Matcher evaluates the filters of many integrations on one hit with one
// scan of the record: it extracts the top-level fields any filter uses,
// turns each value into a canonical key once, and looks the keys up in
// per-field tables that say which filters accept them.
//
// Semantics (the contract's): a hit matches a filter when, for every field
// of the filter's match, the hit's top-level value equals one of the listed
// JSON values. JSON equality: numbers compare by their exact decimal value
// (1 == 1.0 == 1e0, no float rounding), strings after unescaping ("\u0061"
// == "a"), objects by their members regardless of order, no number↔string
// coercion (numbers: up to 64 significant digits, beyond which digits
// are ignored). A listed null matches a JSON null or a missing field. For an
// array-valued hit field, the filter matches when any element equals one of
// the listed values (or the whole array equals a listed array). An empty
// match selects every hit. Matcher ignores Filter.Topic: build one Matcher
// per topic from the filters of that topic.
//
// A Matcher is immutable after NewMatcher and safe for concurrent use.
type Matcher struct {
	n      int            // filters
	words  int            // bitset words
	fields []matchField   // fields any filter uses
	index  map[string]int // field name → index in fields
	always []uint64       // filters with no match fields
	pool   sync.Pool
}

type matchField struct {
	name string
	// accept: canonical key → filters listing that value.
	accept map[string][]uint64
	// free: filters that do not constrain this field.
	free []uint64
	// missing: filters that accept a missing field (they list null).
	missing []uint64
	// composite: some filter lists an array or object value, so hit
	// values of that kind need a canonical key.
	composite bool
}

type scratch struct {
	vals [][]byte // raw value per field (nil: missing)
	seen []bool
	key  []byte
	acc  []uint64
	res  []uint64
}

// NewMatcher compiles filters (their Match; Topic is ignored). Match values
// that are not valid JSON never match.
func NewMatcher(filters []Filter) *Matcher {
	m := &Matcher{n: len(filters), words: (len(filters) + 63) / 64, index: map[string]int{}}
	m.always = make([]uint64, m.words)
	var key []byte
	for i, f := range filters {
		if len(f.Match) == 0 {
			m.always[i/64] |= 1 << (i % 64)
			continue
		}
		for name, vals := range f.Match {
			fi, ok := m.index[name]
			if !ok {
				fi = len(m.fields)
				m.index[name] = fi
				m.fields = append(m.fields, matchField{name: name, accept: map[string][]uint64{},
					free: make([]uint64, m.words), missing: make([]uint64, m.words)})
			}
			mf := &m.fields[fi]
			for _, v := range vals {
				v = bytes.TrimSpace(v)
				if !json.Valid(v) {
					continue
				}
				if v[0] == '[' || v[0] == '{' {
					mf.composite = true
				}
				key = canonical(key[:0], v)
				set := mf.accept[string(key)]
				if set == nil {
					set = make([]uint64, m.words)
					mf.accept[string(key)] = set
				}
				set[i/64] |= 1 << (i % 64)
				if v[0] == 'n' {
					mf.missing[i/64] |= 1 << (i % 64)
				}
			}
		}
	}
	// free = filters with a match that does not name the field, or with no
	// match at all.
	for fi := range m.fields {
		mf := &m.fields[fi]
		for i, f := range filters {
			if _, ok := f.Match[mf.name]; !ok {
				mf.free[i/64] |= 1 << (i % 64)
			}
		}
	}
	m.pool.New = func() any {
		return &scratch{vals: make([][]byte, len(m.fields)), seen: make([]bool, len(m.fields)),
			acc: make([]uint64, m.words), res: make([]uint64, m.words)}
	}
	return m
}

// Len is the number of filters.
func (m *Matcher) Len() int { return m.n }

// Fields returns the names of the top-level fields the filters use.
func (m *Matcher) Fields() []string {
	out := make([]string, len(m.fields))
	for i, f := range m.fields {
		out[i] = f.name
	}
	return out
}

// Match sets dst[i] to whether raw (one valid JSON object, as the decoder
// accepted it) matches filter i; dst must have at least Len() elements.
// Input that is not a JSON object matches only the filters without match
// fields.
func (m *Matcher) Match(raw []byte, dst []bool) {
	dst = dst[:m.n]
	if len(m.fields) == 0 {
		for i := range dst {
			dst[i] = m.always[i/64]&(1<<(i%64)) != 0
		}
		return
	}
	s := m.pool.Get().(*scratch)
	defer m.pool.Put(s)
	for i := range s.vals {
		s.vals[i], s.seen[i] = nil, false
	}
	ok := m.extract(raw, s)
	res := s.res
	for w := range res {
		res[w] = ^uint64(0)
	}
	if !ok {
		copy(res, m.always)
	} else {
		for fi := range m.fields {
			mf := &m.fields[fi]
			acc := s.acc
			copy(acc, mf.free)
			v := s.vals[fi]
			if !s.seen[fi] {
				orInto(acc, mf.missing)
			} else {
				m.acceptValue(mf, v, s, acc)
			}
			for w := range res {
				res[w] &= acc[w]
			}
		}
	}
	for i := range dst {
		dst[i] = res[i/64]&(1<<(i%64)) != 0
	}
}

// acceptValue ORs into acc the filters that accept the hit value v.
func (m *Matcher) acceptValue(mf *matchField, v []byte, s *scratch, acc []uint64) {
	switch v[0] {
	case '[':
		if mf.composite {
			s.key = canonical(s.key[:0], v)
			orInto(acc, mf.accept[string(s.key)])
		}
		i := skipWS(v, 1)
		if v[i] == ']' {
			return
		}
		for {
			end := skipValue(v, i)
			e := v[i:end]
			if e[0] != '[' && e[0] != '{' || mf.composite {
				s.key = canonical(s.key[:0], e)
				orInto(acc, mf.accept[string(s.key)])
			}
			i = skipWS(v, end)
			if v[i] != ',' {
				return
			}
			i = skipWS(v, i+1)
		}
	case '{':
		if !mf.composite {
			return
		}
		fallthrough
	default:
		s.key = canonical(s.key[:0], v)
		orInto(acc, mf.accept[string(s.key)])
	}
}

func orInto(dst, src []uint64) {
	if src == nil {
		return
	}
	for w := range dst {
		dst[w] |= src[w]
	}
}

// extract records in s the raw value of each used top-level field (the last
// one when a name repeats). It reports false when raw is not an object.
func (m *Matcher) extract(raw []byte, s *scratch) bool {
	i := skipWS(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	i = skipWS(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return true
	}
	for i < len(raw) && raw[i] == '"' {
		kend := skipString(raw, i)
		name := raw[i+1 : kend-1]
		var fi int
		var used bool
		if bytes.IndexByte(name, '\\') < 0 {
			fi, used = m.index[string(name)]
		} else {
			var buf [64]byte
			un := unescape(buf[:0], name)
			fi, used = m.index[string(un)]
		}
		i = skipWS(raw, kend)
		i = skipWS(raw, i+1) // ':'
		end := skipValue(raw, i)
		if used {
			s.vals[fi], s.seen[fi] = raw[i:end], true
		}
		i = skipWS(raw, end)
		if i >= len(raw) || raw[i] != ',' {
			break
		}
		i = skipWS(raw, i+1)
	}
	return true
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string at b[i] == '"'. It jumps
// from quote to quote (bytes.IndexByte) and counts the backslashes before
// each: an odd number escapes it.
func skipString(b []byte, i int) int {
	i++
	for {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b)
		}
		q := i + j
		k := q - 1
		for k >= i && b[k] == '\\' {
			k--
		}
		if (q-1-k)%2 == 0 {
			return q + 1
		}
		i = q + 1
	}
}

// skipValue returns the index after the (valid) JSON value at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	default: // number, true, false, null
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return len(b)
	}
}

// canonical appends the canonical key of the valid JSON value v: a kind
// byte and a normal form, equal for equal JSON values.
//
//	null "z", true "t", false "f", string 's'+unescaped bytes,
//	number 'n'+normal decimal form, array 'a'+length-prefixed element
//	keys, object 'o'+length-prefixed (name, value key) pairs sorted by
//	name (the last of repeated names).
func canonical(dst, v []byte) []byte {
	v = bytes.TrimSpace(v)
	switch v[0] {
	case 'n':
		return append(dst, 'z')
	case 't':
		return append(dst, 't')
	case 'f':
		return append(dst, 'f')
	case '"':
		dst = append(dst, 's')
		return unescape(dst, v[1:len(v)-1])
	case '[':
		dst = append(dst, 'a')
		i := skipWS(v, 1)
		if v[i] == ']' {
			return dst
		}
		var elem []byte
		for {
			end := skipValue(v, i)
			elem = canonical(elem[:0], v[i:end])
			dst = binary.AppendUvarint(dst, uint64(len(elem)))
			dst = append(dst, elem...)
			i = skipWS(v, end)
			if v[i] != ',' {
				return dst
			}
			i = skipWS(v, i+1)
		}
	case '{':
		type member struct{ name, val []byte }
		var ms []member
		i := skipWS(v, 1)
		for i < len(v) && v[i] == '"' {
			kend := skipString(v, i)
			name := unescape(nil, v[i+1:kend-1])
			i = skipWS(v, skipWS(v, kend)+1)
			end := skipValue(v, i)
			ms = append(ms, member{name, canonical(nil, v[i:end])})
			i = skipWS(v, end)
			if i >= len(v) || v[i] != ',' {
				break
			}
			i = skipWS(v, i+1)
		}
		// Sort by name, keeping the last of repeated names (stable sort,
		// then keep each name's last entry).
		sort.SliceStable(ms, func(a, b int) bool { return bytes.Compare(ms[a].name, ms[b].name) < 0 })
		dst = append(dst, 'o')
		for k, mb := range ms {
			if k+1 < len(ms) && bytes.Equal(ms[k+1].name, mb.name) {
				continue
			}
			dst = binary.AppendUvarint(dst, uint64(len(mb.name)))
			dst = append(dst, mb.name...)
			dst = binary.AppendUvarint(dst, uint64(len(mb.val)))
			dst = append(dst, mb.val...)
		}
		return dst
	default:
		return appendNumber(append(dst, 'n'), v)
	}
}

// appendNumber appends the normal form of the JSON number v: "0" for zero,
// otherwise an optional '-', the significant digits without leading or
// trailing zeros, 'e' and the exponent E such that v = 0.digits × 10^E.
func appendNumber(dst, v []byte) []byte {
	neg := false
	i := 0
	if v[0] == '-' {
		neg, i = true, 1
	}
	var digits [64]byte
	nd := 0
	exp := 0 // position of the decimal point relative to the digits kept
	lead := true
	for ; i < len(v) && isDigit(v[i]); i++ {
		if lead && v[i] == '0' {
			continue
		}
		lead = false
		if nd < len(digits) { // beyond 64 significant digits, the rest only scales
			digits[nd] = v[i]
			nd++
		}
		exp++
	}
	if i < len(v) && v[i] == '.' {
		for i++; i < len(v) && isDigit(v[i]); i++ {
			if lead && v[i] == '0' {
				exp--
				continue
			}
			lead = false
			if nd < len(digits) {
				digits[nd] = v[i]
				nd++
			}
		}
	}
	if i < len(v) && (v[i] == 'e' || v[i] == 'E') {
		i++
		eneg := false
		if v[i] == '+' || v[i] == '-' {
			eneg = v[i] == '-'
			i++
		}
		e := 0
		for ; i < len(v) && isDigit(v[i]); i++ {
			if e < 1<<30 {
				e = e*10 + int(v[i]-'0')
			}
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	for nd > 0 && digits[nd-1] == '0' {
		nd--
	}
	if nd == 0 {
		return append(dst, '0')
	}
	if neg {
		dst = append(dst, '-')
	}
	dst = append(dst, digits[:nd]...)
	dst = append(dst, 'e')
	return strconv.AppendInt(dst, int64(exp), 10)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// unescape appends the bytes the JSON string body s (without quotes)
// stands for. Invalid or lone surrogates become U+FFFD, as encoding/json
// decodes them.
func unescape(dst, s []byte) []byte {
	for len(s) > 0 {
		j := bytes.IndexByte(s, '\\')
		if j < 0 {
			return append(dst, s...)
		}
		dst = append(dst, s[:j]...)
		s = s[j:]
		if len(s) < 2 {
			return dst
		}
		switch c := s[1]; c {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(s[2:])
			if !ok {
				return dst
			}
			s = s[6:]
			if utf16.IsSurrogate(r) {
				if len(s) >= 6 && s[0] == '\\' && s[1] == 'u' {
					if r2, ok := hex4(s[2:]); ok {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							dst = utf8.AppendRune(dst, dec)
							s = s[6:]
							continue
						}
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // " \ /
			dst = append(dst, c)
		}
		s = s[2:]
	}
	return dst
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// Equal reports whether the JSON values a and b are equal under the
// filter's semantics (canonical keys equal).
func Equal(a, b json.RawMessage) bool {
	if !json.Valid(a) || !json.Valid(b) {
		return false
	}
	return bytes.Equal(canonical(nil, a), canonical(nil, b))
}
