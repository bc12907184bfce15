package cli

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hitexport/hitexport/verify"
)

// Regression (issue 9, bug 2): verify --wait waited its whole duration when
// a partition was empty (it needed committed == end, while the checker
// accepts end 0 with no commit), and its sleep ignored Ctrl-C.
func TestVerifyWaitEmptyPartitionAndCancel(t *testing.T) {
	reads := 0
	start := time.Now()
	offs, err := waitOffsets(context.Background(), time.Minute, 10*time.Millisecond, func(context.Context) ([]verify.PartitionOffsets, error) {
		reads++
		return []verify.PartitionOffsets{{Partition: 0, Committed: 5, End: 5}, {Partition: 1, Committed: -1, End: 0}}, nil
	})
	if err != nil || len(offs) != 2 || reads != 1 || time.Since(start) > time.Second {
		t.Fatalf("empty partition: %d reads in %s, %v", reads, time.Since(start), err)
	}

	// Behind: polled until it catches up.
	reads = 0
	_, err = waitOffsets(context.Background(), time.Minute, 10*time.Millisecond, func(context.Context) ([]verify.PartitionOffsets, error) {
		reads++
		return []verify.PartitionOffsets{{Partition: 0, Committed: int64(reads), End: 3}}, nil
	})
	if err != nil || reads != 3 {
		t.Fatalf("catching up: %d reads, %v", reads, err)
	}

	// Never catches up: Ctrl-C (the context) ends the wait at once.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start = time.Now()
	_, err = waitOffsets(ctx, time.Hour, 20*time.Millisecond, func(context.Context) ([]verify.PartitionOffsets, error) {
		return []verify.PartitionOffsets{{Partition: 0, Committed: 1, End: 3}}, nil
	})
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Fatalf("cancel: %v after %s", err, time.Since(start))
	}

	// Without --wait: one read, whatever it says.
	reads = 0
	if _, err := waitOffsets(context.Background(), 0, time.Hour, func(context.Context) ([]verify.PartitionOffsets, error) {
		reads++
		return []verify.PartitionOffsets{{Partition: 0, Committed: 1, End: 3}}, nil
	}); err != nil || reads != 1 {
		t.Fatalf("no wait: %d reads, %v", reads, err)
	}
}
