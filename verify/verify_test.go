package verify_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/store"
	"github.com/hitexport/hitexport/verify"
)

const (
	W  = 10 * time.Minute
	w0 = int64(1687241400000) // a window start
)

func hit(id string, ms int64) gen.Expect { return gen.Expect{ID: id, Valid: true, TimeMillis: ms} }

func seen(id string, window int64) verify.Seen {
	return verify.Seen{ID: id, Window: window, Key: fmt.Sprintf("hitlogs-%d-t-0-0.ndjson", window/1000)}
}

func TestCompare(t *testing.T) {
	badA := gen.Expect{ID: gen.RejectedID([]byte("a")), Reason: "not_json"}
	badB := gen.Expect{ID: gen.RejectedID([]byte("b")), Reason: "bad_time"}
	manifest := []gen.Expect{hit("h1", w0+1000), hit("h2", w0+599999), hit("h3", w0+600000), badA, badB}
	good := &verify.Contents{
		Hits:     []verify.Seen{seen("h1", w0), seen("h2", w0), seen("h3", w0+600000)},
		Rejected: []verify.Seen{{ID: badA.ID, Reason: "not_json"}, {ID: badB.ID, Reason: "bad_time"}},
	}
	tests := []struct {
		name   string
		mutate func(c *verify.Contents)
		check  func(r verify.Report) bool
	}{
		{"all good", func(*verify.Contents) {}, func(r verify.Report) bool { return r.OK() }},
		{"missing hit", func(c *verify.Contents) { c.Hits = c.Hits[1:] },
			func(r verify.Report) bool { return r.Missing == 1 && r.Duplicates == 0 && !r.OK() }},
		{"duplicate hit", func(c *verify.Contents) { c.Hits = append(c.Hits, seen("h2", w0)) },
			func(r verify.Report) bool { return r.Duplicates == 1 && r.Missing == 0 && !r.OK() }},
		{"duplicate in another window", func(c *verify.Contents) { c.Hits = append(c.Hits, seen("h2", w0+600000)) },
			func(r verify.Report) bool { return r.Duplicates == 1 && r.WrongWindow == 1 && !r.OK() }},
		{"wrong window (last ms of a window)", func(c *verify.Contents) { c.Hits[1].Window = w0 + 600000 },
			func(r verify.Report) bool { return r.WrongWindow == 1 && r.Missing == 0 && !r.OK() }},
		{"wrong window (first ms of the next)", func(c *verify.Contents) { c.Hits[2].Window = w0 },
			func(r verify.Report) bool { return r.WrongWindow == 1 && !r.OK() }},
		{"unexpected hit", func(c *verify.Contents) { c.Hits = append(c.Hits, seen("zzz", w0)) },
			func(r verify.Report) bool { return r.Unexpected == 1 && !r.OK() }},
		{"a rejected record's ID found as a hit", func(c *verify.Contents) { c.Hits = append(c.Hits, seen(badA.ID, w0)) },
			func(r verify.Report) bool { return r.Unexpected == 1 && !r.OK() }},
		{"a hit found as rejected", func(c *verify.Contents) { c.Rejected = append(c.Rejected, verify.Seen{ID: "h1", Reason: "x"}) },
			func(r verify.Report) bool { return r.Unexpected == 1 && !r.OK() }},
		{"rejected missing", func(c *verify.Contents) { c.Rejected = c.Rejected[:1] },
			func(r verify.Report) bool { return r.RejectedMissing == 1 && !r.OK() }},
		{"rejected wrong reason", func(c *verify.Contents) { c.Rejected[0].Reason = "bad_time" },
			func(r verify.Report) bool { return r.RejectedReason == 1 && !r.OK() }},
		{"rejected duplicate", func(c *verify.Contents) { c.Rejected = append(c.Rejected, c.Rejected[0]) },
			func(r verify.Report) bool { return r.Duplicates == 1 && !r.OK() }},
		{"unexpected rejected", func(c *verify.Contents) {
			c.Rejected = append(c.Rejected, verify.Seen{ID: gen.RejectedID([]byte("zz")), Reason: "not_json"})
		}, func(r verify.Report) bool { return r.Unexpected == 1 && !r.OK() }},
		{"empty bucket", func(c *verify.Contents) { c.Hits, c.Rejected = nil, nil },
			func(r verify.Report) bool { return r.Missing == 3 && r.RejectedMissing == 2 && !r.OK() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &verify.Contents{Hits: append([]verify.Seen(nil), good.Hits...), Rejected: append([]verify.Seen(nil), good.Rejected...)}
			tc.mutate(c)
			r := verify.Compare(c, manifest, W)
			if !tc.check(r) {
				t.Fatalf("report %+v", r)
			}
			if r.Produced != 5 || r.ProducedValid != 3 || r.ProducedRejected != 2 {
				t.Fatalf("counts %+v", r)
			}
			if !r.OK() && len(r.Examples) == 0 {
				t.Fatal("a violation without an example")
			}
		})
	}
}

