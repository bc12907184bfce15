package pipeline

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hitexport/hitexport/hits"
	"github.com/hitexport/hitexport/store"
)

// Read once, deliver many. One fanout per assigned partition reads it once
// and decodes each record once; each target of the topic has its own
// Partition (windows, objects, offsets, retries, commits to its own group).
// With exactly one attached target the fanout calls its Partition directly
// (no extra goroutine: env mode costs what it did before); with several, each
// target's Partition runs in its own goroutine fed by a bounded queue.
//
// Detach: a target whose queue is full is detached at the record it did not
// get (at once when its last upload attempt failed, else after DetachAfter).
// It finishes its queue, then reads the partition on its own reader from
// there, throttled by its own uploads: its memory is its queue plus its open
// objects (spools spill to disk past SpoolMemory).
//
// Attach: the fanout publishes its next offset N after each burst. The
// catch-up reader never hands on a record at or past N; once its position
// reaches N it asks to be attached with that position; the fanout accepts
// when the position is still >= its own next (it then delivers from there),
// else the catch-up reads on. It converges because a catch-up read is faster
// than the live rate; a target slower than the live rate stays detached
// (reading on its own) until it keeps up. A gap in the offsets (transaction
// markers, compaction) is crossed: a record fetched at or past N means
// nothing lies between the position and N. A quiet partition whose last
// offsets are markers may keep a target detached until the next record.

// partLog is what a fanout needs from Kafka for one partition. The Kafka
// implementation is kafkaLog; unit tests use an in-memory log.
type partLog interface {
	// Open returns a reader positioned at from (negative: the first offset).
	Open(ctx context.Context, from int64) (recordReader, error)
	// Resume is target t's position on this partition: its committed offset
	// and state, or, without a commit, its Start resolved (and committed).
	Resume(ctx context.Context, t Target) (TargetResume, error)
	// Commit commits for target t (fenced or simple per t.Fenced).
	Commit(ctx context.Context, t Target, offset int64, st CommitState) error
	// CommitMembership commits the membership group's offset (fenced).
	CommitMembership(ctx context.Context, offset int64) error
}

// recordReader reads one partition in order, a chunk at a time.
type recordReader interface {
	// Read fills buf with the next records. It returns 0 and no error when
	// nothing came within about the fetch's wait, and an error when ctx
	// ended (or, in tests, on a failure the caller retries after a pause).
	Read(ctx context.Context, buf []Message) (int, error)
	// HighWatermark is the partition's end offset as last seen, or -1.
	HighWatermark() int64
	Close() error
}

// TargetResume is where a target resumes on one partition.
type TargetResume struct {
	Offset int64 // next offset to deliver; negative: the partition's first offset
	State  CommitState
	// Lost: records between its committed offset and the partition's first
	// offset that retention removed before it delivered them.
	Lost int64
}

// item is one record handed from the fanout to a target worker.
type item struct {
	msg    Message
	dec    hits.Decoded
	reason hits.Reason
}

// batch is what the fanout hands a target worker per fetched chunk: the
// chunk's records that are the worker's, in offset order, and how far the
// chunk went. After its items the worker notes every offset up to last as
// read (Skip) with the highest event time seen so far.
type batch struct {
	items []item // nil: only the position (the chunk had none of its records)
	last  int64
	event int64
}

// weight is what b counts against the worker's queue (in records): at
// least one, so a queue of position-only batches is bounded too.
func (b batch) weight() int64 { return int64(max(len(b.items), 1)) }

type attachReq struct {
	w     *worker
	pos   int64
	reply chan attachReply
}

type attachReply struct {
	ok   bool
	next int64
}

type detachSig struct {
	offset int64
	event  int64 // event time of the record at offset (ms), 0 unknown
}

// fanout owns the shared read of one partition: it reads each record once,
// decodes it once and hands it to every target worker that wants it.
type fanout struct {
	g     *Group
	topic string
	part  int
	log   partLog
	lg    *slog.Logger
	ctx   context.Context
	stop  <-chan struct{}
	// membership: the membership group's commit is the min of the targets'
	// (false when a target commits to the membership group itself).
	membership bool
	limits     hits.Limits
	queue      int
	queueAuto  bool          // queue is the default: divided among the targets (startWorker)
	detachWait time.Duration // see Group.DetachWait
	full       *time.Timer   // send's wait for a slot
	tick       time.Duration

	next     atomic.Int64 // published: every record below it has been handed out
	local    int64        // the fanout goroutine's next offset
	attachC  chan attachReq
	reconfC  chan struct{}
	done     chan struct{} // closed when the shared read loop has returned
	consumed prometheus.Counter

	set     *targetSet
	workers map[string]*worker
	order   []*worker // by index in set (nil: not this topic's)
	want    []bool
	inline  *worker // the single attached worker fed directly (no goroutine)

	maxEvent        int64
	memberCommitted int64
	hwm             func() int64
	wg              sync.WaitGroup
}

