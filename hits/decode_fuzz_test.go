package hits_test

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hitexport/hitexport/hits"
)

// FuzzDecode: Decode never panics; a valid hit's Value is valid JSON on one
// line, an object, and decoding it again gives the same time.
//
//	go test ./hits -run x -fuzz FuzzDecode -fuzztime 60s
func FuzzDecode(f *testing.F) {
	seeds := []string{
		seedHit1, seedHit2,
		`{"time":1687241470}`, `{"time":"1687241470.5"}`, `{"time":1687241470123}`,
		`{"time":null}`, `{"time":-1}`, `{"time":"x"}`, `{}`, `[]`, `"s"`, `1`, ``, `{`,
		`{"time":"1","time":"2"}`, `{"ti\u006de":"1687241470"}`, `{"a":{"time":1}}`,
		"{\n  \"time\": \"1687241470\",\n  \"t\": [1, 2]\n}",
		"{\"time\":\"1687241470\",\"u\":\"\xff\"}", "{\"time\":\"1687241470\",\"u\":\"\x00\"}",
		`{"time":"1687241470","u":"\u0000\ud800"}`, `{"time":1e300}`, `{"time":"0x1p30"}`,
		`{"a":"\\","time":1687241470}`, `{"time":1687241470}` + "\n",
		// The one-pass scan: non-ASCII and invalid UTF-8 at 8-byte word
		// boundaries, inside and outside strings, escapes straddling words,
		// control characters, line breaks only between tokens.
		"{\"time\":\"1687241470\",\"abcdé\":\"abcdefgé日本😀\"}",
		"{\"time\":\"1687241470\",\"abcdefg\xc3\":1}", "{\"time\":\"1687241470\",\"a\":\"abcdef\xed\xa0\x80\"}",
		"{\"time\":1687241470,\xc3\xa9:1}", "{\"time\":1687241470}\xff", "\xef\xbb\xbf{\"time\":1687241470}",
		`{"time":"1687241470","abcdef":"abcdef\\\"gh\u00e9\\"}`, `{"time":"1687241470","abcdefg\u0041":1}`,
		"{\"time\":\"1687241470\",\"abcdefg\":\"\x1f\"}", "{\"time\":\"1687241470\",\"abcdefg\":\"x\x7f\"}",
		"\r\n{\"time\"\r:\n\"1687241470\"\t}\n", "{\"time\":\"1687241470\",\"a\":[\n]}",
		// Times: the digit fast path and its edges.
		`{"time":"000000000001"}`, `{"time":"999999999999999999"}`, `{"time":"9999999999999999999"}`,
		`{"time":"1687241470 "}`, `{"time":" 1687241470"}`, `{"time":"-1687241470"}`, `{"time":0}`,
		`{"time":999999999999}`, `{"time":1000000000000}`, `{"time":"1687241470\u0030"}`, `{"time":""}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s), int64(1687241480000))
	}
	f.Add([]byte(seedHit1), int64(0))
	f.Fuzz(func(t *testing.T, raw []byte, kafkaMs int64) {
		var kt time.Time
		if kafkaMs != 0 {
			kt = time.UnixMilli(kafkaMs)
		}
		l := hits.Limits{MaxBytes: 1 << 16, MaxFuture: time.Hour}
		orig := append([]byte(nil), raw...)
		d, reason := hits.Decode(raw, kt, l)
		if !bytes.Equal(raw, orig) {
			t.Fatalf("Decode modified its input")
		}
		checkAgainstEncodingJSON(t, raw, kt, l, d, reason)
		if reason != "" {
			known := false
			for _, r := range hits.Reasons {
				known = known || r == reason
			}
			if !known {
				t.Fatalf("unknown reason %q", reason)
			}
			return
		}
		if !json.Valid(d.Value) {
			t.Fatalf("Value is not valid JSON: %q", d.Value)
		}
		if bytes.ContainsAny(d.Value, "\r\n") {
			t.Fatalf("Value spans lines: %q", d.Value)
		}
		if len(d.Value) == 0 || d.Value[0] != '{' {
			t.Fatalf("Value is not an object: %q", d.Value)
		}
		if d.TimeMillis <= 0 || d.TimeMillis >= 1e15 {
			t.Fatalf("TimeMillis out of range: %d", d.TimeMillis)
		}
		d2, reason2 := hits.Decode(d.Value, kt, l)
		if reason2 != "" || d2.TimeMillis != d.TimeMillis {
			t.Fatalf("re-decode: (%q, %d), first (%d)", reason2, d2.TimeMillis, d.TimeMillis)
		}
		if !bytes.Equal(d2.Value, d.Value) {
			t.Fatalf("re-decode changed the value")
		}
		// The value means the same as the input.
		var a, b any
		if json.Unmarshal(raw, &a) != nil || json.Unmarshal(d.Value, &b) != nil {
			t.Fatalf("unmarshal failed")
		}
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) {
			t.Fatalf("value changed meaning:\n%s\n%s", ja, jb)
		}
	})
}

// checkAgainstEncodingJSON: Decode agrees with encoding/json on whether raw
// is valid JSON, and on the top-level "time" member it found (decoded by
// encoding/json, keys with escapes included), for every accepted record.
func checkAgainstEncodingJSON(t *testing.T, raw []byte, kt time.Time, l hits.Limits, d hits.Decoded, reason hits.Reason) {
	t.Helper()
	if len(raw) > l.MaxBytes {
		if reason != hits.ReasonTooLarge {
			t.Fatalf("%d bytes over the limit %d: %q", len(raw), l.MaxBytes, reason)
		}
		return
	}
	if !utf8.Valid(raw) {
		if reason != hits.ReasonInvalidUTF8 {
			t.Fatalf("invalid UTF-8, Decode says %q: %q", reason, raw)
		}
		return
	}
	valid := json.Valid(raw)
	if (reason == hits.ReasonNotJSON) == valid {
		t.Fatalf("Decode says %q, encoding/json.Valid says %v: %q", reason, valid, raw)
	}
	if reason != "" {
		return
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("accepted, but encoding/json cannot read it as an object: %v", err)
	}
	tv, ok := m["time"]
	if !ok {
		t.Fatalf("accepted without a time for encoding/json: %q", raw)
	}
	var num string
	var str string
	if json.Unmarshal(tv, &str) == nil {
		num = strings.TrimSpace(str)
	} else {
		var n json.Number
		if err := json.Unmarshal(tv, &n); err != nil {
			t.Fatalf("time %s is neither a string nor a number: %v", tv, err)
		}
		num = n.String()
	}
	var want int64
	if i, err := strconv.ParseInt(num, 10, 64); err == nil {
		if i >= 1e12 {
			want = i
		} else {
			want = i * 1000
		}
	} else {
		f, err := strconv.ParseFloat(num, 64)
		if err != nil {
			t.Fatalf("accepted time %q that strconv cannot parse", num)
		}
		if f >= 1e12 {
			want = int64(f)
		} else {
			want = int64(math.Floor(f * 1000))
		}
	}
	if d.TimeMillis != want {
		t.Fatalf("time %s: Decode %d ms, encoding/json %d ms (%q)", tv, d.TimeMillis, want, raw)
	}
}
