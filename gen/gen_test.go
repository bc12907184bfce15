package gen_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/hits"
)

var start = time.UnixMilli(1687241400000)

func opts(seed uint64) gen.Options {
	return gen.Options{Seed: seed, Count: 3000, Start: start, Span: time.Hour, Jitter: 30 * time.Second,
		LateFraction: 0.05, LateBy: 20 * time.Minute, BadFraction: 0.1, PayloadBytes: 0}
}

func TestDeterministic(t *testing.T) {
	a := gen.Generate(opts(7))
	b := gen.Generate(opts(7))
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same options, different records")
	}
	c := gen.Generate(opts(8))
	same := 0
	for i := range a {
		if bytes.Equal(a[i].Value, c[i].Value) {
			same++
		}
	}
	if same > len(a)/100 {
		t.Fatalf("seeds 7 and 8 share %d of %d records", same, len(a))
	}
	if len(gen.Generate(gen.Options{Seed: 1, Count: 0})) != 0 {
		t.Fatal("Count 0")
	}
}

// Every manifest entry agrees with what hits.Decode decides for the record.
func TestManifestMatchesDecode(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		o := opts(seed)
		o.PayloadBytes = int(seed-1) * 500
		recs := gen.Generate(o)
		reasons := map[string]int{}
		ids := map[string]bool{}
		for i, r := range recs {
			d, reason := hits.Decode(r.Value, time.UnixMilli(r.Expect.TimeMillis), hits.Limits{MaxBytes: 1 << 20, MaxFuture: time.Hour})
			if r.Expect.Valid {
				if reason != "" {
					t.Fatalf("seed %d record %d: manifest says valid, Decode says %s: %s", seed, i, reason, r.Value)
				}
				if d.TimeMillis != r.Expect.TimeMillis {
					t.Fatalf("seed %d record %d: time %d, manifest %d", seed, i, d.TimeMillis, r.Expect.TimeMillis)
				}
				var h struct {
					RequestID string `json:"request_id"`
				}
				if err := json.Unmarshal(r.Value, &h); err != nil || h.RequestID != r.Expect.ID {
					t.Fatalf("seed %d record %d: request_id %q, manifest %q", seed, i, h.RequestID, r.Expect.ID)
				}
				if bytes.ContainsAny(r.Value, "\r\n") {
					t.Fatalf("record %d spans lines", i)
				}
			} else {
				if string(reason) != r.Expect.Reason {
					t.Fatalf("seed %d record %d: manifest reason %q, Decode %q: %q", seed, i, r.Expect.Reason, reason, r.Value)
				}
				if r.Expect.ID != gen.RejectedID(r.Value) {
					t.Fatalf("record %d: ID %s", i, r.Expect.ID)
				}
				reasons[r.Expect.Reason]++
			}
			if ids[r.Expect.ID] {
				t.Fatalf("seed %d: ID %s twice", seed, r.Expect.ID)
			}
			ids[r.Expect.ID] = true
		}
		// The malformed records cover every reason gen can produce.
		for _, want := range []string{"not_json", "not_object", "missing_time", "bad_time", "invalid_utf8"} {
			if reasons[want] == 0 {
				t.Errorf("seed %d: no %s record among %v", seed, want, reasons)
			}
		}
	}
}

