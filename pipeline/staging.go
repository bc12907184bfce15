package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/hitexport/hitexport/store"
)

// Stager is the partition workers' side of the window layout (a nil
// *Stager in Settings: the partition layout). Workers upload each closed
// window's records as a staged part (StagedKey) instead of a final object,
// with the same metadata and the same commit rule, and publish how far they
// have closed windows in a progress marker per partition; the Merger turns
// the parts into final objects once every partition is past a window.
type Stager struct {
	Bucket store.Bucket
	// Poke, if set, is called after a progress marker moved (the Merger's
	// Poke: merge what became complete).
	Poke func()

	mu      sync.Mutex
	written map[string]int64 // progress key -> ClosedBefore last written (or read)
}

// Progress is the content of a progress marker.
type Progress struct {
	// ClosedBefore (Unix ms): every window ending at or before it is closed
	// by the partition and its records are staged.
	ClosedBefore int64 `json:"closed_before"`
}

// objectKey is the key o is uploaded under: a staged part in the window
// layout (rejected records keep their own objects), else the
// partition-layout key.
func (p *Partition) objectKey(o *object) string {
	if p.s.Stager == nil || o.kind == KindRejected {
		return o.key(p.s.Layout, p.Topic, p.ID)
	}
	return StagedKey(StagedPart{Late: o.kind == KindLate, Window: o.window, Topic: p.Topic, Partition: p.ID, First: o.first,
		Ext: p.s.Layout.Ext()})
}

// closedBefore is the ClosedBefore the worker may claim: the watermark's,
// but in the window layout never past the start of an on-time window still
// open (closed, not yet uploaded): a claim is a promise that the window's
// part is in the bucket.
func (p *Partition) closedBefore() int64 {
	cb := p.wm.ClosedBefore
	if p.s.Stager == nil {
		return cb
	}
	for _, o := range p.open {
		if o.kind == KindHits && o.window < cb {
			cb = o.window
		}
	}
	return cb
}

// stageProgress writes the partition's progress marker when it moved (window
// layout only). A failure is logged and retried on the next tick; it only
// delays merging.
func (p *Partition) stageProgress(ctx context.Context) {
	st := p.s.Stager
	if st == nil {
		return
	}
	if moved := st.advance(ctx, p.Topic, p.ID, p.closedBefore(), p.log); moved && st.Poke != nil {
		st.Poke()
	}
}

// advance writes the marker when cb is past what it holds; it reports
// whether it wrote.
func (st *Stager) advance(ctx context.Context, topic string, partition int, cb int64, log *slog.Logger) bool {
	if cb <= 0 {
		return false
	}
	key := progressKey(topic, partition)
	st.mu.Lock()
	if st.written == nil {
		st.written = map[string]int64{}
	}
	prev, known := st.written[key]
	st.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if !known {
		// The marker only ever moves forward: a new owner that restarts with
		// an older state (or none) does not take back what was claimed.
		pr, err := ReadProgressMarker(ctx, st.Bucket, key)
		if err != nil {
			log.Warn("reading the progress marker failed; will retry", "key", key, "error", err.Error())
			return false
		}
		prev = pr.ClosedBefore
		st.remember(key, prev)
	}
	if cb <= prev {
		return false
	}
	b, _ := json.Marshal(Progress{ClosedBefore: cb})
	if err := st.Bucket.Put(ctx, key, bytes.NewReader(b), int64(len(b)), store.PutOptions{ContentType: "application/json"}); err != nil {
		log.Warn("writing the progress marker failed; will retry", "key", key, "error", err.Error())
		return false
	}
	st.remember(key, cb)
	log.Debug("progress marker written", "key", key, "closed_before", cb)
	return true
}

func (st *Stager) remember(key string, cb int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if cb > st.written[key] {
		st.written[key] = cb
	}
}

// ReadProgressMarker reads a progress marker; a missing one is the zero Progress.
func ReadProgressMarker(ctx context.Context, b store.Bucket, key string) (Progress, error) {
	var pr Progress
	rc, err := b.Get(ctx, key)
	if store.IsNotFound(err) {
		return pr, nil
	}
	if err != nil {
		return pr, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 4096))
	if store.IsNotFound(err) {
		return pr, nil
	}
	if err != nil {
		return pr, err
	}
	if err := json.Unmarshal(data, &pr); err != nil {
		// A marker that does not parse claims nothing.
		return Progress{}, nil
	}
	return pr, nil
}

// ProgressOf reads every partition's progress marker of topic: partition ->
// ClosedBefore (Unix ms); partitions without a marker are absent.
func ProgressOf(ctx context.Context, b store.Bucket, topic string) (map[int]int64, error) {
	out := map[int]int64{}
	prefix := progressDir + topic + "-"
	var keys []string
	err := b.List(ctx, prefix, func(o store.ObjectInfo) error {
		keys = append(keys, o.Key)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		id, err := strconv.Atoi(k[len(prefix):])
		if err != nil || id < 0 {
			continue
		}
		pr, err := ReadProgressMarker(ctx, b, k)
		if err != nil {
			return nil, err
		}
		out[id] = pr.ClosedBefore
	}
	return out, nil
}