func TestCompareExamplesBounded(t *testing.T) {
	var manifest []gen.Expect
	for i := 0; i < 500; i++ {
		manifest = append(manifest, hit(fmt.Sprint("h", i), w0))
	}
	r := verify.Compare(&verify.Contents{}, manifest, W)
	if r.Missing != 500 || len(r.Examples) > 20 {
		t.Fatalf("missing %d, %d examples", r.Missing, len(r.Examples))
	}
}

func TestCheckOffsets(t *testing.T) {
	var r verify.Report
	r.CheckOffsets([]verify.PartitionOffsets{{Partition: 0, Committed: 10, End: 10}, {Partition: 1, Committed: -1, End: 0}})
	if !r.OK() {
		t.Fatalf("%+v", r)
	}
	r.CheckOffsets([]verify.PartitionOffsets{{Partition: 2, Committed: 9, End: 10}})
	if r.OffsetsBehind != 1 || r.OK() {
		t.Fatalf("%+v", r)
	}
}

// --- ReadBucket ---

func put(t *testing.T, b *store.Memory, key string, data []byte) {
	t.Helper()
	if err := b.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)), store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
}

func compress(t *testing.T, c encoders.Compression, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := c.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadBucket(t *testing.T) {
	b := store.NewMemory("b")
	h1 := `{"time":"1687241470","request_id":"h1"}`
	h2 := `{"time":1687241475,"request_id":"h2"}`
	h3 := `{"time":"1687242000","request_id":"h3"}`
	put(t, b, "p/hitlogs-1687241400-t-0-0.ndjson", []byte(h1+"\n"+h2+"\n"))
	put(t, b, "p/hitlogs-1687242000-t-0-5.json.gz", compress(t, encoders.Gzip, []byte("[\n"+h3+"\n]\n")))
	put(t, b, "p/hitlogs-1687242000-t-1-0.json.zst", compress(t, encoders.Zstd, []byte("[]\n")))
	raw := []byte("\x00\xffnot json")
	rj, _ := json.Marshal(map[string]any{"topic": "t", "partition": 0, "offset": 3, "reason": "invalid_utf8",
		"value_base64": base64.StdEncoding.EncodeToString(raw)})
	put(t, b, "p/rejected/hitlogs-1687241400-t-0-3.rejected.ndjson.zst", compress(t, encoders.Zstd, append(rj, '\n')))
	put(t, b, "p/hitexport-check/hitlogs-1-check.ndjson", []byte("not even json\n")) // check's test objects are skipped
	put(t, b, "other/hitlogs-1687241400-t-0-0.ndjson", []byte("outside the prefix\n"))

	c, err := verify.ReadBucket(context.Background(), b, "p/")
	if err != nil {
		t.Fatal(err)
	}
	if c.Objects != 4 || len(c.Hits) != 3 || len(c.Rejected) != 1 {
		t.Fatalf("objects %d hits %d rejected %d", c.Objects, len(c.Hits), len(c.Rejected))
	}
	want := map[string]verify.Seen{
		"h1": {ID: "h1", TimeMillis: 1687241470000, Window: 1687241400000},
		"h2": {ID: "h2", TimeMillis: 1687241475000, Window: 1687241400000},
		"h3": {ID: "h3", TimeMillis: 1687242000000, Window: 1687242000000},
	}
	for _, s := range c.Hits {
		w := want[s.ID]
		if s.TimeMillis != w.TimeMillis || s.Window != w.Window || s.Key == "" {
			t.Errorf("%+v, want %+v", s, w)
		}
	}
	if r := c.Rejected[0]; r.ID != gen.RejectedID(raw) || r.Reason != "invalid_utf8" {
		t.Errorf("rejected %+v", r)
	}
	if c.ByFormat["ndjson"] != 1 || c.ByFormat["json"] != 2 || c.ByFormat["rejected"] != 1 {
		t.Errorf("by format %v", c.ByFormat)
	}
	manifest := []gen.Expect{hit("h1", 1687241470000), hit("h2", 1687241475000), hit("h3", 1687242000000),
		{ID: gen.RejectedID(raw), Reason: "invalid_utf8"}}
	if r := verify.Compare(c, manifest, W); !r.OK() {
		t.Fatalf("%+v", r)
	}
}

func TestReadBucketErrors(t *testing.T) {
	tests := []struct {
		key  string
		data []byte
		want string
	}{
		{"foo.txt", []byte("x"), "naming convention"},
		{"hitlogs-1687241400-t-0-0.ndjson", []byte("{\"time\":1}\nnot json\n"), "object hitlogs-1687241400-t-0-0.ndjson"},
		{"hitlogs-1687241400-t-0-0.json", []byte("{\"time\":1687241470}"), "JSON array"},
		{"hitlogs-1687241400-t-0-0.ndjson.gz", []byte("not gzip"), "hitlogs"},
		{"hitlogs-1687241400-t-0-0.ndjson", []byte(`{"request_id":"no time"}` + "\n"), "missing_time"},
		{"rejected/hitlogs-1687241400-t-0-0.rejected.ndjson", []byte(`{"value_base64":"!!!"}` + "\n"), "rejected line 0"},
	}
	for _, tc := range tests {
		b := store.NewMemory("b")
		put(t, b, tc.key, tc.data)
		_, err := verify.ReadBucket(context.Background(), b, "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want it to mention %q", tc.key, err, tc.want)
		}
	}
}

