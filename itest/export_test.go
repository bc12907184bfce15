//go:build integration

package itest

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hitexport/hitexport/gen"
)

// TestExportEndToEnd produces hits over several partitions and windows, runs
// the exporter until every offset is committed, and checks the bucket: every
// valid hit exactly once in the object of its window, every malformed record
// in a rejected object with its reason, committed offsets at the end offsets.
func TestExportEndToEnd(t *testing.T) {
	for _, tc := range []struct{ format, comp string }{{"ndjson", "none"}, {"json", "gzip"}, {"ndjson", "zstd"}} {
		t.Run(tc.format+"-"+tc.comp, func(t *testing.T) {
			e := newEnv(t, 4)
			recs := gen.Generate(pastHour(1, 6000))
			e.produce(recs)
			x := e.start(map[string]string{"HITEXPORT_FORMAT": tc.format, "HITEXPORT_COMPRESSION": tc.comp})
			e.waitCommitted(2*time.Minute, x)
			x.stop(t, 30*time.Second)
			rep := e.check(recs, 10*time.Minute)
			t.Logf("report: %+v", rep)
			if !rep.OK() {
				t.Fatalf("invariants violated: %+v\n%s", rep, tail(x.out.String(), 3000))
			}
			if rep.HitsInBucket != rep.ProducedValid || rep.RejectedInBucket != rep.ProducedRejected || rep.ProducedRejected == 0 {
				t.Fatalf("counts: %+v", rep)
			}
		})
	}
}

// TestExportRestart kills the exporter (SIGKILL) while it works and starts it
// again, several times; the result must be the same as an undisturbed run.
func TestExportRestart(t *testing.T) {
	e := newEnv(t, 3)
	recs := gen.Generate(pastHour(2, 9000))
	e.produce(recs[:len(recs)/2])
	r := rand.New(rand.NewPCG(7, 7))
	extra := map[string]string{"HITEXPORT_MAX_OBJECT_BYTES": "1048576"}
	for i := 0; i < 3; i++ {
		x := e.start(extra)
		time.Sleep(time.Duration(500+r.IntN(1500)) * time.Millisecond)
		x.kill()
		if i == 1 {
			e.produce(recs[len(recs)/2:])
		}
	}
	x := e.start(extra)
	e.waitCommitted(2*time.Minute, x)
	x.stop(t, 30*time.Second)
	rep := e.check(recs, 10*time.Minute)
	t.Logf("report: %+v", rep)
	if !rep.OK() {
		t.Fatalf("invariants violated: %+v\n%s", rep, tail(x.out.String(), 3000))
	}
}
