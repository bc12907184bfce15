package hits_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hitexport/hitexport/hits"
)

// The seed document's two sample hits, byte for byte as its NDJSON sample.
const (
	seedHit1 = `{"time":"1687241470","request_id":"d2a900a6efac7a7c893a00903205071a","ip":"127.0.0.1","datacenter":"unknown","tor":"none","remote_country":null,"application_id":[-1],"domain":"localhost","method":"GET","uri":"/etc/passwd","protocol":"none","status_code":499,"attack_type":"ptrav","block_status":"monitored","payload":["/etc/passwd"],"point":["uri"],"tags":{"lom_id":7,"libproton_version":"4.4.11","brute_counter":"c188cd2baa2cefb3f3688cb4008a649e","wallarm_mode":"monitoring","final_wallarm_mode":"monitoring"}}`
	seedHit2 = `{"time":"1687241475","request_id":"b457fccec9c66cdb07eab7228b34eca6","ip":"127.0.0.1","datacenter":"unknown","tor":"none","remote_country":null,"application_id":[-1],"domain":"localhost","method":"GET","uri":"/etc/passwd","protocol":"none","status_code":499,"attack_type":"ptrav","block_status":"monitored","payload":["/etc/passwd"],"point":["uri"],"tags":{"lom_id":7,"libproton_version":"4.4.11","brute_counter":"c188cd2baa2cefb3f3688cb4008a649e","wallarm_mode":"monitoring","final_wallarm_mode":"monitoring"}}`
)

var lim = hits.Limits{MaxBytes: 1 << 20, MaxFuture: time.Hour}

