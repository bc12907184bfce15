package pipeline

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hitexport/hitexport/store"
)

// gatedCommits holds every commit until the test lets one through, and
// records how many were in flight at once.
type gatedCommits struct {
	started chan int64
	gate    chan error // one value lets one commit finish with that error

	mu       sync.Mutex
	offs     []int64 // commits that succeeded, in order
	urgent   []bool  // of every commit started, whether it was urgent
	inFlight int
	most     int
}

func newGatedCommits() *gatedCommits {
	return &gatedCommits{started: make(chan int64, 16), gate: make(chan error)}
}

func (c *gatedCommits) commit(ctx context.Context, off int64, _ CommitState) error {
	c.mu.Lock()
	c.urgent = append(c.urgent, isUrgentCommit(ctx))
	c.inFlight++
	c.most = max(c.most, c.inFlight)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.inFlight--
		c.mu.Unlock()
	}()
	c.started <- off
	select {
	case err := <-c.gate:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	c.mu.Lock()
	c.offs = append(c.offs, off)
	c.mu.Unlock()
	return nil
}

// next is the offset of the next commit to start.
func (c *gatedCommits) next(t *testing.T) int64 {
	t.Helper()
	select {
	case off := <-c.started:
		return off
	case <-time.After(5 * time.Second):
		t.Fatal("no commit started")
		return -1
	}
}

func (c *gatedCommits) none(t *testing.T) {
	t.Helper()
	select {
	case off := <-c.started:
		t.Fatalf("a commit of %d started while another was in flight", off)
	case <-time.After(50 * time.Millisecond):
	}
}

func (c *gatedCommits) done() ([]int64, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int64(nil), c.offs...), c.most
}

// asyncPartition is tailPartition (an object per record, two uploads in
// flight) with asynchronous commits.
func asyncPartition(t *testing.T, b store.Bucket, c *gatedCommits, stager *Stager) *Partition {
	p := tailPartition(t, b, &tailCommits{}, stager)
	p.commit = c.commit
	p.s.CommitInterval = time.Second
	p.commitRes = make(chan commitResult, 1)
	return p
}

// reapUntil calls reap until cond holds.
func reapUntil(t *testing.T, p *Partition, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		if err := p.reap(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
}

// With CommitInterval the partition reads on while its commit is in
// flight; a commit asked for meanwhile goes once the first is answered,
// with the newer offset; never two at once.
func TestPartitionAsyncCommitReadsOn(t *testing.T) {
	b, c := store.NewMemory("b"), newGatedCommits()
	p := asyncPartition(t, b, c, nil)
	ctx := context.Background()
	if err := p.Handle(ctx, tailMsg(0)); err != nil {
		t.Fatal(err)
	}
	if err := p.waitUploads(); err != nil {
		t.Fatal(err)
	}
	if off := c.next(t); off != 1 {
		t.Fatalf("first commit %d, want 1", off)
	}
	// The commit hangs; the partition goes on: two more objects uploaded.
	for _, off := range []int64{1, 2} {
		if err := p.Handle(ctx, tailMsg(off)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.waitUploads(); err != nil {
		t.Fatal(err)
	}
	if err := p.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	c.none(t)
	if p.committed != 0 {
		t.Fatalf("committed %d before the broker answered", p.committed)
	}
	c.gate <- nil
	reapUntil(t, p, func() bool { return p.committed == 1 })
	// The commit asked for meanwhile carries everything uploaded since.
	if off := c.next(t); off != 3 {
		t.Fatalf("second commit %d, want 3", off)
	}
	c.gate <- nil
	reapUntil(t, p, func() bool { return p.committed == 3 })
	if err := p.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	c.none(t) // nothing new: no third commit
	offs, most := c.done()
	if len(offs) != 2 || offs[0] != 1 || offs[1] != 3 || most != 1 {
		t.Fatalf("commits %v (at most %d at once), want [1 3] one at a time", offs, most)
	}
	p.Close()
}

// A failed asynchronous commit is retried by Tick; Close waits for the
// commit in flight and makes the one asked for meanwhile.
func TestPartitionAsyncCommitRetryAndClose(t *testing.T) {
	b, c := store.NewMemory("b"), newGatedCommits()
	p := asyncPartition(t, b, c, nil)
	ctx := context.Background()
	if err := p.Handle(ctx, tailMsg(0)); err != nil {
		t.Fatal(err)
	}
	if err := p.waitUploads(); err != nil {
		t.Fatal(err)
	}
	c.next(t)
	c.gate <- errors.New("coordinator moved")
	reapUntil(t, p, func() bool { return !p.commitBusy })
	if !p.commitPending || p.committed != 0 {
		t.Fatalf("after a failed commit: pending %v committed %d", p.commitPending, p.committed)
	}
	if err := p.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if off := c.next(t); off != 1 {
		t.Fatalf("retry committed %d, want 1", off)
	}
	// While the retry hangs, one more object is uploaded; Close must wait
	// for both commits.
	if err := p.Handle(ctx, tailMsg(1)); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	c.gate <- nil
	if off := c.next(t); off != 2 {
		t.Fatalf("commit made by Close %d, want 2", off)
	}
	select {
	case <-closed:
		t.Fatal("Close returned with a commit in flight")
	case <-time.After(50 * time.Millisecond):
	}
	c.gate <- nil
	<-closed
	if offs, _ := c.done(); len(offs) != 2 || offs[1] != 2 {
		t.Fatalf("commits %v, want [1 2]", offs)
	}
	// The commit Close waits for is not held back by the interval; the
	// ones of a busy partition are.
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.urgent) != 3 || c.urgent[0] || c.urgent[1] || !c.urgent[2] {
		t.Fatalf("urgent per commit %v, want [false false true]", c.urgent)
	}
}

// A quiet partition's commit (no record for IdleTimeout: its last objects
// closed by the idle tick) is urgent.
func TestPartitionAsyncCommitIdleIsUrgent(t *testing.T) {
	b, c := store.NewMemory("b"), newGatedCommits()
	p := asyncPartition(t, b, c, nil)
	now := time.Now()
	p.now = func() time.Time { return now }
	ctx := context.Background()
	if err := p.Handle(ctx, tailMsg(0)); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Hour) // IdleTimeout is 1h
	if err := p.waitUploads(); err != nil {
		t.Fatal(err)
	}
	c.next(t)
	c.gate <- nil
	reapUntil(t, p, func() bool { return p.committed == 1 })
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.urgent) != 1 || !c.urgent[0] {
		t.Fatalf("urgent per commit %v, want [true]", c.urgent)
	}
}

