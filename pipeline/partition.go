package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/hits"
	"github.com/hitexport/hitexport/store"
)

// Message is one Kafka record as the partition worker sees it.
type Message struct {
	Offset int64
	Time   time.Time
	Key    []byte
	Value  []byte
}

// Committer commits offset, with the state the next owner needs, for the
// worker's partition; it must fail once the generation that assigned the
// partition is over.
type Committer func(ctx context.Context, offset int64, state CommitState) error

// Settings are the windowing and limits shared by all partition workers.
type Settings struct {
	Layout          Layout
	AllowedLateness time.Duration
	IdleTimeout     time.Duration
	LateMaxAge      time.Duration
	Limits          hits.Limits
	MaxObjectBytes  int64
	MaxOpenObjects  int
	SpoolMemory     int
	SpoolDir        string
	// Tick is how often idleness and ages are checked.
	Tick time.Duration
	// CommitInterval, when positive, makes offset commits asynchronous: the
	// partition reads on while its commit is gathered with the other
	// partitions' for up to CommitInterval and sent in one request, at most
	// one commit of the partition in flight (a newer one goes when it is
	// answered). A commit still follows its upload, carries the state of
	// every upload before it, and the window layout's progress marker moves
	// only past windows whose parts are committed. Zero: each upload's
	// commit is made before the partition reads on (gathered for 10 ms).
	CommitInterval time.Duration
	// Stager, when set, selects the window layout: objects become staged
	// parts and workers publish their progress (staging.go).
	Stager *Stager
}

// Partition owns one assigned partition: its open objects, watermark and
// offsets. Every method is called from the one goroutine that runs it; there
// are no locks.
type Partition struct {
	Topic string
	ID    int

	s        *Settings
	up       *Uploader
	commit   Committer
	log      *slog.Logger
	m        *Metrics
	spool    *SpoolStats
	now      func() time.Time
	hwm      func() int64
	label    string
	consumed prometheus.Counter // Metrics.Consumed of this partition, looked up once
	paused   func(bool)
	wm       *Watermark
	offs     *Offsets
	open     map[int64]*object // hits and late objects, by window start
	rejected *object

	lastRecord    time.Time
	committed     int64
	commitPending bool
	// Asynchronous commits (Settings.CommitInterval > 0): commitRes
	// receives the outcome of the one commit in flight (commitBusy); a
	// non-nil dueCtx asks for another, with it, once that one is answered.
	// uploadSeq counts applied uploads; unacked are the windows of staged
	// parts uploaded but not yet in a commit that succeeded (by uploadSeq),
	// which the progress marker treats as open (late parts: LateOpen).
	commitRes  chan commitResult
	commitBusy bool
	dueCtx     context.Context
	uploadSeq  uint64
	unacked    []unackedPart
	closing    bool // finishCommits is waiting: commits are urgent
	onUpload   func(key string, records int, window int64, err error)
	// endOfInput, when set and true once msgs is closed, means the input
	// ended because a range was read to its end (replay): Run then uploads
	// every open object instead of discarding them.
	endOfInput func() bool
	uploaded   func(Upload, Outcome)
	skipped    func()
	onClose    func()

	// maxUploads is the most uploads in flight (1: flush uploads itself);
	// inflight are started and not yet applied; their results come on
	// uploads (capacity maxUploads).
	maxUploads int
	inflight   int
	flying     map[*object]struct{} // the objects of the uploads in flight
	full       map[*object]struct{} // those of them closed for their size (settle)
	uploads    chan *upload
	failing    atomic.Int32 // uploads in flight whose last attempt failed
}

