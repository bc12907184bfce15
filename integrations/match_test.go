package integrations

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/hitexport/hitexport/gen"
)

func filter(match string) Filter {
	var m map[string][]json.RawMessage
	if match != "" {
		if err := json.Unmarshal([]byte(match), &m); err != nil {
			panic(err)
		}
	}
	return Filter{Topic: "hits", Match: m}
}

func matchOne(t *testing.T, match, hit string) bool {
	t.Helper()
	m := NewMatcher([]Filter{filter(match)})
	dst := make([]bool, 1)
	m.Match([]byte(hit), dst)
	return dst[0]
}

func TestMatchSemantics(t *testing.T) {
	hit := `{"time":"1687241470","application_id":[-1, 5],"domain":"localhost","status_code":499,"remote_country":null,` +
		`"tags":{"lom_id":7,"mode":"block"},"point":["uri"],"empty":[],"esc\u0061ped":"x","uni":"caf\u00e9 \ud83d\ude00","flag":true}`
	cases := []struct {
		match string
		want  bool
	}{
		{``, true},
		{`{}`, true},
		// arrays: any element
		{`{"application_id":[5]}`, true},
		{`{"application_id":[-1]}`, true},
		{`{"application_id":[1,2]}`, false},
		{`{"application_id":[[-1,5]]}`, true}, // the whole array
		{`{"application_id":[[5,-1]]}`, false},
		{`{"empty":[1]}`, false},
		{`{"empty":[[]]}`, true},
		// numbers vs strings
		{`{"status_code":[499]}`, true},
		{`{"status_code":["499"]}`, false},
		{`{"status_code":[499.0]}`, true},
		{`{"status_code":[4.99e2]}`, true},
		{`{"status_code":[4990e-1]}`, true},
		{`{"status_code":[498]}`, false},
		{`{"time":[1687241470]}`, false},
		{`{"time":["1687241470"]}`, true},
		{`{"application_id":[5e0]}`, true},
		{`{"application_id":[-1.00]}`, true},
		// strings: exact, after unescaping
		{`{"domain":["localhost"]}`, true},
		{`{"domain":["\u006cocalhost"]}`, true},
		{`{"domain":["LOCALHOST"]}`, false},
		{`{"domain":["localhost "]}`, false},
		{`{"escaped":["x"]}`, true}, // escaped member name
		{`{"uni":["café 😀"]}`, true},
		// null: JSON null or missing
		{`{"remote_country":[null]}`, true},
		{`{"missing":[null]}`, true},
		{`{"missing":["x"]}`, false},
		{`{"domain":[null]}`, false},
		{`{"remote_country":["US", null]}`, true},
		{`{"remote_country":["US"]}`, false},
		// booleans
		{`{"flag":[true]}`, true},
		{`{"flag":[false]}`, false},
		{`{"flag":["true"]}`, false},
		// nested values: canonical JSON, member order ignored
		{`{"tags":[{"mode":"block","lom_id":7}]}`, true},
		{`{"tags":[{"mode":"block","lom_id":7.0}]}`, true},
		{`{"tags":[{"mode":"block"}]}`, false},
		{`{"point":["uri"]}`, true},
		// every field must match
		{`{"application_id":[5],"domain":["localhost"]}`, true},
		{`{"application_id":[5],"domain":["other"]}`, false},
	}
	for _, c := range cases {
		if got := matchOne(t, c.match, hit); got != c.want {
			t.Errorf("match %s: got %v, want %v", c.match, got, c.want)
		}
	}
}

func TestMatchNotObject(t *testing.T) {
	m := NewMatcher([]Filter{filter(``), filter(`{"a":[null]}`)})
	dst := make([]bool, 2)
	m.Match([]byte(`[1,2]`), dst)
	if !dst[0] || dst[1] {
		t.Fatalf("non-object: got %v, want [true false]", dst)
	}
}

func TestMatchDuplicateMemberLastWins(t *testing.T) {
	if !matchOne(t, `{"a":[2]}`, `{"a":1,"a":2}`) || matchOne(t, `{"a":[1]}`, `{"a":1,"a":2}`) {
		t.Fatal("the last of repeated members must count, as in encoding/json")
	}
}

func TestMatchWhitespace(t *testing.T) {
	hit := " {\n \"a\" : [ 1 , 2 ] ,\t\"b\" : \"x\" , \"c\" : { \"k\" : [ 1 ] } } "
	if !matchOne(t, `{"a":[2],"b":["x"],"c":[{"k":[1.0]}]}`, hit) {
		t.Fatal("whitespace around tokens must not matter")
	}
}

