package integrations

import (
	"bytes"
	"encoding/json"
	"math/big"
	"regexp"
	"testing"
	"unicode/utf8"
)

// refEqual is JSON equality by encoding/json (numbers as exact rationals).
func refEqual(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		rx, ok1 := new(big.Rat).SetString(string(x))
		ry, ok2 := new(big.Rat).SetString(string(y))
		return ok1 && ok2 && rx.Cmp(ry) == 0
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !refEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !refEqual(v, w) {
				return false
			}
		}
		return true
	}
	return false
}

func refDecode(b []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	return v, true
}

// refMatch is the contract's semantics written the slow, obvious way.
func refMatch(hit map[string]any, field string, want any) bool {
	v, ok := hit[field]
	if !ok {
		return want == nil
	}
	if refEqual(v, want) {
		return true
	}
	if arr, ok := v.([]any); ok {
		for _, e := range arr {
			if refEqual(e, want) {
				return true
			}
		}
	}
	return false
}

// Numbers beyond the matcher's 64 significant digits, or with huge
// exponents (slow for big.Rat), are out of the comparison.
var hugeNumber = regexp.MustCompile(`[0-9]{60,}|[eE][+-]?[0-9]{4,}`)

func FuzzMatch(f *testing.F) {
	f.Add([]byte(`{"a":[1,2],"b":"x"}`), []byte(`2.0`), "a")
	f.Add([]byte(`{"a":"q\\\"uo\\\\","a":null}`), []byte(`null`), "a")
	f.Add([]byte(`{"k\u0061":"\ud83d\ude00","b":{"x":[1,{"y":"\\\\"}]}}`), []byte(`"😀"`), "ka")
	f.Add([]byte(`{"b":{"x":[1,{"y":"\\"}],"z":-0.0e5}}`), []byte(`{"z":0,"x":[1e0,{"y":"\\"}]}`), "b")
	f.Add([]byte(` { "s" : "a\"b" , "n" : 10e-1 } `), []byte(`1`), "n")
	f.Fuzz(func(t *testing.T, hit, val []byte, field string) {
		// Hits are UTF-8 (the decoder checks), match values too (Validate).
		if !json.Valid(hit) || !json.Valid(val) || !utf8.Valid(hit) || !utf8.Valid(val) || hugeNumber.Match(hit) || hugeNumber.Match(val) {
			return
		}
		hv, ok := refDecode(hit)
		if !ok {
			return
		}
		obj, isObj := hv.(map[string]any)
		want, _ := refDecode(val)
		m := NewMatcher([]Filter{{Match: map[string][]json.RawMessage{field: {val}}}})
		dst := make([]bool, 1)
		m.Match(hit, dst)
		exp := isObj && refMatch(obj, field, want)
		if dst[0] != exp {
			t.Fatalf("hit %s field %q value %s: matcher %v, reference %v", hit, field, val, dst[0], exp)
		}
	})
}
