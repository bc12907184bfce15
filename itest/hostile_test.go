//go:build integration

package itest

// Hostile input: records that are not hits, or hits built to hurt, produced
// to the real Kafka topic and exported to the real S3 bucket in every format.
// None may crash or stall the pipeline; each valid one ends in the object of
// its window, each invalid one in a rejected object with exactly the expected
// reason, and each rejection is counted in hitexport_records_rejected_total.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/hits"
	"github.com/hitexport/hitexport/pipeline"
	"github.com/hitexport/hitexport/store"
)

// hostileCase is one produced record and what must become of it.
type hostileCase struct {
	name   string
	key    []byte
	value  []byte
	reason hits.Reason // "" for a valid hit
	id     string      // valid: request_id
	ms     int64       // valid: event time
}

// hostileRecords builds the cases; base is an event time (Unix s) in the past.
func hostileRecords(tag string, base int64) []hostileCase {
	var cs []hostileCase
	bad := func(name string, v []byte, r hits.Reason) {
		cs = append(cs, hostileCase{name: name, key: []byte(name), value: v, reason: r})
	}
	n := 0
	good := func(name string, ms int64, format string, args ...any) {
		n++
		id := fmt.Sprintf("%s-%s-%d", tag, name, n)
		v := []byte(strings.ReplaceAll(fmt.Sprintf(format, args...), "@ID@", id))
		cs = append(cs, hostileCase{name: name, key: []byte(id), value: v, id: id, ms: ms})
	}
	t := func(d int64) int64 { return base + d }
	u := func(s string) string { return fmt.Sprintf("%s-%s", tag, s) } // unique bytes per run

	// Not JSON, not an object.
	bad("not-json", []byte("GET /etc/passwd HTTP/1.1 "+u("x")), hits.ReasonNotJSON)
	bad("truncated", []byte(`{"time":"`+strconv.FormatInt(t(1), 10)+`","request_id":"`+u("tr")+`"`), hits.ReasonNotJSON)
	bad("trailing-garbage", []byte(`{"time":"`+strconv.FormatInt(t(2), 10)+`","request_id":"`+u("tg")+`"} x`), hits.ReasonNotJSON)
	bad("two-objects", []byte(`{"time":1}{"time":2,"n":"`+u("2o")+`"}`), hits.ReasonNotJSON)
	bad("bom", []byte("\xef\xbb\xbf{\"time\":\""+strconv.FormatInt(t(3), 10)+"\",\"request_id\":\""+u("bom")+"\"}"), hits.ReasonNotJSON)
	bad("tombstone", nil, hits.ReasonNotJSON)
	bad("whitespace", []byte(" \t\r\n "), hits.ReasonNotJSON)
	bad("array", []byte(`[{"time":"`+strconv.FormatInt(t(4), 10)+`","request_id":"`+u("arr")+`"}]`), hits.ReasonNotObject)
	bad("empty-array", []byte(`[]`), hits.ReasonNotObject)
	bad("number", []byte(`42`), hits.ReasonNotObject)
	bad("string", []byte(`"`+u("str")+`"`), hits.ReasonNotObject)
	bad("null", []byte(`null`), hits.ReasonNotObject)
	bad("true", []byte(`true`), hits.ReasonNotObject)

	// time.
	bad("time-missing", []byte(`{"request_id":"`+u("tm")+`","ip":"10.0.0.1"}`), hits.ReasonMissingTime)
	bad("time-null", []byte(`{"time":null,"request_id":"`+u("tn")+`"}`), hits.ReasonMissingTime)
	bad("time-only-nested", []byte(`{"request_id":"`+u("tnest")+`","tags":{"time":"`+strconv.FormatInt(t(5), 10)+`"}}`), hits.ReasonMissingTime)
	bad("time-negative", []byte(`{"time":"-`+strconv.FormatInt(t(6), 10)+`","request_id":"`+u("tneg")+`"}`), hits.ReasonTimeRange)
	bad("time-negative-number", []byte(`{"time":-1,"request_id":"`+u("tneg2")+`"}`), hits.ReasonTimeRange)
	bad("time-zero", []byte(`{"time":0,"request_id":"`+u("t0")+`"}`), hits.ReasonTimeRange)
	bad("time-words", []byte(`{"time":"yesterday","request_id":"`+u("tw")+`"}`), hits.ReasonBadTime)
	bad("time-empty-string", []byte(`{"time":"","request_id":"`+u("te")+`"}`), hits.ReasonBadTime)
	bad("time-bool", []byte(`{"time":true,"request_id":"`+u("tb")+`"}`), hits.ReasonBadTime)
	bad("time-object", []byte(`{"time":{"s":`+strconv.FormatInt(t(7), 10)+`},"request_id":"`+u("to")+`"}`), hits.ReasonBadTime)
	bad("time-array", []byte(`{"time":[`+strconv.FormatInt(t(8), 10)+`],"request_id":"`+u("ta")+`"}`), hits.ReasonBadTime)
	bad("time-nan", []byte(`{"time":"NaN","request_id":"`+u("tnan")+`"}`), hits.ReasonBadTime)
	bad("time-infinity", []byte(`{"time":"Infinity","request_id":"`+u("tinf")+`"}`), hits.ReasonBadTime)
	bad("time-hex", []byte(`{"time":"0x6492a9fe","request_id":"`+u("thex")+`"}`), hits.ReasonBadTime)
	bad("time-plus", []byte(`{"time":"+`+strconv.FormatInt(t(9), 10)+`","request_id":"`+u("tplus")+`"}`), hits.ReasonBadTime)
	bad("time-rfc3339", []byte(`{"time":"2023-06-20T06:11:10Z","request_id":"`+u("trfc")+`"}`), hits.ReasonBadTime)
	bad("time-far-future", []byte(`{"time":"`+strconv.FormatInt(time.Now().Add(3*time.Hour).Unix(), 10)+`","request_id":"`+u("tff")+`"}`), hits.ReasonTimeRange)
	bad("time-year-33658", []byte(`{"time":1000000000000000,"request_id":"`+u("ty")+`"}`), hits.ReasonTimeRange)
	bad("time-1e300", []byte(`{"time":1e300,"request_id":"`+u("t300")+`"}`), hits.ReasonTimeRange)
	bad("time-int64-overflow", []byte(`{"time":"99999999999999999999999","request_id":"`+u("tof")+`"}`), hits.ReasonTimeRange)
	bad("duplicate-time", []byte(`{"time":"`+strconv.FormatInt(t(10), 10)+`","request_id":"`+u("dt")+`","time":"`+strconv.FormatInt(t(11), 10)+`"}`), hits.ReasonDuplicateTime)
	bad("duplicate-time-escaped", []byte(`{"time":"`+strconv.FormatInt(t(12), 10)+`","\u0074ime":"`+strconv.FormatInt(t(12), 10)+`","request_id":"`+u("dte")+`"}`), hits.ReasonDuplicateTime)

	// Size.
	big := bytes.Repeat([]byte("A"), 10<<20)
	bad("10MB", []byte(`{"time":"`+strconv.FormatInt(t(13), 10)+`","request_id":"`+u("big")+`","payload":["`+string(big)+`"]}`), hits.ReasonTooLarge)
	limit := 1 << 20 // MAX_RECORD_BYTES default
	pad := func(prefix, suffix string, size int) []byte {
		return []byte(prefix + strings.Repeat("B", size-len(prefix)-len(suffix)) + suffix)
	}
	bad("limit+1", pad(`{"time":"`+strconv.FormatInt(t(14), 10)+`","request_id":"`+u("l1")+`","payload":["`, `"]}`, limit+1), hits.ReasonTooLarge)

	// Bytes.
	bad("invalid-utf8", []byte(`{"time":"`+strconv.FormatInt(t(15), 10)+`","request_id":"`+u("u8")+`","uri":"/`+"\xff\xfe"+`"}`), hits.ReasonInvalidUTF8)
	bad("overlong-utf8", []byte(`{"time":"`+strconv.FormatInt(t(16), 10)+`","request_id":"`+u("u8o")+`","uri":"/`+"\xc0\xaf"+`"}`), hits.ReasonInvalidUTF8)
	bad("surrogate-utf8", []byte(`{"time":"`+strconv.FormatInt(t(17), 10)+`","request_id":"`+u("u8s")+`","uri":"/`+"\xed\xa0\x80"+`"}`), hits.ReasonInvalidUTF8)
	bad("raw-nul-in-string", []byte(`{"time":"`+strconv.FormatInt(t(18), 10)+`","request_id":"`+u("nul")+`","uri":"/a`+"\x00"+`b"}`), hits.ReasonNotJSON)
	bad("raw-nul-outside", []byte("\x00"+`{"time":"`+strconv.FormatInt(t(19), 10)+`","request_id":"`+u("nul2")+`"}`), hits.ReasonNotJSON)
	// Deeper than Go's JSON scanner allows (10000): valid JSON by RFC 8259,
	// refused as not_json (a deliberate limit of the decoder, documented).
	bad("nested-20000", []byte(`{"time":"`+strconv.FormatInt(t(20), 10)+`","request_id":"`+u("n20k")+`","tags":`+strings.Repeat(`[`, 20000)+strings.Repeat(`]`, 20000)+`}`), hits.ReasonNotJSON)

	// Valid, but hostile.
	ms := func(d int64) int64 { return t(d) * 1000 }
	good("escaped-nul", ms(30), `{"time":"%d","request_id":"@ID@","uri":"/a\u0000b","payload":["\u0000"]}`, t(30))
	good("escaped-lone-surrogate", ms(31), `{"time":"%d","request_id":"@ID@","uri":"/\ud800","payload":["\udfff\ud800"]}`, t(31))
	good("nested-5000", ms(32), `{"time":"%d","request_id":"@ID@","attack_type":"sqli","tags":%s1%s}`, t(32), strings.Repeat(`{"a":`, 5000), strings.Repeat(`}`, 5000))
	good("nested-5000-arrays", ms(33), `{"time":"%d","request_id":"@ID@","payload":%s"x"%s,"point":%s%s}`, t(33), strings.Repeat(`[`, 5000), strings.Repeat(`]`, 5000), strings.Repeat(`[`, 4000), strings.Repeat(`]`, 4000))
	good("duplicate-other-keys", ms(34), `{"time":"%d","request_id":"@ID@","ip":"1.1.1.1","ip":"2.2.2.2","tags":{"a":1,"a":2}}`, t(34))
	good("time-milliseconds", ms(35)+123, `{"time":%d,"request_id":"@ID@"}`, ms(35)+123)
	good("time-milliseconds-string", ms(36)+456, `{"time":"%d","request_id":"@ID@"}`, ms(36)+456)
	good("time-fraction", ms(37)+250, `{"time":"%d.25","request_id":"@ID@"}`, t(37))
	good("time-exponent", ms(38), `{"time":%de0,"request_id":"@ID@"}`, t(38))
	good("time-padded-string", ms(39), `{"time":" %d ","request_id":"@ID@"}`, t(39))
	good("pretty-printed", ms(40), "{\n  \"time\": \"%d\",\n  \"request_id\": \"@ID@\",\n  \"uri\": \"/x\"\r\n}\n", t(40))
	good("leading-space", ms(41), "  \t{\"time\":\"%d\",\"request_id\":\"@ID@\"}", t(41))
	good("odd-types", ms(42), `{"time":"%d","request_id":"@ID@","ip":"not-an-ip","status_code":"abc","tags":[],"method":"BREW","block_status":7,"protocol":{"v":2},"payload":{},"point":42,"domain":"exa mple:99999"}`, t(42))
	good("unicode", ms(43), `{"time":"%d","request_id":"@ID@","uri":"/\u202e\ufeff/пароль/🦠","domain":"xn--e1afmkfd.xn--p1ai","payload":["\"><script>alert(1)</script>","'; DROP TABLE hits;--"]}`, t(43))
	good("html-escapes", ms(44), `{"time":"%d","request_id":"@ID@","uri":"/<>&\u2028\u2029"}`, t(44))
	good("many-keys", ms(45), `{"time":"%d","request_id":"@ID@",%s"z":0}`, t(45), manyKeys(3000))
	// Exactly MAX_RECORD_BYTES: accepted.
	n++
	atID := fmt.Sprintf("%s-at-limit-%d", tag, n)
	cs = append(cs, hostileCase{name: "at-limit", key: []byte(atID), id: atID, ms: ms(46),
		value: pad(`{"time":"`+strconv.FormatInt(t(46), 10)+`","request_id":"`+atID+`","payload":["`, `"]}`, limit)})
	return cs
}