// Window layout with asynchronous commits: the progress marker does not
// claim a window closed while its part is uploaded but not committed (the
// merge must follow the commit), and moves once the commit is answered.
func TestPartitionAsyncCommitMarkerFollowsCommit(t *testing.T) {
	b, c := store.NewMemory("b"), newGatedCommits()
	stage := store.NewMemory("stage")
	p := asyncPartition(t, b, c, &Stager{Bucket: stage})
	ctx := context.Background()
	marker := func() Progress {
		pr, err := ReadProgressMarker(ctx, stage, progressKey("hits", 0))
		if err != nil {
			t.Fatal(err)
		}
		return pr
	}
	w0 := tailT0.UnixMilli()
	w0end := w0 + (10 * time.Minute).Milliseconds()
	if err := p.Handle(ctx, tailMsg(0)); err != nil {
		t.Fatal(err)
	}
	if err := p.waitUploads(); err != nil {
		t.Fatal(err)
	}
	if off := c.next(t); off != 1 {
		t.Fatalf("first commit %d, want 1", off)
	}
	// 30 minutes later: window 0 closes.
	if err := p.Handle(ctx, tailMsg(1800)); err != nil {
		t.Fatal(err)
	}
	if err := p.waitUploads(); err != nil {
		t.Fatal(err)
	}
	if err := p.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if pr := marker(); pr.ClosedBefore > w0 {
		t.Fatalf("marker claims windows before %d closed while window %d's part is not committed", pr.ClosedBefore, w0)
	}
	var staged int
	for _, k := range b.Keys() {
		if strings.HasPrefix(k, "_hitexport/staging/") {
			staged++
		}
	}
	if staged != 2 {
		t.Fatalf("%d staged parts in the bucket, want 2 (keys %v)", staged, b.Keys())
	}
	c.gate <- nil
	reapUntil(t, p, func() bool { return marker().ClosedBefore >= w0end })
	// The part of the later window is committed next.
	if off := c.next(t); off != 1801 {
		t.Fatalf("second commit %d, want 1801", off)
	}
	c.gate <- nil
	reapUntil(t, p, func() bool { return p.committed == 1801 })
	if len(p.unacked) != 0 {
		t.Fatalf("parts still waiting for a commit: %v", p.unacked)
	}
	p.Close()
}

// A late part uploaded but not yet committed keeps its window in the
// marker's LateOpen (the merger waits for late parts listed there), as one
// in flight does; the window leaves LateOpen once the commit is answered.
func TestPartitionAsyncCommitLatePartStaysLateOpen(t *testing.T) {
	b, c := store.NewMemory("b"), newGatedCommits()
	stage := store.NewMemory("stage")
	p := asyncPartition(t, b, c, &Stager{Bucket: stage})
	ctx := context.Background()
	lateOpen := func() []int64 {
		pr, err := ReadProgressMarker(ctx, stage, progressKey("hits", 0))
		if err != nil {
			t.Fatal(err)
		}
		return pr.LateOpen
	}
	w0 := tailT0.UnixMilli()
	for _, off := range []int64{0, 1800} { // window 0, then one that closes it
		if err := p.Handle(ctx, tailMsg(off)); err != nil {
			t.Fatal(err)
		}
		if err := p.waitUploads(); err != nil {
			t.Fatal(err)
		}
		c.next(t)
		c.gate <- nil
		reapUntil(t, p, func() bool { return !p.commitBusy })
	}
	// A hit of window 0 arriving now is late: its part uploads and its
	// commit hangs.
	late := tailMsg(1801)
	late.Value = []byte(`{"time":` + strconv.FormatInt(w0+5000, 10) + `,"n":1}`)
	if err := p.Handle(ctx, late); err != nil {
		t.Fatal(err)
	}
	if err := p.waitUploads(); err != nil {
		t.Fatal(err)
	}
	if off := c.next(t); off != 1802 {
		t.Fatalf("commit of the late part %d, want 1802", off)
	}
	if err := p.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if lo := lateOpen(); !slices.Contains(lo, w0) {
		t.Fatalf("LateOpen %v while window %d's late part is not committed", lo, w0)
	}
	c.gate <- nil
	reapUntil(t, p, func() bool { return !slices.Contains(lateOpen(), w0) })
	p.Close()
}