// kafkaAt is a Kafka timestamp near the seed's hits.
var kafkaAt = time.Unix(1687241480, 0)

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		kafka   time.Time // zero: kafkaAt
		noKafka bool      // Kafka timestamp unknown
		lim     *hits.Limits
		reason  hits.Reason
		ms      int64
	}{
		// Valid hits.
		{name: "seed hit 1", raw: seedHit1, ms: 1687241470000},
		{name: "seed hit 2", raw: seedHit2, ms: 1687241475000},
		{name: "time as number", raw: `{"time":1687241470,"a":1}`, ms: 1687241470000},
		{name: "time as string", raw: `{"time":"1687241470"}`, ms: 1687241470000},
		{name: "fractional seconds number", raw: `{"time":1687241470.5}`, ms: 1687241470500},
		{name: "fractional seconds string", raw: `{"time":"1687241470.123"}`, ms: 1687241470123},
		{name: "fraction below ms floors", raw: `{"time":"1687241470.9999"}`, ms: 1687241470999},
		{name: "exponent number", raw: `{"time":1.68724147e9}`, ms: 1687241470000},
		{name: "milliseconds number", raw: `{"time":1687241470123}`, ms: 1687241470123},
		{name: "milliseconds string", raw: `{"time":"1687241470123"}`, ms: 1687241470123},
		{name: "string with leading zeros", raw: `{"time":"01687241470"}`, ms: 1687241470000},
		{name: "exactly 1e12 is ms", raw: `{"time":1000000000000}`, ms: 1000000000000},
		{name: "just below 1e12 is seconds", raw: `{"time":999999999999}`, noKafka: true, ms: 999999999999000},
		{name: "milliseconds fractional", raw: `{"time":1687241470123.9}`, ms: 1687241470123},
		{name: "time not first", raw: `{"a":{"time":1},"time":"1687241470"}`, ms: 1687241470000},
		{name: "whitespace around", raw: " \t{ \"time\" : \"1687241470\" } ", ms: 1687241470000},
		{name: "escaped key ti\\u006de", raw: `{"ti\u006de":"1687241470"}`, ms: 1687241470000},
		{name: "duplicate other key kept", raw: `{"a":1,"a":2,"time":"1687241470"}`, ms: 1687241470000},
		{name: "escaped NUL in a string", raw: `{"time":"1687241470","uri":"/a\u0000b"}`, ms: 1687241470000},
		{name: "epoch plus one ms", raw: `{"time":0.001}`, ms: 1},
		{name: "kafka time zero: no future check", raw: `{"time":"4102444800"}`, noKafka: true, ms: 4102444800000},
		{name: "within MaxFuture", raw: `{"time":"1687245080"}`, ms: 1687245080000},
		{name: "no MaxBytes limit", raw: `{"time":"1687241470","p":"` + strings.Repeat("x", 5000) + `"}`, lim: &hits.Limits{}, ms: 1687241470000},

		// Rejected.
		{name: "empty", raw: ``, reason: hits.ReasonNotJSON},
		{name: "not JSON", raw: `hello`, reason: hits.ReasonNotJSON},
		{name: "truncated", raw: `{"time":"1687241470"`, reason: hits.ReasonNotJSON},
		{name: "trailing garbage", raw: `{"time":"1687241470"} x`, reason: hits.ReasonNotJSON},
		{name: "two objects", raw: `{"time":"1687241470"}{"time":"1687241470"}`, reason: hits.ReasonNotJSON},
		{name: "raw NUL byte in a string", raw: "{\"time\":\"1687241470\",\"uri\":\"/a\x00b\"}", reason: hits.ReasonNotJSON},
		{name: "raw NUL byte after the object", raw: "{\"time\":\"1687241470\"}\x00", reason: hits.ReasonNotJSON},
		{name: "invalid UTF-8", raw: "{\"time\":\"1687241470\",\"uri\":\"/\xff\xfe\"}", reason: hits.ReasonInvalidUTF8},
		{name: "invalid UTF-8 beats not JSON", raw: "\xc3\x28", reason: hits.ReasonInvalidUTF8},
		{name: "surrogate encoded in UTF-8", raw: "{\"time\":\"1687241470\",\"u\":\"\xed\xa0\x80\"}", reason: hits.ReasonInvalidUTF8},
		{name: "JSON array", raw: `[{"time":"1687241470"}]`, reason: hits.ReasonNotObject},
		{name: "JSON string", raw: `"1687241470"`, reason: hits.ReasonNotObject},
		{name: "JSON number", raw: `1687241470`, reason: hits.ReasonNotObject},
		{name: "JSON null", raw: `null`, reason: hits.ReasonNotObject},
		{name: "JSON true", raw: `true`, reason: hits.ReasonNotObject},
		{name: "empty object", raw: `{}`, reason: hits.ReasonMissingTime},
		{name: "missing time", raw: `{"request_id":"x"}`, reason: hits.ReasonMissingTime},
		{name: "time only nested", raw: `{"tags":{"time":"1687241470"},"x":[{"time":1}]}`, reason: hits.ReasonMissingTime},
		{name: "time only as a value", raw: `{"key":"time"}`, reason: hits.ReasonMissingTime},
		{name: "key differs in case", raw: `{"Time":"1687241470"}`, reason: hits.ReasonMissingTime},
		{name: "null time", raw: `{"time":null}`, reason: hits.ReasonMissingTime},
		{name: "duplicate time", raw: `{"time":"1687241470","time":"1687241475"}`, reason: hits.ReasonDuplicateTime},
		{name: "duplicate time equal values", raw: `{"time":"1687241470","a":1,"time":"1687241470"}`, reason: hits.ReasonDuplicateTime},
		{name: "duplicate time via escape", raw: `{"time":"1687241470","ti\u006de":"1687241475"}`, reason: hits.ReasonDuplicateTime},
		{name: "duplicate time one null", raw: `{"time":null,"time":"1687241475"}`, reason: hits.ReasonDuplicateTime},
		{name: "non-numeric time", raw: `{"time":"yesterday"}`, reason: hits.ReasonBadTime},
		{name: "empty time string", raw: `{"time":""}`, reason: hits.ReasonBadTime},
		{name: "blank time string", raw: `{"time":"   "}`, reason: hits.ReasonBadTime},
		{name: "time bool", raw: `{"time":true}`, reason: hits.ReasonBadTime},
		{name: "time object", raw: `{"time":{"s":1687241470}}`, reason: hits.ReasonBadTime},
		{name: "time array", raw: `{"time":[1687241470]}`, reason: hits.ReasonBadTime},
		{name: "time NaN string", raw: `{"time":"NaN"}`, reason: hits.ReasonBadTime},
		{name: "time Inf string", raw: `{"time":"Inf"}`, reason: hits.ReasonBadTime},
		{name: "time RFC3339", raw: `{"time":"2023-06-20T06:11:10Z"}`, reason: hits.ReasonBadTime},
		{name: "zero time", raw: `{"time":0}`, reason: hits.ReasonTimeRange},
		{name: "negative time", raw: `{"time":-1687241470}`, reason: hits.ReasonTimeRange},
		{name: "negative time string", raw: `{"time":"-5"}`, reason: hits.ReasonTimeRange},
		{name: "negative fraction", raw: `{"time":-0.5}`, reason: hits.ReasonTimeRange},
		{name: "huge negative float", raw: `{"time":-1e300}`, reason: hits.ReasonTimeRange},
		{name: "huge float", raw: `{"time":1e300}`, reason: hits.ReasonTimeRange},
		{name: "beyond int64", raw: `{"time":"99999999999999999999999"}`, reason: hits.ReasonTimeRange},
		{name: "year 33658 in ms", raw: `{"time":1000000000000000}`, reason: hits.ReasonTimeRange},
		{name: "far future vs kafka time", raw: `{"time":"1687245081"}`, reason: hits.ReasonTimeRange},
		{name: "far future ms vs kafka time", raw: `{"time":1787241470000}`, reason: hits.ReasonTimeRange},
		{name: "too large", raw: `{"time":"1687241470","p":"` + strings.Repeat("x", 100) + `"}`, lim: &hits.Limits{MaxBytes: 64}, reason: hits.ReasonTooLarge},
		{name: "too large beats invalid UTF-8", raw: "\xff" + strings.Repeat("x", 100), lim: &hits.Limits{MaxBytes: 64}, reason: hits.ReasonTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := lim
			if tc.lim != nil {
				l = *tc.lim
			}
			kt := tc.kafka
			if kt.IsZero() {
				kt = kafkaAt
			}
			if tc.noKafka {
				kt = time.Time{}
			}
			d, reason := hits.Decode([]byte(tc.raw), kt, l)
			if reason != tc.reason {
				t.Fatalf("reason = %q, want %q", reason, tc.reason)
			}
			if reason != "" {
				if d.Value != nil || d.TimeMillis != 0 {
					t.Errorf("rejected record returned a value: %+v", d)
				}
				return
			}
			if d.TimeMillis != tc.ms {
				t.Errorf("TimeMillis = %d, want %d", d.TimeMillis, tc.ms)
			}
			if !json.Valid(d.Value) {
				t.Errorf("Value is not valid JSON: %q", d.Value)
			}
			if want := strings.TrimSpace(tc.raw); string(d.Value) != want {
				t.Errorf("Value changed: got %q, want %q", d.Value, want)
			}
		})
	}
}

// Every reason is listed in Reasons (metrics and docs rely on it).
func TestReasonsComplete(t *testing.T) {
	want := []hits.Reason{hits.ReasonTooLarge, hits.ReasonInvalidUTF8, hits.ReasonNotJSON, hits.ReasonNotObject,
		hits.ReasonMissingTime, hits.ReasonBadTime, hits.ReasonDuplicateTime, hits.ReasonTimeRange}
	seen := map[hits.Reason]bool{}
	for _, r := range hits.Reasons {
		if seen[r] {
			t.Errorf("reason %q listed twice", r)
		}
		seen[r] = true
	}
	for _, r := range want {
		if !seen[r] {
			t.Errorf("reason %q missing from Reasons", r)
		}
	}
}

func TestDecodeSeedSampleIsSeedHit(t *testing.T) {
	if string(hits.Sample) != seedHit1 {
		t.Fatalf("hits.Sample differs from the seed's first NDJSON line")
	}
	d, reason := hits.Decode(hits.Sample, time.Time{}, lim)
	if reason != "" || d.TimeMillis != 1687241470000 {
		t.Fatalf("Sample: %q %d", reason, d.TimeMillis)
	}
}

// A MaxBytes-sized record is accepted, one byte more is not.
func TestDecodeSizeBoundary(t *testing.T) {
	base := `{"time":"1687241470","p":"`
	raw := base + strings.Repeat("x", 100-len(base)-2) + `"}`
	if len(raw) != 100 {
		t.Fatal(len(raw))
	}
	if _, r := hits.Decode([]byte(raw), time.Time{}, hits.Limits{MaxBytes: 100}); r != "" {
		t.Errorf("exactly MaxBytes: %q", r)
	}
	if _, r := hits.Decode([]byte(raw), time.Time{}, hits.Limits{MaxBytes: 99}); r != hits.ReasonTooLarge {
		t.Errorf("MaxBytes-1: %q", r)
	}
}

// MaxFuture is measured from the Kafka timestamp: the boundary itself is
// accepted, one millisecond past it is not.
func TestDecodeMaxFutureBoundary(t *testing.T) {
	kt := time.UnixMilli(1687241470000)
	l := hits.Limits{MaxFuture: time.Minute}
	if _, r := hits.Decode([]byte(`{"time":1687241530000}`), kt, l); r != "" {
		t.Errorf("at the boundary: %q", r)
	}
	if _, r := hits.Decode([]byte(`{"time":1687241530001}`), kt, l); r != hits.ReasonTimeRange {
		t.Errorf("1 ms past the boundary: %q", r)
	}
	// A record whose Kafka timestamp is before 1970 or unknown is not judged.
	if _, r := hits.Decode([]byte(`{"time":1787241530001}`), time.Unix(-5, 0), l); r != "" {
		t.Errorf("negative Kafka time: %q", r)
	}
	// Past times are always accepted (replays, late data).
	if _, r := hits.Decode([]byte(`{"time":1000000000}`), kt, l); r != "" {
		t.Errorf("old time: %q", r)
	}
}

func TestDecodePrettyPrintedIsCompacted(t *testing.T) {
	var v any
	if err := json.Unmarshal([]byte(seedHit1), &v); err != nil {
		t.Fatal(err)
	}
	for _, indent := range []string{"  ", "\t"} {
		pretty, err := json.MarshalIndent(v, "", indent)
		if err != nil {
			t.Fatal(err)
		}
		crlf := bytes.ReplaceAll(pretty, []byte("\n"), []byte("\r\n"))
		for _, raw := range [][]byte{pretty, crlf, append([]byte("\n\n"), append(pretty, '\n')...)} {
			d, reason := hits.Decode(raw, kafkaAt, lim)
			if reason != "" {
				t.Fatalf("reason %q", reason)
			}
			if bytes.ContainsAny(d.Value, "\r\n") {
				t.Fatalf("Value still has line breaks: %q", d.Value)
			}
			var a, b any
			if err := json.Unmarshal(d.Value, &a); err != nil {
				t.Fatal(err)
			}
			_ = json.Unmarshal([]byte(seedHit1), &b)
			if ja, jb := mustMarshal(t, a), mustMarshal(t, b); ja != jb {
				t.Fatalf("compacted value differs:\n%s\n%s", ja, jb)
			}
			if d.TimeMillis != 1687241470000 {
				t.Fatalf("time %d", d.TimeMillis)
			}
		}
	}
	// Compacting must not touch string contents (escaped newlines stay).
	raw := "{\n\"time\": \"1687241470\",\n\"uri\": \"/a b\\n c\"\n}"
	d, reason := hits.Decode([]byte(raw), kafkaAt, lim)
	if reason != "" {
		t.Fatal(reason)
	}
	if string(d.Value) != `{"time":"1687241470","uri":"/a b\n c"}` {
		t.Fatalf("compacted: %s", d.Value)
	}
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A single-line record is passed through unchanged (no copy, no rewrite).
func TestDecodeAliasesSingleLine(t *testing.T) {
	raw := []byte(seedHit2)
	d, reason := hits.Decode(raw, kafkaAt, lim)
	if reason != "" {
		t.Fatal(reason)
	}
	if &d.Value[0] != &raw[0] || len(d.Value) != len(raw) {
		t.Errorf("Value does not alias the input")
	}
}

// Deeply nested input must not crash (no recursion in the decoder); at
// encoding/json's depth limit it is either accepted or rejected as not_json.
func TestDecodeDeeplyNested(t *testing.T) {
	for _, depth := range []int{100, 9998, 10000, 100000} {
		raw := `{"time":"1687241470","tags":` + strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth) + "}"
		d, reason := hits.Decode([]byte(raw), kafkaAt, hits.Limits{MaxFuture: time.Hour})
		switch reason {
		case "":
			if d.TimeMillis != 1687241470000 || string(d.Value) != raw {
				t.Errorf("depth %d: decoded wrong: %d", depth, d.TimeMillis)
			}
		case hits.ReasonNotJSON:
			if depth < 9000 {
				t.Errorf("depth %d rejected", depth)
			}
		default:
			t.Errorf("depth %d: reason %q", depth, reason)
		}
		// "time" after the deep value is still found at the top level.
		raw2 := `{"tags":` + strings.Repeat(`[`, depth) + strings.Repeat("]", depth) + `,"time":1687241475}`
		d, reason = hits.Decode([]byte(raw2), kafkaAt, hits.Limits{MaxFuture: time.Hour})
		if reason == "" && d.TimeMillis != 1687241475000 {
			t.Errorf("depth %d: time after deep value: %d", depth, d.TimeMillis)
		}
		if reason != "" && reason != hits.ReasonNotJSON {
			t.Errorf("depth %d: reason %q", depth, reason)
		}
	}
}