func manyKeys(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `"k%d":%d,`, i, i)
	}
	return b.String()
}

// TestHostile runs the hostile records through the exporter in every format.
func TestHostile(t *testing.T) {
	for _, tc := range []struct{ format, comp string }{
		{"ndjson", "none"}, {"json", "gzip"}, {"ocsf", "zstd"}, {"ocsf-json", "none"},
	} {
		t.Run(tc.format+"-"+tc.comp, func(t *testing.T) { hostileRun(t, tc.format, tc.comp) })
	}
}

func hostileRun(t *testing.T, format, comp string) {
	e := newEnv(t, 1)
	base := time.Now().Add(-40*time.Minute).Truncate(10*time.Minute).Unix() + 5
	cases := hostileRecords(e.name, base)
	var recs []gen.Record
	want := map[hits.Reason]int{}
	for _, c := range cases {
		r := gen.Record{Key: c.key, Value: c.value}
		if c.reason == "" {
			r.Expect = gen.Expect{ID: c.id, Valid: true, TimeMillis: c.ms}
		} else {
			r.Expect = gen.Expect{ID: gen.RejectedID(c.value), Reason: string(c.reason)}
			want[c.reason]++
		}
		recs = append(recs, r)
	}
	// Ordinary hits before and after: the hostile ones must not stall them.
	opts := pastHour(uint64(len(e.name)), 400)
	opts.BadFraction = 0
	normal := gen.Generate(opts)
	recs = append(append(append([]gen.Record(nil), normal[:200]...), recs...), normal[200:]...)
	e.produce(recs)

	x := e.runX("exporter", sharedSvc(), map[string]string{"HITEXPORT_FORMAT": format, "HITEXPORT_COMPRESSION": comp})
	addr := x.httpAddr(t)
	e.waitCommitted(2*time.Minute, x.exporter)
	m, _, err := scrape(addr)
	if err != nil {
		t.Fatal(err)
	}
	if x.exited() {
		t.Fatalf("the exporter exited:\n%s", tail(x.out.String(), 3000))
	}
	x.stop(t, 30*time.Second)
	if strings.Contains(x.out.String(), "panic") {
		t.Errorf("panic in the exporter's output:\n%s", tail(x.out.String(), 3000))
	}
	rep := e.check(recs, 10*time.Minute)
	t.Logf("%s/%s: %d records (%d hostile: %d valid, %d rejected), bucket: %d hits, %d rejected, %d objects; duplicates %d, missing %d, wrong window %d, rejected missing %d, wrong reason %d",
		format, comp, len(recs), len(cases), len(cases)-sumCounts(want), sumCounts(want), rep.HitsInBucket, rep.RejectedInBucket, rep.Objects,
		rep.Duplicates, rep.Missing, rep.WrongWindow, rep.RejectedMissing, rep.RejectedReason)
	if !rep.OK() || rep.HitsInBucket != rep.ProducedValid || rep.RejectedInBucket != rep.ProducedRejected {
		t.Errorf("invariants violated: %+v", rep)
	}
	for _, r := range hits.Reasons {
		got := m.val("hitexport_records_rejected_total", "reason", string(r))
		if int(got) != want[r] {
			t.Errorf("hitexport_records_rejected_total{reason=%q} = %v, want %d", r, got, want[r])
		}
	}
	if got := m.sum("hitexport_records_consumed_total"); int(got) != len(recs) {
		t.Errorf("records consumed %v, want %d", got, len(recs))
	}
	hostileContents(t, e, recs, cases, format, comp)
}