func TestShape(t *testing.T) {
	o := opts(5)
	recs := gen.Generate(o)
	if len(recs) != o.Count {
		t.Fatalf("%d records", len(recs))
	}
	bad, late := 0, 0
	var prev int64
	fields := []string{"time", "request_id", "ip", "datacenter", "tor", "remote_country", "application_id", "domain",
		"method", "uri", "protocol", "status_code", "attack_type", "block_status", "payload", "point", "tags"}
	for i, r := range recs {
		if !r.Expect.Valid {
			bad++
			continue
		}
		ms := r.Expect.TimeMillis
		lo := start.Add(-o.Jitter - o.LateBy - time.Second).UnixMilli()
		hi := start.Add(o.Span + o.Jitter).UnixMilli()
		if ms < lo || ms > hi {
			t.Fatalf("record %d time %d outside [%d, %d]", i, ms, lo, hi)
		}
		if prev != 0 && ms < prev-o.LateBy.Milliseconds()/2 {
			late++
		}
		prev = max(prev, ms)
		var m map[string]json.RawMessage
		if err := json.Unmarshal(r.Value, &m); err != nil {
			t.Fatal(err)
		}
		for _, f := range fields {
			if _, ok := m[f]; !ok {
				t.Fatalf("record %d lacks %s", i, f)
			}
		}
		if len(m) != len(fields) {
			t.Fatalf("record %d has %d fields", i, len(m))
		}
		// Field order is the seed's.
		if !bytes.HasPrefix(r.Value, []byte(`{"time":`)) {
			t.Fatalf("record %d does not start with time: %s", i, r.Value)
		}
	}
	frac := float64(bad) / float64(len(recs))
	if frac < 0.07 || frac > 0.13 {
		t.Errorf("bad fraction %.3f, want about 0.1", frac)
	}
	lf := float64(late) / float64(len(recs)-bad)
	if lf < 0.02 || lf > 0.09 {
		t.Errorf("late fraction %.3f, want about 0.05", lf)
	}
	// Without bad or late fractions: all valid, in order within the jitter.
	clean := gen.Generate(gen.Options{Seed: 1, Count: 500, Start: start, Span: 10 * time.Minute})
	for i, r := range clean {
		if !r.Expect.Valid {
			t.Fatalf("record %d invalid", i)
		}
		if i > 0 && r.Expect.TimeMillis < clean[i-1].Expect.TimeMillis {
			t.Fatalf("record %d out of order without jitter", i)
		}
	}
}

func TestPayloadBytes(t *testing.T) {
	recs := gen.Generate(gen.Options{Seed: 3, Count: 50, Start: start, Span: time.Minute, PayloadBytes: 4000})
	for i, r := range recs {
		if len(r.Value) < 4000 || len(r.Value) > 6000 {
			t.Fatalf("record %d is %d bytes", i, len(r.Value))
		}
	}
}

func TestRejectedID(t *testing.T) {
	a, b := gen.RejectedID([]byte("x")), gen.RejectedID([]byte("y"))
	if a == b || len(a) != len("sha256:")+64 || a != gen.RejectedID([]byte("x")) {
		t.Fatalf("%s %s", a, b)
	}
}

func TestApplications(t *testing.T) {
	appIDs := func(o gen.Options) map[int]int {
		seen := map[int]int{}
		for _, r := range gen.Generate(o) {
			if !r.Expect.Valid {
				continue
			}
			var h struct {
				App []int `json:"application_id"`
			}
			if err := json.Unmarshal(r.Value, &h); err != nil || len(h.App) != 1 {
				t.Fatalf("application_id of %s: %v", r.Value, err)
			}
			seen[h.App[0]]++
		}
		return seen
	}
	o := opts(3)
	o.BadFraction = 0
	natural := appIDs(o)
	if len(natural) != 4 || natural[-1] == 0 || natural[42] == 0 {
		t.Fatalf("natural ids: %v, want -1, 1, 7, 42", natural)
	}
	o.Count, o.Applications = 20000, 100
	many := appIDs(o)
	if len(many) != 100 {
		t.Fatalf("%d distinct ids, want 100", len(many))
	}
	for id, n := range many {
		if id < 1 || id > 100 || n < 100 || n > 300 { // 200 expected each
			t.Fatalf("id %d drawn %d times of 20000 (want 1..100, about 200 each)", id, n)
		}
	}
	// The other fields do not depend on the option (one draw either way).
	a, b := gen.Generate(opts(5)), gen.Generate(func() gen.Options { x := opts(5); x.Applications = 100; return x }())
	for i := range a {
		if a[i].Expect != b[i].Expect {
			t.Fatalf("record %d: %+v vs %+v", i, a[i].Expect, b[i].Expect)
		}
	}
}