// PartitionDeps are what a worker needs besides its settings.
type PartitionDeps struct {
	Uploader *Uploader
	Commit   Committer
	Log      *slog.Logger
	Metrics  *Metrics
	Spool    *SpoolStats
	Now      func() time.Time
	// HighWatermark returns the partition's end offset, or -1 (for the lag
	// metric; optional).
	HighWatermark func() int64
	// OnUpload, when set, is called after every upload attempt with the
	// object's key, its record count, its window start (Unix ms;
	// RejectedWindow for rejected records) and the attempt's error (nil: the
	// object is in the bucket). Per-target status uses it.
	OnUpload func(key string, records int, window int64, err error)
	// Uploaded is called after each object's upload (written, or left
	// alone because the bucket held as many or more records); optional.
	Uploaded func(Upload, Outcome)
	// Skipped is called for each record skipped because it is already in
	// the bucket; optional.
	Skipped func()
	// Uploads is how many closed objects may be uploading at once while
	// the partition reads on (0 or 1: one at a time, reading waits for
	// it). Commits stay in offset order. The window layout (Settings.Stager)
	// counts the windows of the parts in flight as open in its progress
	// marker, so that no window is merged before its parts are in.
	Uploads int
	// OnClose, when set, is called once when the partition worker closes
	// (the Group counts its open target-partitions with it).
	OnClose func()
}

// NewPartition prepares a worker that starts reading at start (a negative
// start means "the earliest offset", learnt from the first record) with the
// state committed by the previous owner.
func NewPartition(topic string, id int, s *Settings, d PartitionDeps, start int64, st CommitState) *Partition {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Spool == nil {
		d.Spool = &SpoolStats{}
	}
	if d.Metrics == nil {
		// After the spool default: the spool gauges watch the worker's spool.
		d.Metrics = NewMetrics(nil, d.Spool)
	}
	p := &Partition{
		Topic: topic, ID: id, s: s, up: d.Uploader, commit: d.Commit, m: d.Metrics, spool: d.Spool,
		now: d.Now, hwm: d.HighWatermark, label: partLabel(id), uploaded: d.Uploaded, skipped: d.Skipped,
		log:  d.Log.With("topic", topic, "partition", id),
		wm:   NewWatermark(s.Layout.Window, s.AllowedLateness),
		open: map[int64]*object{},
	}
	p.onUpload, p.onClose = d.OnUpload, d.OnClose
	if s.CommitInterval > 0 {
		p.commitRes = make(chan commitResult, 1)
	}
	if d.Uploads > 1 {
		p.maxUploads = d.Uploads
		p.uploads = make(chan *upload, d.Uploads)
		p.flying = map[*object]struct{}{}
		p.full = map[*object]struct{}{}
	}
	p.consumed = p.m.Consumed.WithLabelValues(p.label)
	p.wm.MaxEvent, p.wm.ClosedBefore = st.MaxEvent, st.ClosedBefore
	p.offs = NewOffsets(start, st.Ranges)
	p.committed = start
	p.lastRecord = p.now()
	p.paused = func(on bool) {
		v := 0.0
		if on {
			v = 1
		}
		p.m.Paused.WithLabelValues(p.label).Set(v)
	}
	p.paused(false) // the gauge shows 0 from the start, not only after a failure
	return p
}

func (p *Partition) skip() {
	p.m.Skipped.Inc()
	if p.skipped != nil {
		p.skipped()
	}
}

// inputClosed: at the end of a range every open object is uploaded; else
// (the reader stopped for ctx) they are left to Close.
func (p *Partition) inputClosed(ctx context.Context) error {
	if p.endOfInput != nil && p.endOfInput() && ctx.Err() == nil {
		return p.Flush(ctx)
	}
	return nil
}

// Handle processes one record. It returns an error only when ctx ended
// during an upload.
func (p *Partition) Handle(ctx context.Context, msg Message) error {
	dec, reason := hits.Decode(msg.Value, msg.Time, p.s.Limits)
	return p.HandleDecoded(ctx, msg, dec, reason)
}

