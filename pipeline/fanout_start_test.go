package pipeline

import (
	"fmt"
	"testing"
	"time"
)

func TestSharedStart(t *testing.T) {
	for _, c := range []struct {
		name      string
		positions []int64
		queue     int64
		want      int64
	}{
		{"none", nil, 100, -1},
		{"one", []int64{42}, 100, 42},
		{"all within one queue: the lowest", []int64{150, 100, 190}, 100, 100},
		// The rejected-records sink starts at the latest offset; the
		// integrations at the earliest must not all be detached for it.
		{"many at the start, one at the end", []int64{0, 0, 0, 5000}, 100, 0},
		{"one far behind, many up to date", []int64{0, 5000, 5010, 5020}, 100, 5000},
		{"tie: the group further on", []int64{0, 800}, 50, 800},
		{"tie of pairs: the group further on", []int64{0, 10, 800, 810}, 50, 800},
		{"largest group in the middle", []int64{0, 500, 510, 520, 900}, 50, 500},
		{"first offset counts as lowest", []int64{-1, 10, 20}, 100, -1},
		{"a group spans exactly one queue", []int64{0, 100, 250}, 100, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := sharedStart(c.positions, c.queue); got != c.want {
				t.Fatalf("sharedStart(%v, %d) = %d, want %d", c.positions, c.queue, got, c.want)
			}
		})
	}
}

// Many targets starting at the earliest offset next to one at the end of
// the partition (the rejected-records sink starts at the latest): the shared
// read starts at the earliest and every target stays on it — no catch-up
// reader per target (the 100-integration benchmark read each partition 400
// times over because the one target at the end detached all the others).
func TestFanoutStartsWhereMostTargetsAre(t *testing.T) {
	g := newTestGroup(50)
	var ts []*tgt
	var targets []Target
	for i := range 5 {
		tg := newTgt(t, fmt.Sprintf("t%d", i), g.Metrics)
		ts = append(ts, tg)
		targets = append(targets, tg.T)
	}
	late := newTgt(t, "late", g.Metrics)
	late.T.Start = StartPolicy{Mode: StartLatest}
	targets = append(targets, late.T)
	g.SetTargets(targets, nil)
	l := newMemLog()
	produce(l, 0, 600, 3)
	stop := startFan(t, g, l)
	defer stop()
	for _, tg := range ts {
		waitFor(t, 10*time.Second, tg.T.ID+" exact", func() error { return exact(seqs(t, tg.Bucket.Memory), wantSeqs(0, 600, 3, nil)) })
	}
	// The late target skipped until the shared read reached its position;
	// what comes next reaches it (and the others) once.
	produce(l, 600, 90, 3)
	waitFor(t, 10*time.Second, "late exact", func() error { return exact(seqs(t, late.Bucket.Memory), wantSeqs(600, 690, 3, nil)) })
	for _, tg := range ts {
		waitFor(t, 10*time.Second, tg.T.ID+" exact after more", func() error { return exact(seqs(t, tg.Bucket.Memory), wantSeqs(0, 690, 3, nil)) })
	}
	l.mu.Lock()
	opens := append([]int64(nil), l.opens...)
	l.mu.Unlock()
	if len(opens) != 1 || opens[0] != 0 {
		t.Fatalf("opens %v: want only the shared read, from 0", opens)
	}
	if st, _ := g.TargetStatus("t0"); st.Parked {
		t.Fatalf("t0 parked: %+v", st)
	}
}