// worker is one target's Partition on this partition.
type worker struct {
	f   *fanout
	t   Target
	idx atomic.Int32 // index in the current target set (for catch-up selection)
	sel atomic.Pointer[selRef]
	p   *Partition
	ch  chan batch
	// queued is the records in ch (batch.weight); the fanout sends while it
	// is below qcap (one batch may overshoot) and waits on room otherwise.
	queued  atomic.Int64
	qcap    int64
	room    chan struct{} // a worker took a batch (capacity 1)
	free    chan []item   // item slices the worker is done with
	out     []item        // the fanout's scratch for the chunk being split
	detachC chan detachSig
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}

	// startDetached: the worker starts far behind the shared read and
	// catches up from catchFrom first.
	startDetached bool
	catchFrom     int64
	// ahead > 0: the worker starts more than one queue ahead of the shared
	// read; its own reader reads on (past the fanout's next) while it is
	// more than ahead records ahead, and it attaches once the shared read
	// comes that near. Only its catch-up goroutine touches it.
	ahead int64

	// fanout goroutine's view
	attached bool
	from     int64 // records at or after it are this worker's
	lastSent int64

	committed atomic.Int64
	failing   atomic.Bool  // its last upload attempt failed
	active    atomic.Int64 // unix ns when it last took a record from its queue, its destination made progress (progressBucket) or it attached
	detached  atomic.Bool  // set by the fanout on detach, cleared by the worker when attached again
	pending   atomic.Int64 // event time of the next undelivered record while detached
	scratch   []bool
}

type selRef struct {
	sel Selector
	n   int
}

// runFanout runs the shared read of topic/part until ctx ends or stop is
// closed, with the targets' initial positions (resolved by the caller; a
// target of the topic without one resolves its own).
func (g *Group) runFanout(ctx context.Context, stop <-chan struct{}, pl partLog, topic string, part int, initial map[string]TargetResume) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f := &fanout{g: g, topic: topic, part: part, log: pl, ctx: ctx, stop: stop,
		lg:      g.logger().With("topic", topic, "partition", part),
		attachC: make(chan attachReq), reconfC: make(chan struct{}, 1), done: make(chan struct{}),
		consumed: g.consumedCounter(part),
		workers:  map[string]*worker{}, memberCommitted: -1, tick: time.Second,
	}
	if g.Settings != nil {
		f.limits = g.Settings.Limits
	}
	f.queue = g.TargetQueue
	if f.queue <= 0 {
		f.queue, f.queueAuto = max(g.Kafka.Buffer, 4096), true
	}
	f.detachWait = g.DetachWait
	if f.detachWait == 0 {
		f.detachWait = 10 * time.Second
	}
	key := fanKey{topic, part}
	g.tmu.Lock()
	if g.fanouts == nil {
		g.fanouts = map[fanKey]*fanout{}
	}
	g.fanouts[key] = f
	g.tmu.Unlock()
	defer func() {
		g.tmu.Lock()
		if g.fanouts[key] == f {
			delete(g.fanouts, key)
		}
		g.tmu.Unlock()
	}()

	set := g.targets()
	f.set = set
	ts := set.forTopic(topic)
	if len(ts) > 0 {
		if s := ts[0].Settings; s != nil && g.Settings == nil {
			f.limits = s.Limits
		}
		if ts[0].Settings != nil && ts[0].Settings.Tick > 0 {
			f.tick = ts[0].Settings.Tick
		}
	}
	f.membership = true
	for _, t := range ts {
		if t.Group == "" || t.Group == g.Kafka.Group {
			f.membership = false
		}
	}
	// The shared read starts where most targets are: at the lowest position
	// of the largest group of targets within one queue (f.queue records) of
	// each other (ties: the group further on, so that up-to-date targets
	// are not held back by as many behind). A target further behind
	// (re-enabled after a long pause, parked during an outage, a new
	// integration starting at the earliest offset next to live ones) starts
	// detached and catches up on its own reader, so it does not hold the
	// others back. A target ahead of the start skips until the shared read
	// reaches its position. Not the furthest target's position: one target
	// at the end (the rejected-records sink starts at the latest offset)
	// would detach every integration starting at the earliest, each then
	// reading the whole partition on its own reader.
	pos := func(r TargetResume) int64 {
		if r.Offset < 0 {
			return -1 // the first offset: lower than any real one
		}
		return r.Offset
	}
	var positions []int64
	for _, t := range ts {
		if r, ok := initial[t.ID]; ok {
			positions = append(positions, pos(r))
		}
	}
	start := sharedStart(positions, int64(f.queue))
	f.local = start
	f.next.Store(start)
	rd, err := pl.Open(ctx, start)
	if err != nil {
		f.lg.Error("opening the partition failed", "error", err.Error())
		return
	}
	defer rd.Close()
	f.hwm = rd.HighWatermark

	for _, t := range ts {
		r, ok := initial[t.ID]
		w := f.newWorker(t)
		if ok {
			w.p = f.newPartition(w, r)
			switch {
			case pos(r) < start:
				w.startDetached, w.catchFrom = true, r.Offset // far behind: detached from the start
				f.lg.Info("target detached from the shared read at assignment (more than one queue behind most targets); it catches up on its own reader",
					"integration", t.ID, "offset", r.Offset, "shared_read_from", start)
			case pos(r)-start > int64(f.queue):
				// Far ahead (most targets are behind it): it reads on its
				// own rather than wait for the shared read to reach it.
				w.startDetached, w.catchFrom, w.ahead = true, r.Offset, int64(f.queue)
				f.lg.Info("target ahead of the shared read at assignment (more than one queue); it reads on its own reader until the shared read comes near",
					"integration", t.ID, "offset", r.Offset, "shared_read_from", start)
			default:
				w.attached = true
				w.from = r.Offset
				w.lastSent = r.Offset - 1
			}
			g.setPart(t.ID, part, func(ps *partStat) { ps.lost = r.Lost; ps.parked = false })
		}
		f.workers[t.ID] = w
	}
	f.index()
	if len(f.workers) == 1 && f.order[0] != nil && f.order[0].attached {
		f.inline = f.order[0]
	}
	for _, w := range f.workers {
		if w != f.inline {
			f.startWorker(w, w.p == nil)
		}
	}

	// The fetched chunks go to the loop as they are (one channel hand-off
	// per chunk, not per record) and come back on the pool once handled.
	pool := newChunkPool(g.Kafka.Buffer)
	go func() {
		defer close(pool.chunks)
		for {
			buf := pool.get()
			n, err := rd.Read(ctx, buf)
			if err != nil {
				pool.put(buf)
				if ctx.Err() != nil {
					return
				}
				f.lg.Warn("fetch failed; retrying", "error", err.Error())
				if sleepCtx(ctx, time.Second) != nil {
					return
				}
				continue
			}
			if n == 0 {
				pool.put(buf)
				continue
			}
			select {
			case pool.chunks <- buf[:n]:
			case <-ctx.Done():
				return
			}
		}
	}()
	err = f.loop(pool)
	close(f.done)
	if err != nil && !errors.Is(err, context.Canceled) {
		f.lg.Error("partition fanout stopped", "error", err.Error())
	}
	// Stop every worker: on stop they finish an upload in flight (soft);
	// when ctx ended they are cancelled with it.
	if f.inline != nil {
		f.inline.p.Close()
	}
	cancelWorkers := func() {
		for _, w := range f.workers {
			w.cancel()
		}
	}
	if ctx.Err() != nil {
		cancelWorkers()
	}
	f.wg.Wait()
	cancelWorkers()
	for _, w := range f.workers {
		g.dropPart(w.t.ID, part)
	}
}