// HandleDecoded processes one record already decoded by hits.Decode with
// this partition's limits (the fanout decodes once for every target).
func (p *Partition) HandleDecoded(ctx context.Context, msg Message, dec hits.Decoded, reason hits.Reason) error {
	if p.inflight > 0 {
		if err := p.waitFailing(); err != nil {
			return err
		}
		// Before the record counts as read (Offsets.Read): a commit made
		// while waiting must not pass it.
		span := RejectedWindow
		if reason == "" {
			span = WindowStart(dec.TimeMillis, p.s.Layout.Window)
		}
		if err := p.settle(span); err != nil {
			return err
		}
	}
	p.offs.Read(msg.Offset)
	p.lastRecord = p.now()
	p.consumed.Inc()

	if reason != "" {
		return p.reject(ctx, msg, reason)
	}
	w := WindowStart(dec.TimeMillis, p.s.Layout.Window)
	if p.offs.Covered(w, msg.Offset) {
		p.skip()
		if p.wm.Observe(dec.TimeMillis) {
			return p.flushClosed(ctx)
		}
		return nil
	}
	obj := p.open[w]
	if obj == nil {
		kind := KindHits
		if p.wm.IsClosed(w) {
			kind = KindLate
		}
		var err error
		if obj, err = p.openObject(kind, w, w, msg.Offset); err != nil {
			return err
		}
		p.open[w] = obj
	}
	if obj.kind == KindLate {
		p.m.Late.Inc()
	}
	if err := obj.add(encoders.Record{Value: dec.Value, TimeMillis: dec.TimeMillis, Topic: p.Topic, Partition: p.ID, Offset: msg.Offset}); err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	if obj.raw >= p.s.MaxObjectBytes {
		if err := p.flushFull(ctx, obj); err != nil {
			return err
		}
	}
	if p.wm.Observe(dec.TimeMillis) {
		if err := p.flushClosed(ctx); err != nil {
			return err
		}
	}
	return p.enforceOpenLimit(ctx)
}

func (p *Partition) reject(ctx context.Context, msg Message, reason hits.Reason) error {
	if p.offs.Covered(RejectedWindow, msg.Offset) {
		p.skip()
		return nil
	}
	p.m.Rejected.WithLabelValues(string(reason)).Inc()
	p.log.Debug("record rejected", "offset", msg.Offset, "reason", reason, "size", len(msg.Value))
	line, err := rejectedLine(p.Topic, p.ID, msg.Offset, reason, msg.Time, msg.Key, msg.Value)
	if err != nil {
		return err
	}
	if p.rejected == nil {
		kt := msg.Time.UnixMilli()
		if msg.Time.IsZero() || kt < 0 {
			kt = 0
		}
		if p.rejected, err = p.openObject(KindRejected, WindowStart(kt, p.s.Layout.Window), RejectedWindow, msg.Offset); err != nil {
			return err
		}
	}
	if err := p.rejected.add(encoders.Record{Value: line, Offset: msg.Offset, Topic: p.Topic, Partition: p.ID}); err != nil {
		return fmt.Errorf("encode rejected: %w", err)
	}
	if p.rejected.raw >= p.s.MaxObjectBytes {
		return p.flushFull(ctx, p.rejected)
	}
	return nil
}

func (p *Partition) openObject(kind Kind, window, span, first int64) (*object, error) {
	o, err := newObjectIn(kind, window, span, first, p.now(), p.s.Layout, p.stagedCodec(kind), NewSpool(p.s.SpoolMemory, p.s.SpoolDir, p.spool))
	if err != nil {
		return nil, err
	}
	o.track = p.s.Stager != nil && kind != KindRejected
	p.offs.Open(first)
	return o, nil
}

// Tick closes what idleness and age close, refreshes gauges and retries a
// failed commit.
func (p *Partition) Tick(ctx context.Context) error {
	if err := p.reap(); err != nil {
		return err
	}
	if err := p.waitFailing(); err != nil {
		return err
	}
	now := p.now()
	idle := now.Sub(p.lastRecord) >= p.s.IdleTimeout
	if idle {
		p.wm.Idle(now)
	}
	var due []*object
	for _, o := range p.open {
		switch {
		case o.kind == KindHits && p.wm.IsClosed(o.window):
			due = append(due, o)
		case o.kind == KindLate && (idle || now.Sub(o.opened) >= p.s.LateMaxAge):
			due = append(due, o)
		}
	}
	if p.rejected != nil && (idle || now.Sub(p.rejected.opened) >= p.s.LateMaxAge) {
		due = append(due, p.rejected)
	}
	sortObjects(due)
	for _, o := range due {
		if err := p.flush(ctx, o); err != nil {
			return err
		}
	}
	if !p.commitBusy && (p.commitPending || p.dueCtx != nil || (len(due) == 0 && p.offs.Committable() > p.committed)) {
		p.doCommit(ctx)
	}
	p.gauges(now)
	p.stageProgress(ctx)
	return nil
}

