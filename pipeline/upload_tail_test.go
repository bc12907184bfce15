package pipeline

import (
	"context"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/hits"
	"github.com/hitexport/hitexport/store"
)

// gateBucket holds every Put until the test releases its key.
type gateBucket struct {
	*store.Memory
	arrived chan string
	mu      sync.Mutex
	gates   map[string]chan struct{}
}

func newGateBucket() *gateBucket {
	return &gateBucket{Memory: store.NewMemory("gate"), arrived: make(chan string, 16), gates: map[string]chan struct{}{}}
}

func (b *gateBucket) gate(key string) chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	g := b.gates[key]
	if g == nil {
		g = make(chan struct{})
		b.gates[key] = g
	}
	return g
}

func (b *gateBucket) Put(ctx context.Context, key string, r io.Reader, size int64, o store.PutOptions) error {
	g := b.gate(key)
	b.arrived <- key
	select {
	case <-g:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.Memory.Put(ctx, key, r, size, o)
}

func (b *gateBucket) release(key string) { close(b.gate(key)) }

// next is the key of the next Put to arrive.
func (b *gateBucket) next(t *testing.T) string {
	t.Helper()
	select {
	case k := <-b.arrived:
		return k
	case <-time.After(5 * time.Second):
		t.Fatal("no upload started")
		return ""
	}
}

type tailCommits struct {
	mu   sync.Mutex
	offs []int64
}

func (c *tailCommits) commit(ctx context.Context, off int64, _ CommitState) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offs = append(c.offs, off)
	return nil
}

func (c *tailCommits) last() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.offs) == 0 {
		return -1
	}
	return c.offs[len(c.offs)-1]
}

// tailPartition: every record is an object of its own (MaxObjectBytes 1),
// uploaded with at most two in flight.
func tailPartition(t *testing.T, b store.Bucket, c *tailCommits, stager *Stager) *Partition {
	enc, err := encoders.New("ndjson")
	if err != nil {
		t.Fatal(err)
	}
	s := &Settings{
		Layout:          Layout{Encoder: enc, Compression: encoders.None, Window: 10 * time.Minute},
		AllowedLateness: time.Minute, IdleTimeout: time.Hour, LateMaxAge: time.Hour,
		Limits:         hits.Limits{MaxBytes: 1 << 20, MaxFuture: time.Hour},
		MaxObjectBytes: 1, MaxOpenObjects: 16, SpoolMemory: 1 << 20, SpoolDir: t.TempDir(), Tick: time.Hour,
		Stager: stager,
	}
	up := &Uploader{Bucket: b, Schedule: [][]time.Duration{{time.Millisecond}}}
	return NewPartition("hits", 0, s, PartitionDeps{Uploader: up, Commit: c.commit, Uploads: 2}, 0, CommitState{})
}

var tailT0 = time.Now().Add(-2 * time.Hour).Truncate(time.Hour)

func tailMsg(off int64) Message {
	ms := tailT0.UnixMilli() + off*1000
	return Message{Offset: off, Time: time.UnixMilli(ms), Value: []byte(`{"time":` + strconv.FormatInt(ms, 10) + `,"n":1}`)}
}