// sharedStart is where the shared read of a partition starts given the
// targets' positions (-1: the partition's first offset): the lowest
// position of the largest group of positions spanning at most queue
// records; among groups as large, the one further on. -1 without positions.
func sharedStart(positions []int64, queue int64) int64 {
	if len(positions) == 0 {
		return -1
	}
	ps := slices.Clone(positions)
	slices.Sort(ps)
	best, bestN := ps[0], 0
	j := 0
	for i := range ps {
		// positions ps[i..j) lie within queue of ps[i]
		j = max(j, i)
		for j < len(ps) && ps[j]-ps[i] <= queue {
			j++
		}
		if n := j - i; n >= bestN {
			best, bestN = ps[i], n
		}
	}
	return best
}

type fanKey struct {
	topic string
	part  int
}

func (g *Group) logger() *slog.Logger {
	if g.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return g.Log
}

func (s *targetSet) forTopic(topic string) []Target {
	var out []Target
	for _, t := range s.targets {
		if t.Topic == topic {
			out = append(out, t)
		}
	}
	return out
}

func (f *fanout) newWorker(t Target) *worker {
	ctx, cancel := context.WithCancel(f.ctx)
	w := &worker{f: f, t: t, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		detachC: make(chan detachSig, 1)}
	w.committed.Store(-1)
	w.active.Store(time.Now().UnixNano())
	return w
}

// index rebuilds the set-index → worker table and the selector references.
func (f *fanout) index() {
	f.order = make([]*worker, len(f.set.targets))
	f.want = make([]bool, len(f.set.targets))
	ref := &selRef{sel: f.set.sel, n: len(f.set.targets)}
	for i, t := range f.set.targets {
		if w := f.workers[t.ID]; w != nil && t.Topic == f.topic {
			f.order[i] = w
			w.idx.Store(int32(i))
			w.sel.Store(ref)
		}
	}
}

// partitionUploads is how many closed objects of one target on one
// partition upload at once while it reads on (PartitionDeps.Uploads).
const partitionUploads = 2

// newPartition builds the target's Partition at r.
func (f *fanout) newPartition(w *worker, r TargetResume) *Partition {
	g, t := f.g, w.t
	commit := func(ctx context.Context, offset int64, st CommitState) error {
		if err := f.log.Commit(ctx, t, offset, st); err != nil {
			return err
		}
		w.committed.Store(offset)
		return nil
	}
	w.committed.Store(r.Offset)
	g.workersChanged(1)
	return NewPartition(f.topic, f.part, t.Settings, PartitionDeps{
		OnClose:  func() { g.workersChanged(-1) },
		Uploader: w.progressUploader(), Commit: commit, Log: g.logger().With("integration", t.ID), Metrics: g.partitionMetrics(t),
		Spool: g.Spool, HighWatermark: f.hwm, Uploads: partitionUploads,
		OnUpload: func(key string, records int, window int64, err error) {
			w.failing.Store(err != nil)
			if err == nil { // busy uploading (a Tick may flush several windows in a row) is progress too
				w.active.Store(time.Now().UnixNano())
			}
			g.onUpload(t, key, records, err)
			if err != nil && window >= 0 {
				// The worker is blocked in this upload: its status shows
				// the object's window as undelivered meanwhile.
				g.setPart(t.ID, f.part, func(ps *partStat) {
					if ps.oldest < 0 || window < ps.oldest {
						ps.oldest = window
					}
				})
			}
		},
	}, r.Offset, r.State)
}

// progressUploader is the target's Uploader whose bucket notes the worker
// active whenever its destination makes progress: a request answered, or a
// piece of an object's body taken by the client. A healthy target that is
// merely slow (its uploads take long because the machine is busy) stays on
// the shared read while its upload moves; one whose requests never answer
// (a hanging bucket) shows no progress and is detached after DetachWait; a
// failing one (an attempt failed: OnUpload) at once.
func (w *worker) progressUploader() *Uploader {
	up := w.t.Uploader
	if up == nil || up.Bucket == nil {
		return up
	}
	c := *up
	c.Bucket = &progressBucket{Bucket: up.Bucket, note: w.progress}
	return &c
}

// progress notes that the worker's destination made progress.
func (w *worker) progress() { w.active.Store(time.Now().UnixNano()) }

// progressBucket calls note when a request to the bucket returns (whatever
// its outcome: an answer is progress; a failed attempt is handled by
// OnUpload) and when Put's client reads a piece of the body.
type progressBucket struct {
	store.Bucket
	note func()
}

func (b *progressBucket) Put(ctx context.Context, key string, r io.Reader, size int64, opts store.PutOptions) error {
	var body io.Reader = progressReader{r: r, note: b.note}
	if rs, ok := r.(io.ReadSeeker); ok { // S3 digests a seekable body in place, else buffers it
		body = progressReadSeeker{progressReader{r: r, note: b.note}, rs}
	}
	err := b.Bucket.Put(ctx, key, body, size, opts)
	b.note()
	return err
}

func (b *progressBucket) Stat(ctx context.Context, key string) (store.ObjectInfo, error) {
	info, err := b.Bucket.Stat(ctx, key)
	b.note()
	return info, err
}

type progressReader struct {
	r    io.Reader
	note func()
}

func (p progressReader) Read(buf []byte) (int, error) {
	n, err := p.r.Read(buf)
	if n > 0 {
		p.note()
	}
	return n, err
}

type progressReadSeeker struct {
	progressReader
	s io.Seeker
}

func (p progressReadSeeker) Seek(off int64, whence int) (int64, error) { return p.s.Seek(off, whence) }

// startWorker runs w in its own goroutine: attached (fed by the fanout), or,
// with resolve, first finding its position and catching up to the fanout.
func (f *fanout) startWorker(w *worker, resolve bool) {
	q := f.queue
	if f.queueAuto && len(f.workers) > 1 {
		// The default queue is shared out among the partition's targets
		// (floor 256): a busy target is waited for (send), so its queue only
		// absorbs one upload's pause, and 100 targets × 4 partitions of
		// 4096 slots would hold 200 MB.
		q = max(256, f.queue/len(f.workers))
	}
	w.ch = make(chan batch, q) // a batch weighs at least one record: never full before queued is
	w.qcap = int64(q)
	w.room = make(chan struct{}, 1)
	w.free = make(chan []item, 4)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer close(w.done)
		w.run(resolve)
	}()
}