func (p *Partition) gauges(now time.Time) {
	n := len(p.open)
	oldest := now
	for _, o := range p.open {
		if o.opened.Before(oldest) {
			oldest = o.opened
		}
	}
	if p.rejected != nil {
		n++
		if p.rejected.opened.Before(oldest) {
			oldest = p.rejected.opened
		}
	}
	p.m.OpenObjects.WithLabelValues(p.label).Set(float64(n))
	p.m.OldestOpenAge.WithLabelValues(p.label).Set(now.Sub(oldest).Seconds())
	if p.hwm != nil {
		if h := p.hwm(); h >= 0 && p.committed >= 0 {
			p.m.Lag.WithLabelValues(p.label).Set(float64(h - p.committed))
		}
	}
}

// flushClosed uploads every on-time object whose window the watermark closed.
func (p *Partition) flushClosed(ctx context.Context) error {
	var due []*object
	for _, o := range p.open {
		if o.kind == KindHits && p.wm.IsClosed(o.window) {
			due = append(due, o)
		}
	}
	sortObjects(due)
	for _, o := range due {
		if err := p.flush(ctx, o); err != nil {
			return err
		}
	}
	return nil
}

// enforceOpenLimit uploads the oldest windows while more objects are open
// than allowed (bounded memory and file handles, e.g. during a replay of
// scattered data).
func (p *Partition) enforceOpenLimit(ctx context.Context) error {
	for len(p.open) > p.s.MaxOpenObjects {
		var oldest *object
		for _, o := range p.open {
			if oldest == nil || o.window < oldest.window {
				oldest = o
			}
		}
		if err := p.flush(ctx, oldest); err != nil {
			return err
		}
	}
	return nil
}

func sortObjects(os []*object) {
	sort.Slice(os, func(i, j int) bool { return os[i].first < os[j].first })
}

// flush finishes o and uploads it (retrying until it succeeds or ctx
// ends), then commits. With Uploads > 1 the upload runs in its own goroutine
// and flush returns once it started (after waiting for one of those in
// flight when Uploads already are): its result is applied, and the commit
// made, by the partition's goroutine (reap, Flush, Close). The commit point
// stays the lowest first offset of any object not yet uploaded: an object
// in flight keeps its first offset open until its result is applied.
func (p *Partition) flush(ctx context.Context, o *object) error {
	if o == p.rejected {
		p.rejected = nil
	} else {
		delete(p.open, o.window)
	}
	if err := o.finish(); err != nil {
		o.discard()
		p.offs.Discard(o.first)
		return fmt.Errorf("finish object: %w", err)
	}
	l := p.s.Layout
	u := Upload{
		Key:   p.objectKey(o),
		Spool: o.spool,
		Opts: store.PutOptions{ContentType: l.ContentType(o.kind),
			Metadata: o.metadata(l, p.Topic, p.ID)},
		Range:    Range{Window: o.span, First: o.first, Last: o.last},
		Kind:     o.kind,
		Format:   o.enc.Format(),
		Count:    o.count,
		OnPaused: p.paused,
	}
	p.stagedOpts(o, &u.Opts)
	if o.track {
		// The part's offsets index, written before the part in the same
		// attempt (offsetindex.go); the part's metadata names it.
		si := newStagedIndex(u.Key, o.offsets)
		u.Opts.Metadata[MetaOffsetsIndex] = si.hash
		bucket, written := p.up.Bucket, false
		u.Before = func(ctx context.Context) error {
			if written {
				return nil
			}
			if err := si.put(ctx, bucket); err != nil {
				return fmt.Errorf("offsets index %s: %w", si.key, err)
			}
			written = true
			return nil
		}
	}
	if p.onUpload != nil {
		key, n, w := u.Key, o.count, o.span
		u.OnAttempt = func(err error) { p.onUpload(key, n, w, err) }
	}
	r := &upload{ctx: ctx, o: o, u: u, start: p.now()}
	if p.maxUploads <= 1 {
		r.out, r.err = p.up.Upload(ctx, u)
		r.took = p.now().Sub(r.start)
		return p.uploadDone(r)
	}
	for p.inflight >= p.maxUploads {
		if err := p.applyUpload(<-p.uploads); err != nil {
			return err
		}
	}
	if err := p.waitFailing(); err != nil {
		return err
	}
	p.inflight++
	p.flying[o] = struct{}{}
	go func() {
		// While an attempt of this upload failed (the destination is down)
		// the partition stops reading, as it did when it uploaded itself:
		// waitFailing.
		failed := false
		r.u.OnPaused = func(on bool) {
			p.paused(on)
			if on != failed {
				failed = on
				if on {
					p.failing.Add(1)
				} else {
					p.failing.Add(-1)
				}
			}
		}
		began := time.Now()
		r.out, r.err = p.up.Upload(ctx, r.u)
		r.took = time.Since(began)
		if failed {
			p.failing.Add(-1)
		}
		p.uploads <- r // buffered: never blocks
	}()
	return nil
}

