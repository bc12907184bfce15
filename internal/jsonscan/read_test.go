package jsonscan_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hitexport/hitexport/internal/jsonscan"
)

func TestKind(t *testing.T) {
	for raw, want := range map[string]byte{
		` "a"`: '"', `{}`: '{', "\n[1]": '[', `true`: 't', `false`: 'f', `null`: 'n',
		`-1`: '0', `7`: '0', ``: 0, `  `: 0, `x`: 0,
	} {
		if got := jsonscan.Kind([]byte(raw)); got != want {
			t.Errorf("Kind(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestString(t *testing.T) {
	for raw, want := range map[string]string{
		`"plain"`: "plain", ` "sp" `: "sp", `"a\"b"`: `a"b`, `"\u00e9\n"`: "é\n", `""`: "", `"\x"`: "",
	} {
		if got := jsonscan.String([]byte(raw)); got != want {
			t.Errorf("String(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestEachMemberAndElement(t *testing.T) {
	var keys []string
	var vals []string
	ok := jsonscan.EachMember([]byte(` { "a" : [1, {"b":"]"}] , "k\u0065y":"v\\" ,"n":null} `), func(k, v []byte) {
		keys, vals = append(keys, string(k)), append(vals, string(v))
	})
	if !ok || len(keys) != 3 || keys[0] != "a" || keys[1] != "key" || keys[2] != "n" ||
		vals[0] != `[1, {"b":"]"}]` || vals[1] != `"v\\"` || vals[2] != "null" {
		t.Fatalf("EachMember: %v %q %q", ok, keys, vals)
	}
	if jsonscan.EachMember([]byte(`[1]`), func(k, v []byte) { t.Fatal("called") }) {
		t.Fatal("EachMember accepted an array")
	}
	var els []string
	jsonscan.EachElement([]byte(`[ 1 ,"x,y", {"a":[2]} ,[] ]`), func(el []byte) { els = append(els, string(el)) })
	if len(els) != 4 || els[0] != "1" || els[1] != `"x,y"` || els[2] != `{"a":[2]}` || els[3] != "[]" {
		t.Fatalf("EachElement: %q", els)
	}
}

// FuzzReaders: the readers never panic on any input, and on valid JSON they
// see exactly the members and elements encoding/json sees.
//
//	go test ./internal/jsonscan -run x -fuzz FuzzReaders -fuzztime 60s
func FuzzReaders(f *testing.F) {
	for _, c := range scanCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		jsonscan.Kind(b)
		jsonscan.String(b)
		jsonscan.SkipValue(b, jsonscan.SkipSpace(b, 0))
		members, elements := 0, 0
		obj := jsonscan.EachMember(b, func(k, v []byte) {
			members++
			if json.Valid(b) && !json.Valid(v) {
				t.Fatalf("member value %q of %q is not JSON", v, b)
			}
		})
		jsonscan.EachElement(b, func(el []byte) {
			elements++
			if json.Valid(b) && !json.Valid(el) {
				t.Fatalf("element %q of %q is not JSON", el, b)
			}
		})
		if !json.Valid(b) {
			return
		}
		switch jsonscan.Kind(b) {
		case '{':
			var m []json.RawMessage // count members, duplicates included
			d := json.NewDecoder(bytes.NewReader(b))
			d.Token()
			for d.More() {
				d.Token() // key
				var v json.RawMessage
				if d.Decode(&v) != nil {
					t.Fatal("decode")
				}
				m = append(m, v)
			}
			if !obj || members != len(m) {
				t.Fatalf("EachMember(%q) = %v with %d members, encoding/json sees %d", b, obj, members, len(m))
			}
		case '[':
			var a []json.RawMessage
			if json.Unmarshal(b, &a) != nil || elements != len(a) {
				t.Fatalf("EachElement(%q) saw %d elements, encoding/json %d", b, elements, len(a))
			}
		}
	})
}

// Scan and the readers allocate nothing on strings without escapes.
func TestReadersDoNotAllocate(t *testing.T) {
	obj := []byte(`{"time":"1687241470","a":[1,"x"],"b":{"c":null}}`)
	time, tim := []byte(`"time"`), []byte(`"tim"`)
	n := testing.AllocsPerRun(100, func() {
		members := 0
		jsonscan.EachMember(obj, func(k, v []byte) {
			if s, ok := jsonscan.Unquote(v); ok && len(s) == 0 {
				t.Fatal("empty")
			}
			members++
		})
		if members != 3 || !jsonscan.KeyEquals(time, "time") || jsonscan.KeyEquals(tim, "time") {
			t.Fatal("wrong result")
		}
		if ok, _, tv, _ := jsonscan.Scan(obj, "time"); !ok || len(tv) == 0 {
			t.Fatal("Scan")
		}
	})
	if n != 0 {
		t.Fatalf("%v allocations per run", n)
	}
}

// StringView reads what String reads; without escapes it shares raw's bytes.
func TestStringView(t *testing.T) {
	for _, c := range []string{`"abc"`, `""`, ` "x y" `, `"a\"b"`, `"\u00e9t\u00e9"`, `1`, `null`, `"é"`} {
		if got, want := jsonscan.StringView([]byte(c)), jsonscan.String([]byte(c)); got != want {
			t.Errorf("StringView(%s) = %q, String %q", c, got, want)
		}
	}
	raw := []byte(`"shared"`)
	v := jsonscan.StringView(raw)
	raw[1] = 'S'
	if v != "Shared" {
		t.Errorf("without escapes the view shares the bytes: %q", v)
	}
}

// skipStringRef is the plain byte-at-a-time definition SkipStringEsc must
// agree with: the index after the first quote not escaped by a backslash.
func skipStringRef(b []byte, i int) (int, bool) {
	esc := false
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			esc = true
			j++
		case '"':
			return j + 1, esc
		}
	}
	return -1, esc
}

// SkipStringEsc reads eight bytes at a time: quotes and backslashes at every
// position of a word, words cut by the end of the input, escaped quotes,
// runs of backslashes and a trailing backslash all end where the plain
// definition ends.
func TestSkipStringEsc(t *testing.T) {
	bodies := []string{"", "a", `\"`, `\\`, `\\\"`, `abc\"def`, `\\\\"`, `x\`, `\`, `é\u00e9`}
	for _, body := range bodies {
		for pad := 0; pad <= 17; pad++ {
			for tail := 0; tail <= 9; tail++ {
				for _, closed := range []bool{true, false} {
					s := `"` + strings.Repeat("p", pad) + body + strings.Repeat("q", tail)
					if closed {
						s += `"` + `,"next"`
					}
					b := []byte(s)
					wantEnd, wantEsc := skipStringRef(b, 0)
					end, esc := jsonscan.SkipStringEsc(b, 0)
					if end != wantEnd || (end >= 0 && esc != wantEsc) {
						t.Fatalf("SkipStringEsc(%q) = %d, %v; want %d, %v", s, end, esc, wantEnd, wantEsc)
					}
					if got := jsonscan.SkipString(b, 0); got != wantEnd {
						t.Fatalf("SkipString(%q) = %d; want %d", s, got, wantEnd)
					}
				}
			}
		}
	}
}

func FuzzSkipStringEsc(f *testing.F) {
	f.Add([]byte(`"abcdefgh\"ijklmnop\\"`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 || b[0] != '"' {
			return
		}
		wantEnd, wantEsc := skipStringRef(b, 0)
		end, esc := jsonscan.SkipStringEsc(b, 0)
		if end != wantEnd || (end >= 0 && esc != wantEsc) {
			t.Fatalf("SkipStringEsc(%q) = %d, %v; want %d, %v", b, end, esc, wantEnd, wantEsc)
		}
	})
}
