package pipeline

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/hitexport/hitexport/store"
)

// dripBucket is a healthy destination on a busy machine: each Put takes
// its body a little at a time (piece bytes every pause), so an upload lasts
// much longer than DetachWait while it keeps moving.
type dripBucket struct {
	*flakyBucket
	piece int
	pause time.Duration
}

func (b *dripBucket) Put(ctx context.Context, key string, r io.Reader, size int64, o store.PutOptions) error {
	buf := make([]byte, b.piece)
	var body []byte
	for {
		n, err := r.Read(buf)
		body = append(body, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		select {
		case <-time.After(b.pause):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return b.flakyBucket.Put(ctx, key, &byteReader{b: body}, int64(len(body)), o)
}

type byteReader struct{ b []byte }

func (r *byteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// stallBucket takes the whole body, then never answers (until release): a
// hanging destination that had accepted the bytes.
type stallBucket struct {
	*flakyBucket
	release chan struct{}
}

func (b *stallBucket) Put(ctx context.Context, key string, r io.Reader, size int64, o store.PutOptions) error {
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.flakyBucket.Put(ctx, key, &byteReader{b: body}, int64(len(body)), o)
}

// A worker whose queue was empty was waiting for work: a batch handed to it
// starts its activity clock anew; one handed to a worker with a queue does
// not (a hanging worker's clock keeps running).
func TestWorkerEnqueuedActivity(t *testing.T) {
	w := &worker{}
	old := time.Now().Add(-time.Minute).UnixNano()
	w.active.Store(old)
	w.enqueued(batch{items: make([]item, 3)})
	if w.queued.Load() != 3 {
		t.Fatalf("queued %d, want 3", w.queued.Load())
	}
	if a := w.active.Load(); a <= old || time.Since(time.Unix(0, a)) > 5*time.Second {
		t.Fatalf("active not refreshed by work handed to an idle worker: %v ago", time.Since(time.Unix(0, a)))
	}
	w.active.Store(old)
	w.enqueued(batch{}) // a position-only batch weighs one
	if w.queued.Load() != 4 {
		t.Fatalf("queued %d, want 4", w.queued.Load())
	}
	if w.active.Load() != old {
		t.Fatal("active refreshed although the worker had work queued")
	}
}

// An upload that lasts several DetachWaits but keeps moving (the client
// takes its body piece by piece) keeps its target on the shared read: the
// destination's progress counts as the worker's activity. One whose
// destination took the body and then stopped answering shows no progress
// and is detached after DetachWait, as a hanging bucket must be. (The
// moving case also needs the fast target b, idle while the shared read
// waits for a, to stay attached when its queue fills: enqueued.)
func TestFanoutProgressingUploadStaysAttached(t *testing.T) {
	for _, tc := range []struct {
		name     string
		hang     bool
		wantOpen func(int) bool
	}{
		{"moving", false, func(n int) bool { return n == 1 }},
		{"stalled", true, func(n int) bool { return n >= 2 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newTestGroup(16)
			g.DetachWait = 300 * time.Millisecond
			a, b := newTgt(t, "a", g.Metrics), newTgt(t, "b", g.Metrics)
			release := make(chan struct{})
			if tc.hang {
				a.T.Uploader.Bucket = &stallBucket{flakyBucket: a.Bucket, release: release}
			} else {
				// ~33 KB per object, 1 KB every 40 ms: each upload about 1.3 s,
				// more than four times DetachWait.
				a.T.Uploader.Bucket = &dripBucket{flakyBucket: a.Bucket, piece: 1024, pause: 40 * time.Millisecond}
			}
			a.T.Settings.MaxOpenObjects = 1 // every window change uploads
			g.SetTargets([]Target{a.T, b.T}, nil)
			l := newMemLog()
			// 3000 hits one second apart: five 10-minute windows, the
			// backlog there before the fanout starts.
			produce(l, 0, 3000, 2)
			stop := startFan(t, g, l)
			defer stop()
			want := wantSeqs(0, 3000, 2, nil)
			waitFor(t, 20*time.Second, "b exact", func() error { return exact(seqs(t, b.Bucket.Memory), want) })
			if tc.hang {
				waitFor(t, 10*time.Second, "a parked", func() error {
					if st, _ := g.TargetStatus("a"); !st.Parked {
						return errString("a not parked while its destination stalls")
					}
					return nil
				})
				close(release)
			}
			waitFor(t, 30*time.Second, "a exact", func() error { return exact(seqs(t, a.Bucket.Memory), want) })
			l.mu.Lock()
			opens := append([]int64(nil), l.opens...)
			l.mu.Unlock()
			if !tc.wantOpen(len(opens)) {
				t.Fatalf("readers opened from %v", opens)
			}
			if st, _ := g.TargetStatus("a"); !tc.hang && (st.Parked || st.Failing) {
				t.Fatalf("a parked or failing while its uploads moved: %+v", st)
			}
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }
