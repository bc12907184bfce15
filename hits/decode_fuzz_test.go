package hits_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

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
