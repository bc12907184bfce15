package pipeline

import (
	"context"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/hitexport/hitexport/kafkaadmin"
)

// Offset commits of the partitions of one group and topic go to the broker
// together: a partition's commit waits up to commitLinger for the commits of
// the other partitions and they are sent in one OffsetCommit request (with
// the Settings.CommitInterval of asynchronous commits, during which the
// partition reads on, at most one request per interval). Each
// caller still returns only once the broker has answered for its own
// partition, with its own partition's outcome, so a commit still follows
// its upload and precedes whatever the caller does next (commit-after-upload
// unchanged); only the number of requests changes.
//
// Why: on the broker an OffsetCommit request is an append to
// __consumer_offsets and costs about 1–1.5 ms of CPU whether it carries one
// partition or four (0.4–0.5 ms per partition with four per request,
// measured on Kafka 4.1; docs/performance.md § Broker load), and with
// kafka-go's Client each request is preceded by a FindCoordinator. The
// partitions of a topic close their windows at about the same time, so
// their commits arrive together.
const commitLinger = 10 * time.Millisecond

// commitKey is what the commits sent in one request share.
type commitKey struct {
	group, topic string
	generation   int
	member       string
}

// commitBatcher gathers the commits of one process (Group).
type commitBatcher struct {
	linger time.Duration // how long a new request gathers commits
	// send commits offs in one request: errs per partition, or err for all.
	send func(ctx context.Context, k commitKey, offs []kafkaadmin.Offset) (errs map[int]error, err error)

	mu      sync.Mutex
	pending map[commitKey]*commitBatch
	sent    map[commitKey]time.Time // when the last request of each key was sent
}

// commitBatch is one request being gathered, then sent.
type commitBatch struct {
	offs []kafkaadmin.Offset
	done chan struct{} // closed once errs and err are set
	errs map[int]error
	err  error
}

func (b *commitBatch) has(part int) bool {
	for _, o := range b.offs {
		if o.Partition == part {
			return true
		}
	}
	return false
}

func newCommitBatcher(client *kafka.Client) *commitBatcher {
	return &commitBatcher{linger: commitLinger, pending: map[commitKey]*commitBatch{},
		send: func(ctx context.Context, k commitKey, offs []kafkaadmin.Offset) (map[int]error, error) {
			return kafkaadmin.CommitEach(ctx, client, k.group, k.topic, kafkaadmin.Member{Generation: k.generation, ID: k.member}, offs)
		}}
}

// commit commits o after the batcher's linger (commitEvery with no
// interval).
func (c *commitBatcher) commit(ctx context.Context, k commitKey, o kafkaadmin.Offset) error {
	return c.commitEvery(ctx, k, o, 0)
}

// commitEvery commits o in the request of k being gathered (a new one if
// none is or if that one already holds o's partition) and returns o's
// outcome, or ctx's error if ctx ends first. A new request is sent after
// the batcher's linger, and, with interval > 0, no sooner than interval
// after the previous request of k: at most one request per interval, the
// first of a quiet spell after the linger alone. A commit whose ctx ended
// is taken out of the request if it was not sent yet (as a request of its
// own would not have been sent: an ended generation's worker must not
// commit late).
func (c *commitBatcher) commitEvery(ctx context.Context, k commitKey, o kafkaadmin.Offset, interval time.Duration) error {
	var b *commitBatch
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		c.mu.Lock()
		b = c.pending[k]
		if b == nil || !b.has(o.Partition) {
			break
		}
		// This partition's previous commit is still being gathered: this
		// one goes in the next request, after it.
		c.mu.Unlock()
		select {
		case <-b.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if b == nil {
		b = &commitBatch{done: make(chan struct{})}
		c.pending[k] = b
		wait := c.linger
		if last, ok := c.sent[k]; ok && interval > 0 {
			wait = max(wait, time.Until(last.Add(interval)))
		}
		time.AfterFunc(wait, func() { c.flush(k, b) })
	}
	b.offs = append(b.offs, o)
	c.mu.Unlock()
	select {
	case <-b.done:
	case <-ctx.Done():
		c.mu.Lock()
		if c.pending[k] == b { // not sent yet
			for i := range b.offs {
				if b.offs[i].Partition == o.Partition {
					b.offs = append(b.offs[:i], b.offs[i+1:]...)
					break
				}
			}
		}
		c.mu.Unlock()
		return ctx.Err()
	}
	if b.err != nil {
		return b.err
	}
	return b.errs[o.Partition]
}

// flush sends b: from now on commits of k gather in a new request.
func (c *commitBatcher) flush(k commitKey, b *commitBatch) {
	c.mu.Lock()
	if c.pending[k] == b {
		delete(c.pending, k)
	}
	offs := b.offs
	if len(offs) > 0 {
		if c.sent == nil {
			c.sent = map[commitKey]time.Time{}
		}
		c.sent[k] = time.Now()
	}
	c.mu.Unlock()
	if len(offs) == 0 { // every caller gave up before it was sent
		close(b.done)
		return
	}
	// Not any one caller's context: the request carries every caller's
	// commit, and each caller stops waiting on its own context.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b.errs, b.err = c.send(ctx, k, offs)
	close(b.done)
}
