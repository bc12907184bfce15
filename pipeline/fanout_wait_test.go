package pipeline

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/hitexport/hitexport/store"
)

// slowBucket is a healthy destination whose every Put takes delay.
type slowBucket struct {
	*flakyBucket
	delay time.Duration
}

func (b *slowBucket) Put(ctx context.Context, key string, r io.Reader, size int64, o store.PutOptions) error {
	time.Sleep(b.delay)
	return b.flakyBucket.Put(ctx, key, r, size, o)
}

// A backlog read faster than a healthy but slow target uploads fills its
// queue during each upload; the shared read waits for it (DetachWait)
// instead of detaching it, so the partition is read once. With no wait
// (DetachWait < 0) the same backlog detaches it: a second reader.
func TestFanoutSlowHealthyTargetStaysAttached(t *testing.T) {
	for _, tc := range []struct {
		name      string
		wait      time.Duration
		wantOpens func(int) bool
	}{
		{"default wait", 0, func(n int) bool { return n == 1 }},
		{"no wait", -1, func(n int) bool { return n >= 2 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newTestGroup(16)
			g.DetachWait = tc.wait
			a, b := newTgt(t, "a", g.Metrics), newTgt(t, "b", g.Metrics)
			a.T.Uploader.Bucket = &slowBucket{flakyBucket: a.Bucket, delay: 40 * time.Millisecond}
			a.T.Settings.MaxOpenObjects = 1 // every window change uploads
			g.SetTargets([]Target{a.T, b.T}, nil)
			l := newMemLog()
			// 3000 hits, one second apart: five 10-minute windows, the
			// backlog there before the fanout starts.
			produce(l, 0, 3000, 2)
			stop := startFan(t, g, l)
			defer stop()
			want := wantSeqs(0, 3000, 2, nil)
			for _, tg := range []*tgt{a, b} {
				waitFor(t, 20*time.Second, tg.T.ID+" exact", func() error { return exact(seqs(t, tg.Bucket.Memory), want) })
			}
			l.mu.Lock()
			opens := len(l.opens)
			l.mu.Unlock()
			if !tc.wantOpens(opens) {
				t.Fatalf("readers opened: %d (%v)", opens, l.opens)
			}
		})
	}
}

// hangBucket's Puts block until release is closed (a destination that
// accepts the connection and never answers).
type hangBucket struct {
	*flakyBucket
	release chan struct{}
}

func (b *hangBucket) Put(ctx context.Context, key string, r io.Reader, size int64, o store.PutOptions) error {
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.flakyBucket.Put(ctx, key, r, size, o)
}

// Five destinations hang at the same moment: each is detached once its
// worker has been stuck for DetachWait, measured from its own last
// activity, so the healthy target is held up about DetachWait in all, not
// five times it; the hung ones deliver everything once released.
func TestFanoutHangingTargetsDetachTogether(t *testing.T) {
	g := newTestGroup(16)
	g.DetachWait = time.Second
	release := make(chan struct{})
	healthy := newTgt(t, "ok", g.Metrics)
	all := []*tgt{healthy}
	ts := []Target{healthy.T}
	for i := 0; i < 5; i++ {
		h := newTgt(t, fmt.Sprintf("hang%d", i), g.Metrics)
		h.T.Uploader.Bucket = &hangBucket{flakyBucket: h.Bucket, release: release}
		h.T.Settings.MaxOpenObjects = 1
		all = append(all, h)
		ts = append(ts, h.T)
	}
	g.SetTargets(ts, nil)
	l := newMemLog()
	produce(l, 0, 3000, 2)
	start := time.Now()
	stop := startFan(t, g, l)
	defer stop()
	want := wantSeqs(0, 3000, 2, nil)
	waitFor(t, 20*time.Second, "healthy exact", func() error { return exact(seqs(t, healthy.Bucket.Memory), want) })
	if took := time.Since(start); took > 4*time.Second {
		t.Fatalf("the healthy target took %s with five hung ones (DetachWait 1s): the waits added up", took)
	}
	for _, h := range all[1:] {
		if st, _ := g.TargetStatus(h.T.ID); !st.Parked {
			t.Fatalf("%s not parked while hung: %+v", h.T.ID, st)
		}
	}
	close(release)
	for _, h := range all[1:] {
		waitFor(t, 20*time.Second, h.T.ID+" exact after release", func() error { return exact(seqs(t, h.Bucket.Memory), want) })
	}
}

// The default queue is divided among the partition's targets (at least 256
// slots); an explicit TargetQueue is kept as it is.
func TestFanoutDefaultQueueShared(t *testing.T) {
	for _, tc := range []struct {
		queue, targets, want int
	}{
		{0, 4, 1024},
		{0, 40, 256},
		{16, 4, 16},
	} {
		g := newTestGroup(tc.queue)
		var ts []Target
		for i := 0; i < tc.targets; i++ {
			ts = append(ts, newTgt(t, fmt.Sprintf("t%d", i), g.Metrics).T)
		}
		g.SetTargets(ts, nil)
		stop := startFan(t, g, newMemLog())
		var f *fanout
		waitFor(t, 5*time.Second, "fanout running", func() error {
			if f = fanFor(g); f == nil {
				return fmt.Errorf("no fanout yet")
			}
			return nil
		})
		stop() // the fanout has returned: its workers can be read
		if len(f.workers) != tc.targets {
			t.Fatalf("%d workers, want %d", len(f.workers), tc.targets)
		}
		for id, w := range f.workers {
			if cap(w.ch) != tc.want {
				t.Errorf("TargetQueue %d, %d targets: %s's queue %d, want %d", tc.queue, tc.targets, id, cap(w.ch), tc.want)
			}
		}
	}
}
