package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hitexport/hitexport/store"
)

// statSlowBucket answers every Stat after delay: each upload stays in flight
// that long while the partition reads on (two uploads in flight).
type statSlowBucket struct {
	*flakyBucket
	delay time.Duration
}

func (b *statSlowBucket) Stat(ctx context.Context, key string) (store.ObjectInfo, error) {
	select {
	case <-time.After(b.delay):
	case <-ctx.Done():
		return store.ObjectInfo{}, ctx.Err()
	}
	return b.flakyBucket.Stat(ctx, key)
}

// A target re-reads records an earlier owner of the partition already
// uploaded without committing them (a consumer-group generation ended while
// its upload was in flight: the bench's 100-integration round at 06:25 had
// three generations). Here the new owner starts far behind the shared read,
// so it re-reads on its catch-up reader. Its first object of window W0 is
// cut short (a record of the next window closes W0 at once), and its upload
// finds the earlier owner's object under the same key with more records
// (superseded). While that upload is in flight the partition reads on: the
// rest of W0's records must be recognised as already in the bucket, not
// written again in a late object starting at an offset already uploaded.
func TestCatchUpSupersededUploadInFlightNoDuplicate(t *testing.T) {
	g := newTestGroup(16)
	a, b := newTgt(t, "a", g.Metrics), newTgt(t, "b", g.Metrics)
	l := newMemLog()
	// offset 0: seq 0 (W0); offset 1: seq 700 (W1: closes W0 with no
	// lateness); offsets 2-10: seqs 1-9 (W0, late for the new owner);
	// offsets 11-40: seqs 701-730 (W1).
	vs := []string{hitJSON(0, 0), hitJSON(700, 0)}
	for i := 1; i <= 9; i++ {
		vs = append(vs, hitJSON(i, 0))
	}
	for i := 701; i <= 730; i++ {
		vs = append(vs, hitJSON(i, 0))
	}
	l.add(fanBase, vs...)
	end := l.end()

	// The earlier owner of b: W0 stayed open for it (an hour of allowed
	// lateness), so its W0 object holds offsets 0 and 2-10 (seqs 0-9) under
	// the key of first offset 0; it uploaded and never committed.
	prev := *b.T.Settings
	prev.AllowedLateness = time.Hour
	pp := NewPartition("hits", 0, &prev, PartitionDeps{Uploader: &Uploader{Bucket: b.Bucket, Schedule: b.T.Uploader.Schedule}}, 0, CommitState{})
	l.mu.Lock()
	recs := append([]Message(nil), l.recs[:11]...)
	l.mu.Unlock()
	for _, m := range recs {
		if err := pp.Handle(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	if err := pp.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	pp.Close()
	if n := len(b.Bucket.Keys()); n != 2 {
		t.Fatalf("earlier owner's objects: %v", b.Bucket.Keys())
	}

	// b resumes at its commit 0 (far behind a at 30: detached, catch-up
	// reader); its uploads stay in flight 300ms each.
	b.T.Uploader.Bucket = &statSlowBucket{flakyBucket: b.Bucket, delay: 300 * time.Millisecond}
	l.commits["itg-a"], l.commits["itg-b"] = 30, 0
	g.SetTargets([]Target{a.T, b.T}, nil)
	stop := startFan(t, g, l)
	defer stop()
	for _, tg := range []*tgt{a, b} {
		waitFor(t, 10*time.Second, tg.T.ID+" committed to the end", func() error {
			if c, _ := l.committed(tg.T.Group); c != end {
				return fmt.Errorf("committed %d", c)
			}
			return nil
		})
	}
	// Committed to the end: nothing open or in flight any more.
	want := wantSeqs(0, 10, 1, nil)
	for s := 700; s <= 730; s++ {
		want[s] = true
	}
	if err := exact(seqs(t, b.Bucket.Memory), want); err != nil {
		t.Fatalf("b: %v (objects %v)", err, b.Bucket.Keys())
	}
	if err := exact(seqs(t, a.Bucket.Memory), wantSeqs(720, 731, 1, nil)); err != nil {
		t.Fatalf("a: %v", err)
	}
	l.mu.Lock()
	opens := len(l.opens)
	l.mu.Unlock()
	if opens != 2 {
		t.Fatalf("readers opened %d: want the shared read and b's catch-up reader", opens)
	}
}

// hangToggleBucket is a destination that, while hung, answers nothing (Stat and
// Put wait), and while down fails at once (flakyBucket).
type hangToggleBucket struct {
	*flakyBucket
	hung atomic.Bool
}

func (b *hangToggleBucket) wait(ctx context.Context) error {
	for b.hung.Load() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

func (b *hangToggleBucket) Stat(ctx context.Context, key string) (store.ObjectInfo, error) {
	if err := b.wait(ctx); err != nil {
		return store.ObjectInfo{}, err
	}
	return b.flakyBucket.Stat(ctx, key)
}

func (b *hangToggleBucket) Put(ctx context.Context, key string, r io.Reader, size int64, o store.PutOptions) error {
	if err := b.wait(ctx); err != nil {
		return err
	}
	return b.flakyBucket.Put(ctx, key, r, size, o)
}

// lateHit is hit seq of application app with event time at (seconds after
// fanBase), whatever its seq.
func lateHit(seq, app, at int) string {
	return fmt.Sprintf(`{"time":"%d","application_id":%d,"seq":%d}`, fanBase.Unix()+int64(at), app, seq)
}

// Live traffic with late records, tiny queues and a short DetachWait, while
// two targets' destinations hang (no answer: detached after DetachWait) and
// fail (detached at once) in turns: they are detached, catch up on their
// own readers and rejoin again and again — the detach offset against what
// they had queued, the catch-up reader handing records up to the published
// next offset, the re-attach position, late objects of windows already
// closed and uploaded, two uploads in flight. Every bucket ends exact: no
// hit missing, none twice.
func TestCatchUpStressRepeatedDetachAttachExact(t *testing.T) {
	g := newTestGroup(4)
	g.DetachWait = 30 * time.Millisecond
	logs := &syncBuffer{}
	g.Log = slog.New(slog.NewTextHandler(logs, nil))
	apps := [][]int{nil, {0, 1}, nil, {2}}
	var ts []Target
	var all []*tgt
	var gates []*hangToggleBucket
	for _, id := range []string{"a", "b", "c", "d"} {
		tg := newTgt(t, id, g.Metrics)
		tg.T.Settings.MaxOpenObjects = 2       // window changes upload often
		tg.T.Settings.MaxObjectBytes = 1 << 10 // and so does size: about 20 hits an object
		tg.T.Settings.LateMaxAge = 100 * time.Millisecond
		if id == "b" || id == "d" {
			gb := &hangToggleBucket{flakyBucket: tg.Bucket}
			gates = append(gates, gb)
			tg.T.Uploader.Bucket = gb
		}
		all = append(all, tg)
		ts = append(ts, tg.T)
	}
	g.SetTargets(ts, appSelector(apps))
	l := newMemLog()
	stop := startFan(t, g, l)
	defer stop()

	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	const appsN = 3
	seq, at := 0, 0
	for round := 0; round < 30; round++ {
		// Each gated destination in turn: hung for 3 rounds, healthy for
		// 2, down for 3, healthy for 2 (the second one shifted by 5).
		for i, gb := range gates {
			switch ph := (round + 5*i) % 10; {
			case ph < 3:
				gb.down.Store(false)
				gb.hung.Store(true)
			case ph >= 5 && ph < 8:
				gb.hung.Store(false)
				gb.down.Store(true)
			default:
				gb.hung.Store(false)
				gb.down.Store(false)
			}
		}
		var vs []string
		for i := 0; i < 50; i++ {
			ev := at
			if rng.Intn(8) == 0 && at > 700 {
				ev = at - 650 - rng.Intn(300) // a window or two back: late once it closed
			}
			vs = append(vs, lateHit(seq, seq%appsN, ev))
			seq++
			at += 3 // 200 hits per 10-minute window
		}
		l.add(fanBase.Add(time.Duration(at)*time.Second), vs...) // Kafka time: no hit an hour in the future
		time.Sleep(time.Duration(30+rng.Intn(30)) * time.Millisecond)
	}
	for _, gb := range gates {
		gb.hung.Store(false)
		gb.down.Store(false)
	}
	end := l.end()
	for i, tg := range all {
		waitFor(t, 15*time.Second, tg.T.ID+" committed to the end", func() error {
			if c, _ := l.committed(tg.T.Group); c != end {
				return fmt.Errorf("committed %d of %d", c, end)
			}
			return nil
		})
		// Committed to the end: nothing open or in flight any more.
		if err := exact(seqs(t, tg.Bucket.Memory), wantSeqs(0, seq, appsN, apps[i])); err != nil {
			t.Fatalf("%s: %v", tg.T.ID, err)
		}
	}
	rejoins := strings.Count(logs.String(), "rejoined the shared read")
	l.mu.Lock()
	opens := len(l.opens)
	l.mu.Unlock()
	t.Logf("readers opened %d, rejoins %d", opens, rejoins)
	if opens < 4 || rejoins < 3 {
		t.Fatalf("readers opened %d, rejoins %d: the hung and failing targets were not detached and rejoined repeatedly", opens, rejoins)
	}
}