// waitFailing waits for the uploads in flight while one of them is failing:
// a partition whose destination is down reads no further (as when it
// uploaded one object at a time), so that its target is parked and its
// memory stays bounded.
func (p *Partition) waitFailing() error {
	if p.inflight == 0 || p.failing.Load() == 0 {
		return nil
	}
	return p.waitUploads()
}

// upload is one object's upload, run by flush.
type upload struct {
	ctx   context.Context
	o     *object
	u     Upload
	start time.Time
	took  time.Duration // the upload's duration
	out   Outcome
	err   error
}

// uploadDone applies the result of r: the object is in the bucket (its
// span noted, the offset committed), or, when its ctx ended first, its
// records stay uncommitted.
func (p *Partition) uploadDone(r *upload) error {
	o, u, out := r.o, r.u, r.out
	defer o.spool.Close()
	if r.err != nil {
		p.offs.Discard(o.first)
		return r.err
	}
	p.offs.Uploaded(u.Range)
	p.uploadSeq++
	if p.commitRes != nil && p.s.Stager != nil && o.kind != KindRejected {
		p.unacked = append(p.unacked, unackedPart{window: o.window, late: o.kind == KindLate, seq: p.uploadSeq})
	}
	if p.uploaded != nil {
		p.uploaded(u, out)
	}
	if out.Superseded {
		p.offs.Known(out.Existing)
		p.log.Info("object already in the bucket with as many or more records; not overwritten",
			"key", u.Key, "records", o.count, "first_offset", o.first, "last_offset", o.last,
			"existing_last_offset", out.Existing.Last)
	} else {
		p.log.Info("object uploaded", "key", u.Key, "kind", string(o.kind), "records", o.count,
			"bytes", o.spool.Size(), "first_offset", o.first, "last_offset", o.last,
			"attempts", out.Attempts, "duration", r.took.String())
	}
	p.doCommit(r.ctx)
	// Window layout: the part is in and committed, so the progress marker
	// may move now rather than a tick later: a stop right after the commit
	// (and the process's final merge sweep) finds it moved. After the
	// commit, so that a window is merged only once its parts' records are
	// committed (a crash in between leaves the marker behind, which the
	// next owner moves from the committed state; never a re-staged part
	// next to a merged one). Close discards the open objects only after
	// applying the last uploads, so the marker stays capped by them.
	p.stageProgress(r.ctx)
	return nil
}

// commitResults is the channel on which the outcome of the asynchronous
// commit in flight comes (nil when none is): the goroutine that runs the
// partition passes it to commitDone.
func (p *Partition) commitResults() <-chan commitResult {
	if !p.commitBusy {
		return nil
	}
	return p.commitRes
}

// uploadResults is the channel on which the results of the uploads in
// flight come (nil when uploads are not concurrent): the goroutine that runs
// the partition passes each to applyUpload.
func (p *Partition) uploadResults() <-chan *upload { return p.uploads }

