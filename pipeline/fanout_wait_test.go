package pipeline

import (
	"context"
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
