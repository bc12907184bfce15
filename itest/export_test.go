//go:build integration

package itest

import (
	"context"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/pipeline"
	"github.com/hitexport/hitexport/store"
)

// TestExportEndToEnd produces hits over several partitions and windows, runs
// the exporter until every offset is committed, and checks the bucket: every
// valid hit exactly once in the object of its window, every malformed record
// in a rejected object with its reason, committed offsets at the end offsets.
//
// layout "" is the default (window: one object per window); the partition
// layout keeps an end-to-end run of its own.
func TestExportEndToEnd(t *testing.T) {
	for _, tc := range []struct{ format, comp, layout string }{
		{"ndjson", "none", ""}, {"json", "gzip", ""}, {"ndjson", "zstd", ""}, {"ndjson", "gzip", "partition"},
	} {
		name := tc.format + "-" + tc.comp
		if tc.layout != "" {
			name += "-" + tc.layout
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, 4)
			recs := gen.Generate(pastHour(1, 6000))
			e.produce(recs)
			extra := map[string]string{"HITEXPORT_FORMAT": tc.format, "HITEXPORT_COMPRESSION": tc.comp}
			layout := tc.layout
			if layout == "" {
				layout = "window"
				if l := os.Getenv("HITEXPORT_IT_LAYOUT"); l != "" {
					layout = l
				}
			} else {
				extra["HITEXPORT_LAYOUT"] = layout
			}
			x := e.start(extra)
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
			// The keys are the layout's: hitlogs-<window s>[_late-NNN]<ext>
			// (one per window) or hitlogs-<window s>-<topic>-<partition>-<first offset><ext>.
			hits, windows := 0, map[int64]bool{}
			_ = e.bucket.List(context.Background(), "", func(o store.ObjectInfo) error {
				if pipeline.IsInternalKey(o.Key) || strings.HasPrefix(o.Key, "rejected/") {
					return nil
				}
				hits++
				if layout == "window" {
					wk, ok := pipeline.ParseWindowKey(o.Key)
					if !ok {
						t.Errorf("window layout: key %s is not hitlogs-<window s>[_late-NNN]<ext>", o.Key)
					} else if wk.Late == 0 {
						if windows[wk.Window] {
							t.Errorf("window layout: two objects of window %d", wk.Window)
						}
						windows[wk.Window] = true
					}
				} else if _, ok := pipeline.ParseKey(o.Key); !ok || !strings.Contains(o.Key, e.topic) {
					t.Errorf("partition layout: key %s does not name the topic and partition", o.Key)
				}
				return nil
			})
			t.Logf("layout %s: %d objects of hits, %d windows", layout, hits, len(windows))
			if layout == "window" && (len(windows) < 6 || hits < len(windows)) {
				t.Errorf("window layout: %d objects for %d windows", hits, len(windows))
			}
			if layout == "partition" && hits < 6*e.parts {
				t.Errorf("partition layout: %d objects, want one per window and partition at least (%d)", hits, 6*e.parts)
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