func TestEqual(t *testing.T) {
	eq := [][2]string{{`1`, `1.0`}, {`1`, `1e0`}, {`100`, `1e2`}, {`0`, `-0.0`}, {`0.05`, `5e-2`}, {`"\u0061"`, `"a"`},
		{`"\ud83d\ude00"`, `"😀"`}, {`{"a":1,"b":[2]}`, `{"b":[2.0],"a":1}`}, {`null`, ` null `},
		{`123456789012345678901234567890`, `1.23456789012345678901234567890e29`}}
	ne := [][2]string{{`1`, `"1"`}, {`1`, `1.0000000000000000001`}, {`9007199254740993`, `9007199254740992`}, {`[1,2]`, `[2,1]`},
		{`{"a":1}`, `{"a":1,"b":2}`}, {`true`, `"true"`}, {`null`, `"null"`}, {`0`, `false`}, {`-1`, `1`}}
	for _, c := range eq {
		if !Equal(json.RawMessage(c[0]), json.RawMessage(c[1])) {
			t.Errorf("%s and %s must be equal", c[0], c[1])
		}
	}
	for _, c := range ne {
		if Equal(json.RawMessage(c[0]), json.RawMessage(c[1])) {
			t.Errorf("%s and %s must differ", c[0], c[1])
		}
	}
}

// TestMatchManyFilters checks the bitset paths (more than 64 filters) against
// matching each filter on its own.
func TestMatchManyFilters(t *testing.T) {
	var fs []Filter
	for i := 0; i < 150; i++ {
		switch i % 3 {
		case 0:
			fs = append(fs, filter(fmt.Sprintf(`{"application_id":[%d]}`, i%7)))
		case 1:
			fs = append(fs, filter(fmt.Sprintf(`{"application_id":[%d],"method":["GET"]}`, i%7)))
		default:
			fs = append(fs, filter(`{"remote_country":[null,"US"]}`))
		}
	}
	fs = append(fs, filter(``))
	m := NewMatcher(fs)
	dst := make([]bool, len(fs))
	one := make([]bool, 1)
	hits := [][]byte{}
	for _, r := range gen.Generate(gen.Options{Seed: 3, Count: 200}) {
		hits = append(hits, r.Value)
	}
	hits = append(hits, []byte(`{"application_id":[0,1,2,3,4,5,6],"method":"GET"}`), []byte(`{}`))
	total := 0
	for _, h := range hits {
		m.Match(h, dst)
		for i, f := range fs {
			NewMatcher([]Filter{f}).Match(h, one)
			if dst[i] != one[0] {
				t.Fatalf("filter %d on %s: many %v, alone %v", i, h, dst[i], one[0])
			}
			if dst[i] {
				total++
			}
		}
		if !dst[len(fs)-1] {
			t.Fatal("the filter without match must select every hit")
		}
	}
	if total <= len(hits) {
		t.Fatalf("only %d matches: the test data selects nothing", total)
	}
	var all []bool
	m.Match([]byte(`{"application_id":[0,1,2,3,4,5,6],"method":"GET","remote_country":"US"}`), dst)
	all = dst
	for i := range fs {
		if !all[i] {
			t.Fatalf("filter %d must match the hit that satisfies every filter", i)
		}
	}
}

func TestMatchGenerated(t *testing.T) {
	// application_id in gen is one of -1, 1, 7, 42: the four filters
	// partition the generated hits.
	fs := []Filter{filter(`{"application_id":[-1]}`), filter(`{"application_id":[1]}`), filter(`{"application_id":[7]}`), filter(`{"application_id":[42]}`)}
	m := NewMatcher(fs)
	dst := make([]bool, 4)
	for _, r := range gen.Generate(gen.Options{Seed: 1, Count: 500}) {
		if !r.Expect.Valid {
			continue
		}
		m.Match(r.Value, dst)
		n := 0
		for _, b := range dst {
			if b {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("hit %s matched %d of the partitioning filters", r.Value, n)
		}
	}
}

func typicalHit(b *testing.B) []byte {
	for _, r := range gen.Generate(gen.Options{Seed: 7, Count: 10}) {
		if r.Expect.Valid {
			return r.Value
		}
	}
	b.Fatal("no valid hit")
	return nil
}

// BenchmarkMatch: N integrations, each selecting one application_id (1/N
// of the hits), evaluated on a typical hit.
func BenchmarkMatch(b *testing.B) {
	hit := typicalHit(b)
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("filters=%d", n), func(b *testing.B) {
			fs := make([]Filter, n)
			for i := range fs {
				fs[i] = filter(fmt.Sprintf(`{"application_id":[%d]}`, i))
			}
			m := NewMatcher(fs)
			dst := make([]bool, n)
			b.SetBytes(int64(len(hit)))
			b.ReportAllocs()
			for b.Loop() {
				m.Match(hit, dst)
			}
		})
	}
	b.Run("filters=10/two-fields", func(b *testing.B) {
		fs := make([]Filter, 10)
		for i := range fs {
			fs[i] = filter(fmt.Sprintf(`{"application_id":[%d, 42],"domain":["localhost","api.example.com"]}`, i))
		}
		m := NewMatcher(fs)
		dst := make([]bool, 10)
		b.SetBytes(int64(len(hit)))
		b.ReportAllocs()
		for b.Loop() {
			m.Match(hit, dst)
		}
	})
}
