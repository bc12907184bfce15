package pipeline

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hitexport/hitexport/kafkaadmin"
)

// fakeCommits records the requests a commitBatcher sends.
type fakeCommits struct {
	mu   sync.Mutex
	reqs [][]kafkaadmin.Offset
	keys []commitKey
	errs map[int]error // per partition
	err  error         // for the whole request
}

func (f *fakeCommits) batcher(linger time.Duration) *commitBatcher {
	return &commitBatcher{linger: linger, pending: map[commitKey]*commitBatch{},
		send: func(_ context.Context, k commitKey, offs []kafkaadmin.Offset) (map[int]error, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.reqs = append(f.reqs, append([]kafkaadmin.Offset(nil), offs...))
			f.keys = append(f.keys, k)
			if f.err != nil {
				return nil, f.err
			}
			out := map[int]error{}
			for _, o := range offs {
				if e := f.errs[o.Partition]; e != nil {
					out[o.Partition] = e
				}
			}
			return out, nil
		}}
}

func (f *fakeCommits) requests() [][]kafkaadmin.Offset {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]kafkaadmin.Offset(nil), f.reqs...)
}

func TestCommitBatcherOneRequestForPartitionsTogether(t *testing.T) {
	refused := errors.New("refused")
	f := &fakeCommits{errs: map[int]error{2: refused}}
	b := f.batcher(50 * time.Millisecond)
	k := commitKey{group: "g", topic: "t", generation: 3, member: "m"}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for p := 0; p < 4; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			errs[p] = b.commit(context.Background(), k, kafkaadmin.Offset{Partition: p, Offset: int64(100 + p), Metadata: "s"})
		}(p)
	}
	wg.Wait()
	reqs := f.requests()
	if len(reqs) != 1 || len(reqs[0]) != 4 {
		t.Fatalf("requests %v, want one with the 4 partitions", reqs)
	}
	sort.Slice(reqs[0], func(i, j int) bool { return reqs[0][i].Partition < reqs[0][j].Partition })
	for p, o := range reqs[0] {
		if o.Partition != p || o.Offset != int64(100+p) || o.Metadata != "s" {
			t.Fatalf("request %v: partition %d's commit wrong", reqs[0], p)
		}
	}
	if f.keys[0] != k {
		t.Fatalf("key %+v, want %+v", f.keys[0], k)
	}
	for p, err := range errs {
		if (p == 2) != errors.Is(err, refused) || (p != 2 && err != nil) {
			t.Fatalf("partition %d: %v (only partition 2 was refused)", p, err)
		}
	}
}

func TestCommitBatcherRequestErrorToEveryCaller(t *testing.T) {
	down := errors.New("coordinator not available")
	f := &fakeCommits{err: down}
	b := f.batcher(20 * time.Millisecond)
	k := commitKey{group: "g", topic: "t", generation: -1}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for p := range errs {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			errs[p] = b.commit(context.Background(), k, kafkaadmin.Offset{Partition: p, Offset: 1})
		}(p)
	}
	wg.Wait()
	for p, err := range errs {
		if !errors.Is(err, down) {
			t.Fatalf("partition %d: %v, want the request's error", p, err)
		}
	}
}

func TestCommitBatcherSamePartitionInOrder(t *testing.T) {
	f := &fakeCommits{}
	b := f.batcher(30 * time.Millisecond)
	k := commitKey{group: "g", topic: "t", generation: -1}
	first := make(chan error, 1)
	go func() { first <- b.commit(context.Background(), k, kafkaadmin.Offset{Partition: 0, Offset: 10}) }()
	time.Sleep(5 * time.Millisecond) // the first is being gathered
	if err := b.commit(context.Background(), k, kafkaadmin.Offset{Partition: 0, Offset: 20}); err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if len(reqs) != 2 || reqs[0][0].Offset != 10 || reqs[1][0].Offset != 20 {
		t.Fatalf("requests %v, want offset 10 then 20, one request each", reqs)
	}
}

