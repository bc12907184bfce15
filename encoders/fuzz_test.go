package encoders_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/hits"
)

// FuzzEncoders: for every registered format, encoding a valid hit (as
// hits.Decode lets it through) never fails nor panics and gives valid JSON:
// one object per line for NDJSON formats, an array of objects otherwise.
//
//	go test ./encoders -run x -fuzz FuzzEncoders -fuzztime 60s
func FuzzEncoders(f *testing.F) {
	if b, err := os.ReadFile(golden("seed_hits.ndjson")); err == nil {
		for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			f.Add(line)
		}
	}
	if b, err := os.ReadFile(golden("seed_sample.json")); err == nil {
		var arr []json.RawMessage
		if json.Unmarshal(b, &arr) == nil {
			for _, h := range arr {
				f.Add([]byte(h)) // pretty-printed: Decode compacts it
			}
		}
	}
	for _, s := range []string{
		`{"time":1687241470}`,
		`{"time":"1687241470.5","ip":"::1","status_code":"499","method":"get","uri":"http://x/y?z#f"}`,
		`{"time":1687241470123,"ip":"not an ip","remote_country":123,"application_id":"x","tags":[1,2]}`,
		`{"time":"1687241470","tags":{"a":{"b":{"c":[1,{"d":null}]}}},"payload":[null,{},[],"<script>&"]}`,
		`{"time":"1687241470","ip":"1.2.3.4","status_code":1e300,"domain":"` + strings.Repeat("a", 300) + `"}`,
		`{"time":"1687241470","uri":"\u0000\ud800\udc00\u2028","method":"\t"}`,
		`{"time":"1687241470","time2":1,"request_id":null,"block_status":{},"attack_type":["xss","sqli"]}`,
		`{"time":"1687241470","point":"uri","payload":"x","protocol":"HTTP/1.1","datacenter":false,"tor":"exit"}`,
		`{"time":"1687241470","status_code":-1,"ip":"300.1.1.1","uri":"","domain":"[::1]:80"}`,
		`{"time":"1687241470","a":1,"a":2,"ip":"1.1.1.1","ip":"2.2.2.2"}`,
		`{"time":"1687241470","tags":` + strings.Repeat(`{"a":`, 500) + `1` + strings.Repeat(`}`, 500) + `}`,
	} {
		f.Add([]byte(s))
	}
	formats := encoders.Formats()
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, reason := hits.Decode(raw, time.Time{}, hits.Limits{MaxBytes: 1 << 16})
		if reason != "" {
			return
		}
		rec := encoders.Record{Value: d.Value, TimeMillis: d.TimeMillis, Topic: "hits", Partition: 1, Offset: 42}
		for _, format := range formats {
			e, err := encoders.New(format)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			w := e.NewWriter(&buf)
			for i := 0; i < 2; i++ {
				rec.Offset = int64(42 + i)
				if err := w.Write(rec); err != nil {
					t.Fatalf("%s: Write: %v", format, err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatalf("%s: Close: %v", format, err)
			}
			if n := checkOutput(t, format, buf.Bytes()); n != 2 {
				t.Fatalf("%s: %d records in %q", format, n, buf.Bytes())
			}
			// Formats that keep the hit as given write it unchanged.
			if format == "ndjson" && !bytes.Equal(buf.Bytes(), []byte(string(d.Value)+"\n"+string(d.Value)+"\n")) {
				t.Fatalf("ndjson changed the hit")
			}
			if format == "json" {
				var arr []json.RawMessage
				if err := json.Unmarshal(buf.Bytes(), &arr); err != nil || !bytes.Equal(arr[0], d.Value) {
					t.Fatalf("json changed the hit")
				}
			}
		}
	})
}