// applyUpload applies an upload's result received from uploadResults; it
// returns an error when the upload's ctx ended before the object was in the
// bucket.
func (p *Partition) applyUpload(r *upload) error {
	p.inflight--
	delete(p.flying, r.o)
	delete(p.full, r.o)
	return p.uploadDone(r)
}

// settle applies the results of the uploads in flight of window span
// (RejectedWindow: the rejected stream) when the record about to be handled
// would open a new object of it. Such an upload may find its key already in
// the bucket with more records (Superseded: an earlier owner of the
// partition uploaded that object and lost its commit — a consumer-group
// generation ended while its upload was in flight — so this owner re-reads
// those records); only its result tells which offsets of the window the
// bucket holds (Offsets.Known). Without the wait, records of the window read
// meanwhile opened a new (late) object starting at an offset already
// uploaded, and every record of the existing object past the in-flight
// one's last was written twice (bench, 100 integrations, a round with three
// generations: up to 40 extra records per integration).
//
// Only a record whose window has an upload in flight and no open object
// waits, until that window's uploads are applied: at most once per closed
// object. An object closed for its size (MaxObjectBytes) is not waited for:
// an earlier owner's object under its key held the same records from the
// same first offset and was closed at the same record, so it cannot hold
// more; the window's next object uploads while the partition reads on.
func (p *Partition) settle(span int64) error {
	if span == RejectedWindow {
		if p.rejected != nil {
			return nil
		}
	} else if p.open[span] != nil {
		return nil
	}
	for p.inflight > 0 && p.flyingSpan(span) {
		if err := p.applyUpload(<-p.uploads); err != nil {
			return err
		}
	}
	return nil
}

// flyingSpan reports whether an upload of an object of window span, not
// closed for its size, is in flight.
func (p *Partition) flyingSpan(span int64) bool {
	for o := range p.flying {
		if _, full := p.full[o]; !full && o.span == span {
			return true
		}
	}
	return false
}

// flushFull flushes o, closed because it reached MaxObjectBytes.
func (p *Partition) flushFull(ctx context.Context, o *object) error {
	if err := p.flush(ctx, o); err != nil {
		return err
	}
	if _, ok := p.flying[o]; ok {
		p.full[o] = struct{}{}
	}
	return nil
}

// reap applies the results of the uploads and of the commit already done,
// without waiting.
func (p *Partition) reap() error {
	if p.commitBusy {
		select {
		case r := <-p.commitRes:
			p.commitDone(r)
		default:
		}
	}
	for p.inflight > 0 {
		select {
		case r := <-p.uploads:
			if err := p.applyUpload(r); err != nil {
				return err
			}
		default:
			return nil
		}
	}
	return nil
}