func (f *fanout) loop(pool *chunkPool) error {
	t := time.NewTicker(f.tick)
	defer t.Stop()
	for {
		var uploads <-chan *upload // the directly fed target's finished uploads
		var commits <-chan commitResult
		if f.inline != nil {
			uploads = f.inline.p.uploadResults()
			commits = f.inline.p.commitResults()
		}
		select {
		case <-f.ctx.Done():
			return f.ctx.Err()
		case r := <-uploads:
			if err := f.inline.p.applyUpload(r); err != nil {
				return err
			}
		case r := <-commits:
			f.inline.p.commitDone(r)
		case <-f.stop:
			return nil
		case recs, ok := <-pool.chunks:
			if !ok {
				return nil
			}
			err := f.handleChunk(recs)
			pool.put(recs)
			if err != nil {
				return err
			}
		case r := <-f.attachC:
			f.attach(r)
		case <-f.reconfC:
			f.reconfigure1()
		case <-t.C:
			if w := f.inline; w != nil {
				if err := w.p.Tick(w.ctx); err != nil {
					return err
				}
				w.publish()
			}
			f.sendPositions()
			f.publishLag()
			f.commitMembership()
		}
	}
}

// handleChunk hands one fetched chunk to the targets: the directly fed one
// record by record, the others one batch each with their records of it.
func (f *fanout) handleChunk(recs []Message) error {
	f.local = recs[len(recs)-1].Offset + 1
	if w := f.inline; w != nil {
		// Counted once handled: a partition stopped by a failing upload
		// (waitFailing) holds the chunk it was given, and it is not
		// consumed while every partition shows paused.
		for i := range recs {
			if err := f.handleInline(w, recs[i]); err != nil {
				f.consumed.Add(float64(i))
				return err
			}
			recs[i] = Message{} // let the values go
		}
		f.consumed.Add(float64(len(recs)))
		f.next.Store(f.local)
		return nil
	}
	f.consumed.Add(float64(len(recs)))
	for _, w := range f.order {
		if w != nil {
			w.out = w.out[:0]
		}
	}
	for i := range recs {
		f.split(recs[i])
		recs[i] = Message{}
	}
	last := f.local - 1
	for _, w := range f.order {
		if w == nil || !w.attached || last < w.from {
			continue
		}
		if len(w.out) > 0 {
			f.send(w, batch{items: w.take(), last: last, event: f.maxEvent})
			clear(w.out)
			continue
		}
		if w.lastSent >= last {
			continue
		}
		// None of its records: it learns how far the partition was read
		// (if its queue has room; else with its next batch).
		b := batch{last: last, event: f.maxEvent}
		if w.queued.Load() < w.qcap {
			select {
			case w.ch <- b:
				w.enqueued(b)
				w.lastSent = last
			default:
			}
		}
	}
	f.next.Store(f.local)
	return nil
}

// sendPositions hands every attached worker that has not learnt how far the
// partition was read a position-only batch, when its queue has room now.
// handleChunk drops that batch when the queue is full and counts on the
// next one; at the end of a partition (or before a quiet spell) there is no
// next one, and the worker's committed offset would stay behind its last
// record until another record came (the bench waited for it forever with
// every integration attached).
func (f *fanout) sendPositions() {
	last := f.local - 1
	for _, w := range f.order {
		if w == nil || w == f.inline || !w.attached || last < w.from || w.lastSent >= last || w.queued.Load() >= w.qcap {
			continue
		}
		b := batch{last: last, event: f.maxEvent}
		select {
		case w.ch <- b:
			w.enqueued(b)
			w.lastSent = last
		default:
		}
	}
}

// handleInline hands one record to the single directly fed target: no
// decode here, no channel, no copy. It runs under the worker's context, so
// that stopping the worker (stopWorker) also ends its uploads in flight.
func (f *fanout) handleInline(w *worker, m Message) error {
	if m.Offset < w.from {
		return nil
	}
	if f.set.sel == nil {
		return w.p.Handle(w.ctx, m)
	}
	dec, reason := hits.Decode(m.Value, m.Time, w.t.Settings.Limits)
	if reason != "" {
		if w.t.Rejected {
			return w.p.HandleDecoded(w.ctx, m, dec, reason)
		}
		return w.p.Skip(w.ctx, m.Offset, 0)
	}
	clear(f.want)
	f.set.sel(dec.Value, f.want)
	if f.want[w.idx.Load()] {
		return w.p.HandleDecoded(w.ctx, m, dec, reason)
	}
	return w.p.Skip(w.ctx, m.Offset, dec.TimeMillis)
}

// split decodes one record once and adds it to the batch of every attached
// target that wants it.
func (f *fanout) split(m Message) {
	dec, reason := hits.Decode(m.Value, m.Time, f.limits)
	it := item{msg: m, dec: dec, reason: reason}
	if reason != "" {
		for _, w := range f.order {
			if w != nil && w.attached && m.Offset >= w.from && w.t.Rejected {
				w.out = append(w.out, it)
			}
		}
		return
	}
	if dec.TimeMillis > f.maxEvent {
		f.maxEvent = dec.TimeMillis
	}
	if f.set.sel != nil {
		clear(f.want)
		f.set.sel(dec.Value, f.want)
	}
	for i, w := range f.order {
		if w != nil && w.attached && m.Offset >= w.from && (f.set.sel == nil || f.want[i]) {
			w.out = append(w.out, it)
		}
	}
}