// Tricky strings around the top-level scan: braces, quotes and escaped
// backslashes inside strings must not confuse it.
func TestDecodeTopLevelScan(t *testing.T) {
	tests := []struct {
		raw    string
		reason hits.Reason
		ms     int64
	}{
		{`{"a":"}{\"time\":1","time":1687241470}`, "", 1687241470000},
		{`{"a":"\\","time":1687241470}`, "", 1687241470000},
		{`{"a\\":"x","time":1687241470}`, "", 1687241470000},
		{`{"a":["time",{"time":2}],"time":1687241470}`, "", 1687241470000},
		{`{"a":"\"time\":5"}`, hits.ReasonMissingTime, 0},
		{`{"a":[],"b":{},"c":"","time":1687241470}`, "", 1687241470000},
		{`{"a":-1.5e3,"b":true,"c":false,"d":null,"time":1687241470}`, "", 1687241470000},
		{`{"time" :1687241470 , "b":1}`, "", 1687241470000},
		{`{"t\u0069me":1687241470}`, "", 1687241470000},
		{`{"time\u0000":1687241470}`, hits.ReasonMissingTime, 0},
		{`{"\u0074\u0069\u006d\u0065":1687241470,"time":1}`, hits.ReasonDuplicateTime, 0},
	}
	for _, tc := range tests {
		d, reason := hits.Decode([]byte(tc.raw), kafkaAt, lim)
		if reason != tc.reason || d.TimeMillis != tc.ms {
			t.Errorf("%s: got (%q, %d), want (%q, %d)", tc.raw, reason, d.TimeMillis, tc.reason, tc.ms)
		}
	}
}
