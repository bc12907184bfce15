package jsonscan_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/hits"
	"github.com/hitexport/hitexport/internal/jsonscan"
)

// reference is what hits.Decode did before Scan: encoding/json.Valid, then a
// walk over the top-level members (here with EachMember, the reader the OCSF
// mapping uses, so the two halves of the package check each other).
func reference(b []byte, key string) (ok, object bool, tv []byte, n int) {
	if !json.Valid(b) {
		return false, false, nil, 0
	}
	if jsonscan.Kind(b) != '{' {
		return true, false, nil, 0
	}
	jsonscan.EachMember(b, func(k, v []byte) {
		if string(k) == key {
			tv, n = v, n+1
		}
	})
	return true, true, tv, n
}

func checkScan(t *testing.T, b []byte) {
	t.Helper()
	ok, obj, tv, n := jsonscan.Scan(b, "time")
	rok, robj, rtv, rn := reference(b, "time")
	if ok != rok || obj != robj || (ok && obj && (n != rn || !bytes.Equal(tv, rtv))) {
		t.Fatalf("Scan(%q) = %v %v %q %d; encoding/json and EachMember say %v %v %q %d", b, ok, obj, tv, n, rok, robj, rtv, rn)
	}
}

var scanCases = []string{
	``, ` `, `{}`, `[]`, `{ }`, `[ ]`, `{"time":"1"}`, ` {"time" : 1 } `, `{"time":1,"time":2}`, `{"a":{"time":1}}`,
	`[{"time":1}]`, `{"time":{"x":[1,2,{"time":3}]},"y":null}`, `{"t\u0069me":"5"}`, `{"time":}`, `{"time":1,}`,
	`{,"time":1}`, `{"time" 1}`, `{"time":1 "a":2}`, `{"a":[1,2,]}`, `{"a":[,1]}`, `[1,2`, `{"a":1`, `{"a":1}}`,
	`{"a":1}x`, `"str"`, `"bad \x escape"`, `"\u12"`, `"\u12g4"`, `"\uABCD"`, "\"ctl \x01\"", "\"tab \t\"", `"\/\b\f\n\r\t\"\\"`,
	`0`, `-0`, `01`, `-`, `1.`, `.5`, `1.5`, `1e5`, `1E+5`, `1e-5`, `1e`, `1e+`, `-01`, `1.5e3.2`, `2.`, `-1.0e-10`,
	`true`, `false`, `null`, `tru`, `truex`, `nul`, `NULL`, `True`, `[true,false,null]`, `{"a":true}`, "{\n\"time\":\"1\"\r\n}",
	"\t[1]\n", `{"a" : "b" , "time" : "1687241470" }`, `{"":1}`, `{"time":"1","time":"1"}`, `{"tim":1,"timee":2}`,
	"\xff", `{"a":"` + "\xff\xfe" + `"}`, `[[[[[[]]]]]]`, `{"a":[{"b":[{"c":{}}]}]}`, `[1 2]`, `{"a":1 , }`, `+1`, `1_000`,
}

func TestScanMatchesEncodingJSON(t *testing.T) {
	for _, c := range scanCases {
		checkScan(t, []byte(c))
	}
	checkScan(t, hits.Sample)
	for _, r := range gen.Generate(gen.Options{Seed: 3, Count: 3000, Start: time.Unix(1_700_000_000, 0), Span: time.Hour, BadFraction: 0.2}) {
		checkScan(t, r.Value)
	}
	// Every special byte (and a non-ASCII one) at every position of the
	// 8-byte words of a string, with plain bytes before and after: the
	// word-at-a-time scan must stop exactly there.
	for _, sp := range []string{`"`, `\\`, `\"`, `\u0041`, `\x`, "\x00", "\x1f", "\x7f", "\x80", "é", " "} {
		for pre := 0; pre < 20; pre++ {
			for post := 0; post < 10; post++ {
				s := strings.Repeat("a", pre) + sp + strings.Repeat("b", post)
				checkScan(t, []byte(`{"time":"1","k`+s+`":"`+s+`"}`))
				checkScan(t, []byte(`["`+s+`"]`))
			}
		}
	}
	// Nesting at encoding/json's limit and one past it.
	for _, d := range []int{jsonscan.MaxDepth - 1, jsonscan.MaxDepth, jsonscan.MaxDepth + 1} {
		checkScan(t, []byte(strings.Repeat("[", d)+strings.Repeat("]", d)))
		checkScan(t, []byte(`{"time":1,"a":`+strings.Repeat("[", d-1)+strings.Repeat("]", d-1)+`}`))
	}
}

// FuzzScan: Scan agrees with encoding/json.Valid and EachMember on any input.
//
//	go test ./internal/jsonscan -run x -fuzz FuzzScan -fuzztime 60s
func FuzzScan(f *testing.F) {
	for _, c := range scanCases {
		f.Add([]byte(c))
	}
	f.Add(hits.Sample)
	for _, r := range gen.Generate(gen.Options{Seed: 4, Count: 50, Start: time.Unix(1_700_000_000, 0), Span: time.Hour, BadFraction: 0.3}) {
		f.Add(r.Value)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkScan(t, b) })
}

// PlainASCII stops at the first quote, backslash, control or non-ASCII byte,
// wherever it falls in an 8-byte word.
func TestPlainASCII(t *testing.T) {
	slow := func(s string) int {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
				return i
			}
		}
		return len(s)
	}
	for _, sp := range []string{`"`, `\`, "\x00", "\x1f", "\x7f", "\x80", "é", "\xff", " ", "~"} {
		for pre := 0; pre < 20; pre++ {
			for post := 0; post < 10; post++ {
				s := strings.Repeat("a", pre) + sp + strings.Repeat("b", post)
				if got, want := jsonscan.PlainASCII(s), slow(s); got != want {
					t.Fatalf("PlainASCII(%q) = %d, want %d", s, got, want)
				}
			}
		}
	}
}

func FuzzPlainASCII(f *testing.F) {
	f.Add("abc\"def")
	f.Fuzz(func(t *testing.T, s string) {
		n := jsonscan.PlainASCII(s)
		for i := 0; i < n; i++ {
			if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
				t.Fatalf("byte %d of %q is not plain", i, s)
			}
		}
		if n < len(s) {
			if c := s[n]; c >= 0x20 && c < 0x80 && c != '"' && c != '\\' {
				t.Fatalf("stopped at plain byte %d of %q", n, s)
			}
		}
	})
}