// take copies the fanout's scratch into a slice of the worker's own (one
// it gave back, or a new one): the batch's items stay the worker's until it
// is done with them.
func (w *worker) take() []item {
	n := len(w.out)
	var s []item
	select {
	case s = <-w.free:
		if cap(s) < n || cap(s) > 2*n+16 {
			s = nil // too small, or holding much more than this batch needs
		}
	default:
	}
	if s == nil {
		s = make([]item, n)
	}
	s = s[:n]
	copy(s, w.out)
	return s
}

// send hands b to w, waiting at most detachWait for room: a worker whose
// queue stays full that long is detached at the batch's first record and
// reads on its own until it catches up.
func (f *fanout) send(w *worker, b batch) {
	if w.queued.Load() < w.qcap {
		w.enqueued(b)
		w.ch <- b // never blocks: ch holds at most qcap batches
		w.lastSent = b.last
		return
	}
	// Full. A worker busy with an upload takes the next batch soon: wait
	// for it rather than detach a healthy target (whose catch-up reader
	// would read the partition again: reading that grows with the number of
	// targets in every backlog). A worker that has neither taken a batch
	// nor finished an upload for detachWait is detached; so is one whose
	// last upload failed, at once.
	// The wait ends detachWait after the worker's last activity, not after
	// the send began: however many destinations hang together, the shared
	// read is held up at most detachWait in all.
	// Re-checked every 100ms: an upload that fails or completes meanwhile
	// ends or extends the wait.
wait:
	for f.detachWait > 0 && !w.failing.Load() {
		left := f.detachWait - time.Duration(time.Now().UnixNano()-w.active.Load())
		if left <= 0 {
			break
		}
		left = min(left, 100*time.Millisecond)
		if f.full == nil {
			f.full = time.NewTimer(left)
		} else {
			f.full.Reset(left)
		}
		select {
		case <-w.room:
			f.full.Stop()
			if w.queued.Load() < w.qcap {
				w.enqueued(b)
				w.ch <- b
				w.lastSent = b.last
				return
			}
		case <-f.full.C:
		case <-f.stop:
			f.full.Stop()
			break wait
		case <-f.ctx.Done():
			f.full.Stop()
			break wait
		}
	}
	first := b.items[0]
	idle := time.Duration(time.Now().UnixNano() - w.active.Load())
	failing := w.failing.Load()
	w.attached = false
	var ev int64
	if first.reason == "" {
		ev = first.dec.TimeMillis
	}
	w.pending.Store(ev)
	w.detached.Store(true)
	f.g.setPart(w.t.ID, f.part, func(ps *partStat) { ps.parked = true })
	w.detachC <- detachSig{offset: first.msg.Offset, event: ev}
	f.lg.Info("target detached from the shared read (its queue is full); it continues on its own reader",
		"integration", w.t.ID, "offset", first.msg.Offset,
		"idle", idle.Round(time.Millisecond).String(), "failing", failing, "queued", w.queued.Load())
}

// enqueued counts b in w's queue. A worker whose queue was empty was
// waiting for work, not stuck: its activity clock (send's wait for room)
// runs from now. Else a healthy worker left idle while the shared read
// waited for another target would be detached at once when its queue
// filled (its last activity looked older than DetachWait).
func (w *worker) enqueued(b batch) {
	if wt := b.weight(); w.queued.Add(wt) == wt {
		w.active.Store(time.Now().UnixNano())
	}
}

func (f *fanout) attach(r attachReq) {
	f.next.Store(f.local)
	if r.pos < f.local || f.workers[r.w.t.ID] != r.w {
		r.reply <- attachReply{next: f.local}
		return
	}
	w := r.w
	w.attached, w.from, w.lastSent = true, r.pos, r.pos-1
	w.active.Store(time.Now().UnixNano())
	r.reply <- attachReply{ok: true, next: f.local}
	f.lg.Info("target caught up and rejoined the shared read", "integration", w.t.ID, "offset", r.pos)
}

// publishLag refreshes every target's lag here (a worker blocked in a
// failing upload does not publish its own).
func (f *fanout) publishLag() {
	h := f.hwm()
	if h < 0 {
		return
	}
	for _, w := range f.workers {
		if c := w.committed.Load(); c >= 0 {
			f.g.setPart(w.t.ID, f.part, func(ps *partStat) { ps.lag = h - c })
		}
	}
}

// commitMembership commits the lowest committed offset of the partition's
// targets to the membership group (fenced), so Kafka's tools show the
// slowest.
func (f *fanout) commitMembership() {
	low := int64(-1)
	for _, w := range f.workers {
		c := w.committed.Load()
		if c < 0 {
			return
		}
		if low < 0 || c < low {
			low = c
		}
	}
	if low < 0 {
		return
	}
	m := f.g.Metrics
	if m != nil && f.membership {
		l := partLabel(f.part)
		if h := f.hwm(); h >= 0 {
			m.Lag.WithLabelValues(l).Set(float64(h - low))
		}
	}
	if !f.membership || low == f.memberCommitted {
		return
	}
	if err := f.log.CommitMembership(f.ctx, low); err != nil {
		if f.ctx.Err() == nil {
			f.lg.Warn("membership offset commit failed; will retry", "offset", low, "error", err.Error())
		}
		return
	}
	f.memberCommitted = low
	if m != nil {
		m.CommittedOffset.WithLabelValues(partLabel(f.part)).Set(float64(low))
	}
}