// waitUploads waits for every upload in flight and applies the results; it
// returns the first error.
func (p *Partition) waitUploads() error {
	var first error
	for p.inflight > 0 {
		if err := p.applyUpload(<-p.uploads); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// doCommit commits the committable offset with the resume state. A failure
// is retried on the next tick; it never loses data (the offset only lags).
// With Settings.CommitInterval it only starts the commit (or, while one is
// in flight, asks for the next): its outcome is applied by reap, Tick or
// Close (commitDone).
func (p *Partition) doCommit(ctx context.Context) {
	if p.commitBusy {
		p.dueCtx = ctx
		return
	}
	p.dueCtx = nil
	c := p.offs.Committable()
	if c < 0 || p.commit == nil {
		return
	}
	p.offs.Prune(c)
	st := CommitState{MaxEvent: p.wm.MaxEvent, ClosedBefore: p.closedBefore(), Ranges: p.offs.uploaded}
	if p.commitRes != nil {
		// Ranges is shared with p.offs, which the partition goes on
		// changing: the commit encodes a copy.
		st.Ranges = slices.Clone(st.Ranges)
		if p.closing || p.now().Sub(p.lastRecord) >= p.s.IdleTimeout {
			// Nothing more to gather: a quiet partition's last objects
			// (or the ones Close waits for) are committed at once.
			ctx = urgentCommit(ctx)
		}
		p.commitBusy = true
		seq, commit := p.uploadSeq, p.commit
		go func() {
			err := commit(ctx, c, st)
			p.commitRes <- commitResult{ctx: ctx, offset: c, seq: seq, err: err}
		}()
		return
	}
	p.commitDone(commitResult{ctx: ctx, offset: c, err: p.commit(ctx, c, st)})
}

type urgentKey struct{}

// urgentCommit marks ctx's commit as urgent: it is sent after the batcher's
// short linger, not held back by the commit interval.
func urgentCommit(ctx context.Context) context.Context {
	return context.WithValue(ctx, urgentKey{}, true)
}

func isUrgentCommit(ctx context.Context) bool {
	u, _ := ctx.Value(urgentKey{}).(bool)
	return u
}

// commitResult is the outcome of a commit of offset, made with the uploads
// up to seq applied.
type commitResult struct {
	ctx    context.Context
	offset int64
	seq    uint64
	err    error
}

// unackedPart is a staged part's window (of late hits: late) uploaded as
// the seq-th upload and not yet covered by a commit that succeeded.
type unackedPart struct {
	window int64
	late   bool
	seq    uint64
}

// commitDone applies a commit's outcome; an asynchronous one then moves the
// progress marker past the windows it committed and starts a commit asked
// for meanwhile.
func (p *Partition) commitDone(r commitResult) {
	async := p.commitBusy
	p.commitBusy = false
	if r.err != nil {
		p.commitPending = true
		p.m.Commits.WithLabelValues("error").Inc()
		if r.ctx.Err() == nil {
			p.log.Warn("offset commit failed; will retry", "offset", r.offset, "error", r.err.Error())
		}
		return
	}
	p.commitPending = false
	if r.offset > p.committed {
		p.committed = r.offset
	}
	p.m.Commits.WithLabelValues("ok").Inc()
	p.m.CommittedOffset.WithLabelValues(p.label).Set(float64(p.committed))
	if !async {
		return
	}
	n := 0
	for _, u := range p.unacked {
		if u.seq > r.seq {
			p.unacked[n] = u
			n++
		}
	}
	p.unacked = p.unacked[:n]
	if p.dueCtx != nil && r.ctx.Err() == nil {
		p.doCommit(p.dueCtx)
	}
	p.stageProgress(r.ctx)
}

// finishCommits waits for the commit in flight and makes the one asked for
// meanwhile, waiting for it too (Close, Flush).
func (p *Partition) finishCommits() {
	p.closing = true
	defer func() { p.closing = false }()
	for p.commitBusy {
		p.commitDone(<-p.commitRes)
	}
}

// Close discards every open object (their records stay uncommitted) and
// removes the partition's paused, age, lag and committed-offset series: the
// partition is revoked or the process stops, and a series left behind (a
// paused 1 from an upload cut short by a rebalance) would fire alerts for a
// partition this replica no longer owns. The next owner creates them anew.
func (p *Partition) Close() {
	// Uploads in flight end as they would have in the worker: on stop
	// they finish (and commit), when their ctx ended they fail.
	p.waitUploads()
	p.finishCommits()
	for w, o := range p.open {
		o.discard()
		p.offs.Discard(o.first)
		delete(p.open, w)
	}
	if p.rejected != nil {
		p.rejected.discard()
		p.offs.Discard(p.rejected.first)
		p.rejected = nil
	}
	p.m.OpenObjects.WithLabelValues(p.label).Set(0)
	p.m.Paused.DeleteLabelValues(p.label)
	p.m.OldestOpenAge.DeleteLabelValues(p.label)
	p.m.Lag.DeleteLabelValues(p.label)
	p.m.CommittedOffset.DeleteLabelValues(p.label)
	if f := p.onClose; f != nil {
		p.onClose = nil
		f()
	}
}

// Flush uploads every open object regardless of windows (used by replay at
// the end of its range and by tests).
func (p *Partition) Flush(ctx context.Context) error {
	var all []*object
	for _, o := range p.open {
		all = append(all, o)
	}
	if p.rejected != nil {
		all = append(all, p.rejected)
	}
	sortObjects(all)
	for _, o := range all {
		if err := p.flush(ctx, o); err != nil {
			return err
		}
	}
	err := p.waitUploads()
	p.finishCommits()
	return err
}