// Two objects upload while the partition reads on; a third waits for a
// slot. An object that finishes before an earlier one does not move the
// commit past the earlier one's records; once all are in, the commit is
// past the last record.
func TestPartitionUploadsInFlight(t *testing.T) {
	b, c := newGateBucket(), &tailCommits{}
	p := tailPartition(t, b, c, nil)
	ctx := context.Background()
	if err := p.Handle(ctx, tailMsg(0)); err != nil {
		t.Fatal(err)
	}
	k0 := b.next(t)
	// The first upload hangs: the partition reads on.
	if err := p.Handle(ctx, tailMsg(1)); err != nil {
		t.Fatal(err)
	}
	k1 := b.next(t)
	if k0 == k1 {
		t.Fatalf("one key for two objects: %s", k0)
	}
	// Two in flight: the third object's flush waits for a slot.
	done := make(chan error, 1)
	go func() { done <- p.Handle(ctx, tailMsg(2)) }()
	select {
	case err := <-done:
		t.Fatalf("third object did not wait for a slot (err %v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	// The later object finishes first: a slot frees, the commit stays below
	// the earlier object's first record.
	b.release(k1)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("third object never started after a slot freed")
	}
	k2 := b.next(t)
	if got := c.last(); got > 0 {
		t.Fatalf("committed %d while the object of offset 0 is not uploaded", got)
	}
	b.release(k0)
	b.release(k2)
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.last(); got != 3 {
		t.Fatalf("commit after every upload: %d, want 3 (commits %v)", got, c.offs)
	}
	for i := 1; i < len(c.offs); i++ {
		if c.offs[i] < c.offs[i-1] {
			t.Fatalf("commits went back: %v", c.offs)
		}
	}
	if n := len(b.Keys()); n != 3 {
		t.Fatalf("%d objects in the bucket, want 3", n)
	}
	p.Close()
}

// Close waits for an upload in flight: on a soft stop it completes and is
// committed; when its context ended it fails and nothing is committed past
// its records.
func TestPartitionCloseWaitsForUploads(t *testing.T) {
	b, c := newGateBucket(), &tailCommits{}
	p := tailPartition(t, b, c, nil)
	if err := p.Handle(context.Background(), tailMsg(0)); err != nil {
		t.Fatal(err)
	}
	k := b.next(t)
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned with an upload in flight")
	case <-time.After(100 * time.Millisecond):
	}
	b.release(k)
	<-closed
	if got := c.last(); got != 1 {
		t.Fatalf("commit after the soft stop: %d, want 1", got)
	}

	b2, c2 := newGateBucket(), &tailCommits{}
	p2 := tailPartition(t, b2, c2, nil)
	ctx, cancel := context.WithCancel(context.Background())
	if err := p2.Handle(ctx, tailMsg(0)); err != nil {
		t.Fatal(err)
	}
	b2.next(t)
	cancel()
	p2.Close()
	if got := c2.last(); got > 0 {
		t.Fatalf("committed %d past an upload that never finished", got)
	}
	if n := len(b2.Keys()); n != 0 {
		t.Fatalf("%d objects in the bucket after a cancelled upload", n)
	}
}

// The window layout uploads while it reads too, and its progress marker
// counts the window of a part still in flight as open: the merger must not
// merge a window before all its parts are in the bucket.
func TestPartitionWindowLayoutPartsInFlight(t *testing.T) {
	b, c := newGateBucket(), &tailCommits{}
	stage := store.NewMemory("stage")
	p := tailPartition(t, b, c, &Stager{Bucket: stage})
	ctx := context.Background()
	part := func() string { // the next part's key; its offsets index let through
		for {
			k := b.next(t)
			if strings.HasPrefix(k, "_hitexport/offsets/") {
				b.release(k)
				continue
			}
			return k
		}
	}
	marker := func() Progress {
		pr, err := ReadProgressMarker(ctx, stage, progressKey("hits", 0))
		if err != nil {
			t.Fatal(err)
		}
		return pr
	}
	if err := p.Handle(ctx, tailMsg(0)); err != nil {
		t.Fatal(err)
	}
	k0 := part()
	// A record 30 minutes later closes window 0 while its part uploads.
	if err := p.Handle(ctx, tailMsg(1800)); err != nil {
		t.Fatal(err)
	}
	k1 := part()
	if err := p.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	w0 := tailT0.UnixMilli()
	if pr := marker(); pr.ClosedBefore > w0 {
		t.Fatalf("marker claims windows before %d closed while the part of window %d is in flight", pr.ClosedBefore, w0)
	}
	b.release(k0)
	b.release(k1)
	if err := p.waitUploads(); err != nil {
		t.Fatal(err)
	}
	// Applying the uploads moves the marker (after their commit), no tick
	// needed: a stop right after the commit must find it moved.
	if pr := marker(); pr.ClosedBefore < w0+(10*time.Minute).Milliseconds() {
		t.Fatalf("marker closed before %d once the parts are in, want at least the end of window %d", pr.ClosedBefore, w0)
	}
	if got := c.last(); got != 1801 {
		t.Fatalf("commit %d, want 1801", got)
	}
	p.Close()
}