// reconfigure asks the fanout to apply the group's current target set.
func (f *fanout) reconfigure() {
	select {
	case f.reconfC <- struct{}{}:
	default:
	}
}

// reconfigure1 applies the current target set (fanout goroutine): removed or
// changed targets stop, added ones start at their own position.
func (f *fanout) reconfigure1() {
	set := f.g.targets()
	f.set = set
	want := map[string]Target{}
	for _, t := range set.forTopic(f.topic) {
		want[t.ID] = t
	}
	for id, w := range f.workers {
		t, ok := want[id]
		if ok && t.Version == w.t.Version {
			continue // same settings (Version covers every field that matters)
		}
		f.lg.Info("target removed from the partition", "integration", id)
		f.stopWorker(w)
		delete(f.workers, id)
		if !ok {
			f.g.dropPart(id, f.part)
		}
	}
	for id, t := range want {
		if f.workers[id] != nil {
			continue
		}
		w := f.newWorker(t)
		f.workers[id] = w
		f.lg.Info("target added to the partition", "integration", id)
		f.startWorker(w, true)
	}
	f.index()
	if f.inline != nil && (len(f.workers) != 1 || f.workers[f.inline.t.ID] != f.inline) {
		// Several targets now: the directly fed one gets its own goroutine.
		w := f.inline
		f.inline = nil
		if f.workers[w.t.ID] == w {
			f.startWorker(w, false)
		}
	}
}

// stopWorker cancels w and waits for it: its open objects are discarded and
// their records stay uncommitted in its group.
func (f *fanout) stopWorker(w *worker) {
	w.cancel()
	if w == f.inline {
		f.inline = nil
		w.p.Close()
		return
	}
	<-w.done
}

// run is a worker goroutine.
func (w *worker) run(resolve bool) {
	f := w.f
	if resolve {
		r, ok := w.resolve()
		if !ok {
			return
		}
		w.p = f.newPartition(w, r)
		f.g.setPart(w.t.ID, f.part, func(ps *partStat) { ps.lost = r.Lost })
		if !w.catchUp(detachSig{offset: r.Offset}) {
			w.p.Close()
			return
		}
	} else if w.startDetached {
		if !w.catchUp(detachSig{offset: w.catchFrom}) {
			w.p.Close()
			return
		}
	}
	defer w.p.Close()
	w.loop()
}

// resolve finds a live-added target's position, retrying until it works or
// the worker stops.
func (w *worker) resolve() (TargetResume, bool) {
	for attempt := 1; ; attempt++ {
		r, err := w.f.log.Resume(w.ctx, w.t)
		if err == nil {
			return r, true
		}
		if w.ctx.Err() != nil || w.stopped() {
			return TargetResume{}, false
		}
		w.f.lg.Warn("reading the target's committed offset failed; retrying", "integration", w.t.ID, "attempt", attempt, "error", err.Error())
		if sleepCtx(w.ctx, time.Second) != nil {
			return TargetResume{}, false
		}
	}
}

func (w *worker) stopped() bool {
	select {
	case <-w.f.stop:
		return true
	default:
		return false
	}
}

// loop is the attached worker: records from the fanout, ticks, and on
// detach the catch-up.
func (w *worker) loop() {
	tick := time.NewTicker(w.f.tick)
	defer tick.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-w.f.stop:
			return
		case b := <-w.ch:
			if w.handle(b) != nil {
				return
			}
		case r := <-w.p.uploadResults():
			if w.p.applyUpload(r) != nil {
				return
			}
			w.publish() // the commit it made shows in the status now, not a tick later
		case d := <-w.detachC:
			// The fanout sends nothing more: finish what it queued.
			for len(w.ch) > 0 {
				if w.handle(<-w.ch) != nil {
					return
				}
			}
			if !w.catchUp(d) {
				return
			}
		case <-tick.C:
			if w.p.Tick(w.ctx) != nil {
				return
			}
			w.publish()
		}
	}
}

// handle takes one batch off the queue: its records, then its position.
func (w *worker) handle(b batch) error {
	w.active.Store(time.Now().UnixNano())
	w.queued.Add(-b.weight())
	select {
	case w.room <- struct{}{}:
	default:
	}
	for i := range b.items {
		it := &b.items[i]
		if err := w.p.HandleDecoded(w.ctx, it.msg, it.dec, it.reason); err != nil {
			return err
		}
	}
	if b.items != nil {
		clear(b.items) // let the values go
		select {
		case w.free <- b.items:
		default:
		}
	}
	return w.p.Skip(w.ctx, b.last, b.event)
}