// hostileContents reads every object back and checks, record by record,
// what the checker does not: the bytes of each valid hostile hit as written
// (json, ndjson: the hit as produced, made compact only when it had line
// breaks; OCSF: the event's time and its Kafka location), and for each
// rejected record its offset, key and exact bytes.
func hostileContents(t *testing.T, e *env, recs []gen.Record, cases []hostileCase, format, comp string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, _ := encoders.ParseCompression(comp)
	byID := map[string][]byte{}    // valid hits: request_id (OCSF: metadata.uid) -> line
	rejected := map[int64][]byte{} // offset -> rejected line
	var keys []string
	if err := e.bucket.List(ctx, "", func(o store.ObjectInfo) error {
		if !pipeline.IsInternalKey(o.Key) { // the window layout's own folder holds no hits
			keys = append(keys, o.Key)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		rc, err := e.bucket.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		dr, err := c.NewReader(rc)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		data, err := io.ReadAll(dr)
		dr.Close()
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		var items [][]byte
		if strings.HasSuffix(strings.TrimSuffix(strings.TrimSuffix(k, ".gz"), ".zst"), ".json") && !strings.Contains(k, ".rejected.") {
			var arr []json.RawMessage
			if err := json.Unmarshal(data, &arr); err != nil {
				t.Fatalf("%s: not a JSON array: %v", k, err)
			}
			for _, a := range arr {
				items = append(items, a)
			}
		} else {
			for _, l := range bytes.Split(data, []byte("\n")) {
				if len(l) > 0 {
					items = append(items, l)
				}
			}
		}
		for _, it := range items {
			var probe struct {
				RequestID any   `json:"request_id"`
				Offset    int64 `json:"offset"`
				Metadata  struct {
					UID string `json:"uid"`
				} `json:"metadata"`
			}
			if err := json.Unmarshal(it, &probe); err != nil {
				t.Fatalf("%s: a line is not JSON: %v", k, err)
			}
			switch {
			case strings.Contains(k, ".rejected."):
				rejected[probe.Offset] = it
			case strings.HasPrefix(format, "ocsf"):
				byID[probe.Metadata.UID] = it
			default:
				if id, ok := probe.RequestID.(string); ok {
					byID[id] = it
				}
			}
		}
	}
	offsetOf := map[string]int{}
	for i, r := range recs {
		offsetOf[string(r.Key)+"\x00"+string(r.Value)] = i
	}
	for _, hc := range cases {
		off := int64(offsetOf[string(hc.key)+"\x00"+string(hc.value)])
		if hc.reason != "" {
			line, ok := rejected[off]
			if !ok {
				t.Errorf("%s (offset %d): no rejected line", hc.name, off)
				continue
			}
			var rj struct {
				Topic     string `json:"topic"`
				Partition int    `json:"partition"`
				Offset    int64  `json:"offset"`
				Reason    string `json:"reason"`
				Key       string `json:"key_base64"`
				Size      int    `json:"size"`
				Value     string `json:"value_base64"`
			}
			if err := json.Unmarshal(line, &rj); err != nil {
				t.Fatalf("%s: %v", hc.name, err)
			}
			val, _ := base64.StdEncoding.DecodeString(rj.Value)
			key, _ := base64.StdEncoding.DecodeString(rj.Key)
			if rj.Reason != string(hc.reason) || rj.Topic != e.topic || rj.Partition != 0 || rj.Size != len(hc.value) ||
				!bytes.Equal(val, hc.value) || !bytes.Equal(key, hc.key) {
				t.Errorf("%s: rejected line %s/%d/%d reason %s size %d (key, value equal: %v, %v); want reason %s, size %d",
					hc.name, rj.Topic, rj.Partition, rj.Offset, rj.Reason, rj.Size, bytes.Equal(key, hc.key), bytes.Equal(val, hc.value), hc.reason, len(hc.value))
			}
			continue
		}
		line, ok := byID[hc.id]
		if !ok {
			t.Errorf("%s: hit %s not found", hc.name, hc.id)
			continue
		}
		if strings.HasPrefix(format, "ocsf") {
			var ev struct {
				Time     int64 `json:"time"`
				ClassUID int   `json:"class_uid"`
				Metadata struct {
					OriginalEventUID string `json:"original_event_uid"`
				} `json:"metadata"`
			}
			if err := json.Unmarshal(line, &ev); err != nil {
				t.Fatalf("%s: %v", hc.name, err)
			}
			if want := fmt.Sprintf("%s/0/%d", e.topic, off); ev.Time != hc.ms || ev.ClassUID != 4002 || ev.Metadata.OriginalEventUID != want {
				t.Errorf("%s: OCSF event time %d class %d original_event_uid %q; want %d, 4002, %q", hc.name, ev.Time, ev.ClassUID, ev.Metadata.OriginalEventUID, hc.ms, want)
			}
			continue
		}
		d, reason := hits.Decode(hc.value, time.Time{}, hits.Limits{})
		if reason != "" {
			t.Fatalf("%s: %s", hc.name, reason)
		}
		if !bytes.Equal(line, d.Value) {
			t.Errorf("%s: exported bytes differ from the hit as produced:\n got %.200q\nwant %.200q", hc.name, line, d.Value)
		}
	}
}

func sumCounts(m map[hits.Reason]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