func TestCommitBatcherSeparateKeysSeparateRequests(t *testing.T) {
	f := &fakeCommits{}
	b := f.batcher(30 * time.Millisecond)
	var wg sync.WaitGroup
	for _, k := range []commitKey{{group: "a", topic: "t", generation: -1}, {group: "b", topic: "t", generation: -1},
		{group: "a", topic: "t", generation: 4, member: "m"}} {
		wg.Add(1)
		go func(k commitKey) {
			defer wg.Done()
			if err := b.commit(context.Background(), k, kafkaadmin.Offset{Partition: 0, Offset: 1}); err != nil {
				t.Error(err)
			}
		}(k)
	}
	wg.Wait()
	if n := len(f.requests()); n != 3 {
		t.Fatalf("%d requests for 3 groups/generations, want 3", n)
	}
}

func TestCommitBatcherEndedContextNotSent(t *testing.T) {
	f := &fakeCommits{}
	b := f.batcher(100 * time.Millisecond)
	k := commitKey{group: "g", topic: "t", generation: -1}
	// Ended before: never sent.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.commit(done, k, kafkaadmin.Offset{Partition: 0, Offset: 1}); !errors.Is(err, context.Canceled) {
		t.Fatalf("ended context: %v", err)
	}
	// Ends while gathered: taken out; the others are sent.
	ctx, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	other := make(chan error, 1)
	go func() { other <- b.commit(context.Background(), k, kafkaadmin.Offset{Partition: 1, Offset: 5}) }()
	start := time.Now()
	if err := b.commit(ctx, k, kafkaadmin.Offset{Partition: 2, Offset: 7}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("context ended while gathered: %v", err)
	}
	if d := time.Since(start); d > 90*time.Millisecond {
		t.Fatalf("returned after %s, not when its context ended", d)
	}
	if err := <-other; err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if len(reqs) != 1 || len(reqs[0]) != 1 || reqs[0][0].Partition != 1 {
		t.Fatalf("requests %v, want one with partition 1 only", reqs)
	}
}

func TestCommitBatcherLoneCommitSentAfterLinger(t *testing.T) {
	f := &fakeCommits{}
	b := f.batcher(40 * time.Millisecond)
	start := time.Now()
	if err := b.commit(context.Background(), commitKey{group: "g", topic: "t", generation: -1}, kafkaadmin.Offset{Partition: 0, Offset: 1}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 40*time.Millisecond || d > 5*time.Second {
		t.Fatalf("lone commit answered after %s (linger 40ms)", d)
	}
	if len(f.requests()) != 1 {
		t.Fatalf("requests %v", f.requests())
	}
}

// With an interval, the first commit of a quiet spell goes after the linger
// alone; the next request waits until the interval since the previous one
// has passed and carries every commit that came meanwhile (newest offsets).
func TestCommitBatcherAtMostOneRequestPerInterval(t *testing.T) {
	f := &fakeCommits{}
	b := f.batcher(5 * time.Millisecond)
	k := commitKey{group: "g", topic: "t", generation: -1}
	const every = 300 * time.Millisecond
	start := time.Now()
	if err := b.commitEvery(context.Background(), k, kafkaadmin.Offset{Partition: 0, Offset: 1}, every); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > every/2 {
		t.Fatalf("the first commit waited %s: it should go after the linger alone", d)
	}
	sent := time.Now()
	errs := make(chan error, 4)
	for p := 0; p < 4; p++ {
		go func(p int) {
			errs <- b.commitEvery(context.Background(), k, kafkaadmin.Offset{Partition: p, Offset: int64(10 + p)}, every)
		}(p)
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(sent); d < every-50*time.Millisecond {
		t.Fatalf("second request %s after the first, want about %s", d, every)
	}
	reqs := f.requests()
	if len(reqs) != 2 || len(reqs[1]) != 4 {
		t.Fatalf("requests %v, want 2: the first commit, then the four together", reqs)
	}
	// Without an interval the linger alone applies, as before.
	start = time.Now()
	if err := b.commit(context.Background(), k, kafkaadmin.Offset{Partition: 0, Offset: 20}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > every/2 {
		t.Fatalf("a commit without interval waited %s", d)
	}
}