// publish copies the worker's state into the target's status.
func (w *worker) publish() {
	f := w.f
	c := w.p.Committed()
	w.committed.Store(c)
	oldest := w.p.oldestOpenWindow()
	parked := w.detached.Load()
	if pend := w.pending.Load(); parked && pend > 0 && (oldest < 0 || pend < oldest) {
		oldest = pend
	}
	var lag int64
	if h := f.hwm(); h >= 0 && c >= 0 {
		lag = h - c
	}
	f.g.setPart(w.t.ID, f.part, func(ps *partStat) {
		ps.parked, ps.lag, ps.oldest, ps.committed = parked, lag, oldest, c
	})
}

// catchUp reads the partition on the worker's own reader from d.offset until
// it reaches the fanout's position, then asks to be attached again. It
// returns false when the worker must stop.
func (w *worker) catchUp(d detachSig) bool {
	f := w.f
	pos := d.offset
	w.detached.Store(w.ahead == 0) // a target reading ahead is not parked
	if d.event > 0 {
		w.pending.Store(d.event)
	}
	w.publish()
	if pos > 0 {
		if err := w.p.Skip(w.ctx, pos-1, 0); err != nil {
			return false
		}
	}
	var rd recordReader
	var recs *recordIter
	defer func() {
		if rd != nil {
			rd.Close()
		}
	}()
	var held *Message
	lastTick := time.Now()
	for {
		if w.ctx.Err() != nil || w.stopped() {
			return false
		}
		if w.p.reap() != nil {
			return false
		}
		if time.Since(lastTick) >= f.tick {
			if w.p.Tick(w.ctx) != nil {
				return false
			}
			w.publish()
			lastTick = time.Now()
		}
		n := f.next.Load()
		if held != nil {
			if held.Offset < n {
				m := *held
				held = nil
				if w.catchUpRecord(m) != nil {
					return false
				}
				pos = m.Offset + 1
				continue
			}
			pos = max(pos, n) // nothing between pos and the held record
		}
		// far: reading ahead of the shared read, still more than w.ahead
		// records ahead of it (n only grows, so it never becomes far again
		// once near; no record is held while far).
		far := w.ahead > 0 && n >= 0 && held == nil && pos-n > w.ahead
		if n < 0 || (pos >= n && !far) {
			reply := make(chan attachReply, 1)
			select {
			case f.attachC <- attachReq{w: w, pos: pos, reply: reply}:
			case <-f.done:
				return false
			case <-w.ctx.Done():
				return false
			}
			r := <-reply
			if r.ok {
				w.ahead = 0
				w.active.Store(time.Now().UnixNano())
				w.detached.Store(false)
				w.pending.Store(0)
				w.publish()
				return true
			}
			continue
		}
		if rd == nil {
			var err error
			if rd, err = f.log.Open(w.ctx, pos); err != nil {
				rd = nil
				f.lg.Warn("catch-up reader failed; retrying", "integration", w.t.ID, "error", err.Error())
				if sleepCtx(w.ctx, time.Second) != nil {
					return false
				}
				continue
			}
			recs = &recordIter{rd: rd, buf: make([]Message, chunkRecords)}
		}
		fctx, cancel := context.WithTimeout(w.ctx, f.tick)
		m, err := recs.Next(fctx)
		cancel()
		if err != nil {
			if w.ctx.Err() != nil {
				return false
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				f.lg.Warn("catch-up fetch failed; retrying", "integration", w.t.ID, "error", err.Error())
				if sleepCtx(w.ctx, time.Second) != nil {
					return false
				}
			}
			continue
		}
		if m.Offset < pos {
			continue
		}
		if m.Offset >= n && !far {
			held = &m
			continue
		}
		if w.catchUpRecord(m) != nil {
			return false
		}
		pos = m.Offset + 1
	}
}

// catchUpRecord decodes and selects one record for this worker alone.
func (w *worker) catchUpRecord(m Message) error {
	dec, reason := hits.Decode(m.Value, m.Time, w.f.limits)
	if reason != "" {
		if w.t.Rejected {
			return w.p.HandleDecoded(w.ctx, m, dec, reason)
		}
		return w.p.Skip(w.ctx, m.Offset, 0)
	}
	w.pending.Store(dec.TimeMillis)
	if ref := w.sel.Load(); ref != nil && ref.sel != nil {
		if len(w.scratch) != ref.n {
			w.scratch = make([]bool, ref.n)
		} else {
			clear(w.scratch)
		}
		ref.sel(dec.Value, w.scratch)
		if i := int(w.idx.Load()); i >= len(w.scratch) || !w.scratch[i] {
			return w.p.Skip(w.ctx, m.Offset, dec.TimeMillis)
		}
	}
	return w.p.HandleDecoded(w.ctx, m, dec, reason)
}