// OCSF objects are read back (time in ms, one event per line or array).
func TestReadBucketOCSF(t *testing.T) {
	for _, f := range encoders.Formats() {
		if !strings.HasPrefix(f, "ocsf") {
			continue
		}
		enc, _ := encoders.New(f)
		var buf bytes.Buffer
		rw := enc.NewWriter(&buf)
		for i, ms := range []int64{1687241470000, 1687241475000} {
			v := fmt.Sprintf(`{"time":"%d","request_id":"r%d","ip":"1.2.3.4","method":"GET","uri":"/x","status_code":200}`, ms/1000, i)
			if err := rw.Write(encoders.Record{Value: []byte(v), TimeMillis: ms, Topic: "t", Partition: 0, Offset: int64(i)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := rw.Close(); err != nil {
			t.Fatal(err)
		}
		b := store.NewMemory("b")
		put(t, b, "hitlogs-1687241400-t-0-0"+enc.Extension(), buf.Bytes())
		c, err := verify.ReadBucket(context.Background(), b, "")
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(c.Hits) != 2 || c.Hits[0].TimeMillis != 1687241470000 || c.Hits[1].TimeMillis != 1687241475000 || c.Hits[0].Window != w0 {
			t.Fatalf("%s: %+v", f, c.Hits)
		}
		if c.Hits[0].ID == "" || c.Hits[0].ID == c.Hits[1].ID {
			t.Fatalf("%s: ids %q %q", f, c.Hits[0].ID, c.Hits[1].ID)
		}
	}
}
