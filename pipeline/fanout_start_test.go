package pipeline

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
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
// read starts at the earliest and every one of them stays on it — no
// catch-up reader per target (the 100-integration benchmark read each
// partition 400 times over because the one target at the end detached all
// the others). The target at the end reads on its own reader from there
// (one more reader, not one per target behind) and rejoins once the shared
// read comes near.
func TestFanoutStartsWhereMostTargetsAre(t *testing.T) {
	g := newTestGroup(50)
	logs := &syncBuffer{}
	g.Log = slog.New(slog.NewTextHandler(logs, nil))
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
	produce(l, 600, 90, 3)
	waitFor(t, 10*time.Second, "late exact", func() error { return exact(seqs(t, late.Bucket.Memory), wantSeqs(600, 690, 3, nil)) })
	for _, tg := range ts {
		waitFor(t, 10*time.Second, tg.T.ID+" exact after more", func() error { return exact(seqs(t, tg.Bucket.Memory), wantSeqs(0, 690, 3, nil)) })
	}
	waitFor(t, 10*time.Second, "late rejoined", func() error {
		if !strings.Contains(logs.String(), `msg="target caught up and rejoined the shared read" topic=hits partition=0 integration=late`) {
			return errString("late not attached yet")
		}
		return nil
	})
	// More records reach everyone once over the shared read.
	produce(l, 690, 60, 3)
	waitFor(t, 10*time.Second, "late exact at the end", func() error { return exact(seqs(t, late.Bucket.Memory), wantSeqs(600, 750, 3, nil)) })
	for _, tg := range ts {
		waitFor(t, 10*time.Second, tg.T.ID+" exact at the end", func() error { return exact(seqs(t, tg.Bucket.Memory), wantSeqs(0, 750, 3, nil)) })
	}
	l.mu.Lock()
	opens := append([]int64(nil), l.opens...)
	l.mu.Unlock()
	if len(opens) != 2 || opens[0] != 0 || opens[1] != 600 {
		t.Fatalf("opens %v: want the shared read from 0 and the late target's own from 600", opens)
	}
	for _, id := range []string{"t0", "late"} {
		if st, _ := g.TargetStatus(id); st.Parked {
			t.Fatalf("%s parked: %+v", id, st)
		}
	}
}

// The targets at the earliest offset are slow (every upload drips for
// longer than DetachWait, so they stay attached but the shared read moves
// at their pace); the one far ahead of them is not held back: what is
// produced after the start reaches it while the others still work through
// the backlog.
func TestFanoutTargetAheadNotHeldBack(t *testing.T) {
	g := newTestGroup(50)
	g.DetachWait = 2 * time.Second
	var slow []*tgt
	targets := []Target{}
	for i := range 3 {
		tg := newTgt(t, fmt.Sprintf("s%d", i), g.Metrics)
		// ~33 KB objects at 1 KB per 100 ms: over 3 s each.
		tg.T.Uploader.Bucket = &dripBucket{flakyBucket: tg.Bucket, piece: 1024, pause: 100 * time.Millisecond}
		tg.T.Settings.MaxOpenObjects = 1
		slow = append(slow, tg)
		targets = append(targets, tg.T)
	}
	live := newTgt(t, "live", g.Metrics)
	live.T.Start = StartPolicy{Mode: StartLatest}
	targets = append(targets, live.T)
	g.SetTargets(targets, nil)
	l := newMemLog()
	produce(l, 0, 3000, 2) // five windows of backlog for the slow ones
	stop := startFan(t, g, l)
	defer stop()
	produce(l, 3000, 30, 2)
	start := time.Now()
	waitFor(t, 10*time.Second, "live exact", func() error { return exact(seqs(t, live.Bucket.Memory), wantSeqs(3000, 3030, 2, nil)) })
	took := time.Since(start)
	if took > 2*time.Second {
		t.Fatalf("the live target got the new records after %s: held back by the slow ones", took)
	}
	for _, tg := range slow {
		if err := exact(seqs(t, tg.Bucket.Memory), wantSeqs(0, 3030, 2, nil)); err == nil {
			t.Fatalf("%s already done after %s: the test did not hold the shared read back", tg.T.ID, took)
		}
	}
	for _, tg := range slow {
		waitFor(t, 60*time.Second, tg.T.ID+" exact", func() error { return exact(seqs(t, tg.Bucket.Memory), wantSeqs(0, 3030, 2, nil)) })
	}
	l.mu.Lock()
	opens := append([]int64(nil), l.opens...)
	l.mu.Unlock()
	if len(opens) != 2 || opens[0] != 0 || opens[1] != 3000 {
		t.Fatalf("opens %v: want the shared read from 0 and the live target's own from 3000", opens)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
