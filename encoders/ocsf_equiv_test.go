package encoders

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/hits"
)

// The OCSF encoder was rewritten for speed; its output must stay the same
// bytes. These tests run many hits through the old implementation (kept in
// ocsf_ref_test.go as refOcsf*) and the current one and require identical
// output, record by record and for whole objects (so that scratch space
// reused between records cannot leak from one record into the next).

// ocsfEquivCorpus: generated hits, mutated hits (fields dropped, values of
// every JSON type put in every known field, escapes, unicode, whitespace),
// the golden inputs and the odd shapes. Only what hits.Decode accepts is kept
// unless raw is set (the odd shapes the encoder must survive anyway).
func ocsfEquivCorpus(t testing.TB, n int) []Record {
	var out []Record
	add := func(v []byte) {
		d, reason := hits.Decode(v, time.Time{}, hits.Limits{})
		if reason != "" {
			return
		}
		out = append(out, Record{Value: d.Value, TimeMillis: d.TimeMillis, Topic: "hits", Partition: len(out) % 7, Offset: int64(len(out)) * 977})
	}
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	generated := gen.Generate(gen.Options{Seed: 1, Count: n, Start: start, Span: time.Hour, Jitter: time.Second})
	generated = append(generated, gen.Generate(gen.Options{Seed: 2, Count: n / 10, Start: start, Span: time.Hour, PayloadBytes: 4000, Applications: 50})...)
	generated = append(generated, gen.Generate(gen.Options{Seed: 3, Count: n / 10, Start: start, Span: time.Hour, BadFraction: 0.3})...)
	for _, g := range generated {
		add(g.Value)
	}

	// Mutations of generated hits.
	r := rand.New(rand.NewPCG(7, 11))
	values := []string{
		`null`, `true`, `false`, `0`, `-1`, `1.5`, `1e3`, `200`, `"200"`, `"0200"`, `"+200"`, `1e400`, `-0`,
		`""`, `" "`, `"x"`, `"GET"`, `"get"`, `"BREW"`, `"blocked"`, `"monitored"`, `"passed"`, `"other"`,
		`"sqli"`, `"xss"`, `"scanner"`, `"brute"`, `"vpatch"`, `"unknown_type"`,
		`"1.2.3.4"`, `"::1"`, `"fe80::1%eth0"`, `"1.2.3.4%x"`, `"300.1.1.1"`, `"[::1]"`,
		`"HTTP/1.1"`, `"http/2.0"`, `"HTTP/3"`, `"2"`, `"0.9"`, `"none"`, `"HTTP/"`,
		`"example.com:8080"`, `"[::1]:443"`, `"::1"`, `"a:b"`, `"a:+80"`, `"a:65536"`, `"a:0"`,
		`"/p?q=1#f"`, `"?a=1"`, `"#f"`, `"HTTP://Host:81/a?b"`, `"https://h"`, `"//x/y"`, `"x+y-z.q://a/b"`, `"1a://x"`,
		`"/` + strings.Repeat("é", 80) + `"`, `"/` + strings.Repeat("a", 119) + `é"`, `"/` + strings.Repeat("ab", 200) + `"`,
		`"\u0000\u001f\"\\\/\b\f\n\r\t"`, `"\u2028\u2029\ud83d\ude00"`, `"\ud800"`, `"ünïcödé ✓ 日本"`, `"<script>&amp;</script>"`,
		`[]`, `[1]`, `["a","b"]`, `["a",1,true,null]`, `[["x"]]`, `[{"a":1}]`, `[ "a" , 2 ]`, `["\u00e9\n"]`,
		`{}`, `{"a":1}`, `{"b":"x","a":[1,"y"],"c":{"d":null}}`, `{ "k" : [ 1 , 2 ] , "j" : "v" }`,
		`{"a":1,"a":2}`, `{"z":[],"y":[null],"x":[[]],"w":false,"\u00e9":"\u0000"}`,
		`"` + strings.Repeat("\\\"<>&", 2000) + `"`,
	}
	fields := []string{"time", "request_id", "ip", "datacenter", "tor", "remote_country", "application_id",
		"domain", "method", "uri", "protocol", "status_code", "attack_type", "block_status", "payload", "point", "tags",
		"extra", "a\u00e9", "\u0000", "zz"}
	base := gen.Generate(gen.Options{Seed: 4, Count: 300, Start: start, Span: time.Hour})
	for i, g := range base {
		var members []string
		var keys []string
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(g.Value, &obj); err != nil {
			t.Fatal(err)
		}
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys) // the corpus is the same on every run
		for _, k := range keys {
			members = append(members, mustQuote(k)+":"+string(obj[k]))
		}
		for j := 0; j < 12; j++ {
			ms := append([]string(nil), members...)
			r.Shuffle(len(ms), func(a, b int) { ms[a], ms[b] = ms[b], ms[a] })
			if j%3 == 0 && len(ms) > 1 { // drop some fields
				ms = ms[:1+r.IntN(len(ms)-1)]
			}
			for k := r.IntN(4); k > 0; k-- { // set some fields to odd values
				ms = append(ms, mustQuote(fields[r.IntN(len(fields))])+":"+values[r.IntN(len(values))])
			}
			sep := ","
			if (i+j)%5 == 0 {
				sep = " , " // whitespace within the object (no line breaks: Decode keeps it)
			}
			add([]byte("{" + strings.Join(ms, sep) + "}"))
			if j == 0 {
				// the time as a number, a string, a fraction, in ms
				for _, tv := range []string{`1687241470`, `"1687241470"`, `"1687241470.25"`, `1687241470123`, `1.68724147e9`} {
					add([]byte(`{"time":` + tv + "," + strings.Join(members, ",") + "}"))
				}
			}
		}
	}
	// Every known field alone and every value alone in it.
	for _, f := range fields {
		for _, v := range values {
			add([]byte(`{"time":"1687241470",` + mustQuote(f) + `:` + v + `}`))
			add([]byte(`{"time":"1687241470","ip":"10.1.2.3","method":"POST","attack_type":"sqli","domain":"h:8443",` + mustQuote(f) + `:` + v + `}`))
		}
	}
	// Escaped keys of known fields (they are the same keys once unescaped).
	add([]byte(`{"time":"1687241470","\u0069p":"1.2.3.4","met\u0068od":"GET","\u0074ags":{"\u0061":1,"b\n":"c"}}`))
	// Huge values.
	huge := strings.Repeat("x\u00e9\\\"", 1<<18)
	add([]byte(`{"time":"1687241470","ip":"1.2.3.4","attack_type":"xss","uri":"/` + huge + `","payload":["` + huge + `"],"point":["` + huge + `"],"tags":{"k":"` + huge + `"},"extra":"` + huge + `"}`))

	// The golden inputs and the odd shapes, as they are (some are not valid hits).
	for _, name := range ocsfGoldenInputs {
		out = append(out, ocsfReadHits(t, ocsfTestdata(t, name+".ndjson"))...)
	}
	out = append(out, ocsfOddHits()...)
	// Invalid UTF-8 in escaped strings (not a valid hit: the encoder copes).
	for _, v := range []string{
		"{\"ip\":\"1.2.3.4\",\"attack_type\":\"xss\",\"payload\":[\"\xff\\n\xfe\",\"\\u00e9\xc3\"],\"point\":\"a\\\"\xff\",\"tags\":{\"k\":\"\xff\\t\",\"\\u006b\xff\":[\"\\ud800\xff\"]}}",
		"{\"uri\":\"/\xe2\x80\xa8\\u2029\\ud83d\\ude00\\udc00\\ud800\\u0041\",\"method\":\"G\\u0045T\",\"domain\":\"h\\u00e9:80\"}",
	} {
		out = append(out, Record{Value: []byte(v), Topic: "hits", Partition: 5, Offset: int64(len(out))})
	}
	// Topics to escape, and a change of topic between records (the writer
	// keeps the topic's members written out).
	for _, topic := range []string{"t\"q\\\u2028é\x01", "hits", "", "other"} {
		out = append(out, Record{Value: []byte(`{"time":"1687241470","ip":"1.2.3.4"}`), Topic: topic, Partition: 1, Offset: 2})
	}
	return out
}

func mustQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// refOcsfEncode writes recs as one object with the old implementation.
func refOcsfEncode(t testing.TB, format string, recs []Record) []byte {
	var buf bytes.Buffer
	var w RecordWriter
	switch format {
	case "ocsf":
		w = refOcsfNDJSON{}.NewWriter(&buf)
	case "ocsf-json":
		w = refOcsfJSON{}.NewWriter(&buf)
	default:
		t.Fatalf("no reference for %s", format)
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestOCSFSameBytesAsBefore(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	recs := ocsfEquivCorpus(t, n)
	if len(recs) < n {
		t.Fatalf("corpus too small: %d", len(recs))
	}
	t.Logf("%d records", len(recs))
	for _, format := range []string{"ocsf", "ocsf-json"} {
		// One object of all records: the writer's scratch space is reused.
		got, want := EncodeAll(t, format, recs), refOcsfEncode(t, format, recs)
		if bytes.Equal(got, want) {
			continue
		}
		// Find the first record that differs, alone.
		for _, r := range recs {
			g, w := EncodeAll(t, format, []Record{r}), refOcsfEncode(t, format, []Record{r})
			if !bytes.Equal(g, w) {
				t.Fatalf("%s: output differs for %s\n got: %s\nwant: %s", format, clip(r.Value), clip(g), clip(w))
			}
		}
		t.Fatalf("%s: outputs differ only when records follow each other (state leaks between records)", format)
	}
}

func clip(b []byte) string {
	if len(b) > 2000 {
		return fmt.Sprintf("%s… (%d bytes)", b[:2000], len(b))
	}
	return string(b)
}

// FuzzOCSFSameBytes: any hit hits.Decode accepts (and any input at all)
// gives the same bytes as the old implementation, alone and after another
// record.
//
//	go test ./encoders -run x -fuzz FuzzOCSFSameBytes -fuzztime 30s
func FuzzOCSFSameBytes(f *testing.F) {
	for _, r := range ocsfEquivCorpus(f, 50) {
		if len(r.Value) < 4096 {
			f.Add(r.Value)
		}
	}
	prev := ocsfHit(`{"time":"1687241470","ip":"1.2.3.4","method":"GET","uri":"/a?b#c","attack_type":"sqli","payload":["x"],"point":["uri"],"tags":{"b":1,"a":[1,"2"]},"z":1,"application_id":[1]}`)
	f.Fuzz(func(t *testing.T, v []byte) {
		rec := Record{Value: v, Topic: "t", Partition: 2, Offset: 9}
		if d, reason := hits.Decode(v, time.Time{}, hits.Limits{}); reason == "" {
			rec.Value, rec.TimeMillis = d.Value, d.TimeMillis
		}
		for _, format := range []string{"ocsf", "ocsf-json"} {
			for _, recs := range [][]Record{{rec}, {prev, rec, prev}} {
				got, want := EncodeAll(t, format, recs), refOcsfEncode(t, format, recs)
				if !bytes.Equal(got, want) {
					t.Fatalf("%s: differs for %q\n got: %s\nwant: %s", format, v, got, want)
				}
			}
		}
	})
}
