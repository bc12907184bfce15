package pipeline

import (
	"fmt"
	"testing"
	"time"
)

// The last chunks of a partition hold none of target a's records while a's
// queue is full (a is slow: its uploads drip): the fanout cannot hand it
// their position then. Once a has worked through its queue it must still
// learn that the partition was read to the end and commit there, though no
// record ever comes again (before sendPositions its commit stayed at its
// last record: lag on a quiet partition, and the integrations benchmark
// waited for the commit forever).
func TestFanoutPositionReachesFullWorker(t *testing.T) {
	g := newTestGroup(1) // a queue of one batch: full whenever a is busy
	a, b := newTgt(t, "a", g.Metrics), newTgt(t, "b", g.Metrics)
	// ~16 KB objects at 512 B per 50 ms: a is busy uploading (and its
	// queue full) while the last chunks go by; its progress keeps it
	// attached.
	a.T.Uploader.Bucket = &dripBucket{flakyBucket: a.Bucket, piece: 512, pause: 50 * time.Millisecond}
	a.T.Settings.MaxOpenObjects = 1
	g.SetTargets([]Target{a.T, b.T}, appSelector([][]int{{0}, nil}))
	l := newMemLog()
	produce(l, 0, 3000, 2) // a: the even ones
	// Then 600 records none of which is a's.
	vs := make([]string, 600)
	for i := range vs {
		vs[i] = hitJSON(3000+i, 1)
	}
	l.add(fanBase.Add(3600*time.Second), vs...)
	end := l.end()
	stop := startFan(t, g, l)
	defer stop()
	waitFor(t, 20*time.Second, "b exact", func() error { return exact(seqs(t, b.Bucket.Memory), wantSeqs(0, int(end), 2, nil)) })
	waitFor(t, 30*time.Second, "a exact", func() error { return exact(seqs(t, a.Bucket.Memory), wantSeqs(0, 3000, 2, []int{0})) })
	waitFor(t, 10*time.Second, "a committed at the end", func() error {
		if c, _ := l.committed("itg-a"); c != end {
			return fmt.Errorf("a committed %d, want %d", c, end)
		}
		return nil
	})
}
