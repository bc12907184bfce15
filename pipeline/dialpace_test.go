package pipeline

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Dials of the whole process are spaced: n concurrent dials cannot all be
// through before (n-1) spacings, and a cancelled wait returns at once with
// the context's error.
func TestPaceDial(t *testing.T) {
	const n = 10
	start := time.Now()
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := paceDial(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if el := time.Since(start); el < (n-1)*dialSpacing {
		t.Fatalf("%d dials through in %v, want at least %v", n, el, (n-1)*dialSpacing)
	}
	// Queue up a long wait, then cancel one behind it.
	for range 5 {
		go paceDial(context.Background())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := paceDial(ctx); err != context.Canceled {
		t.Fatalf("cancelled wait: %v, want context.Canceled", err)
	}
}

// Waiters that give up do not use up slots: after 200 dials abandoned at
// once (a catch-up reader's read deadline), the next dial still gets a slot
// within a couple of spacings, not 200 spacings (4 s) later.
func TestPaceDialAbandonedWaitersTakeNoSlot(t *testing.T) {
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
			defer cancel()
			paceDial(ctx)
		}()
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := paceDial(ctx); err != nil {
		t.Fatalf("dial after 200 abandoned waits: %v (abandoned waits held slots)", err)
	}
}
