package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/store"
)

// The steps of a merge a test can stop the process at (Merger.Hook;
// HITEXPORT_TEST_CRASH_AT, test only).
const (
	StepAfterManifest = "merge-after-manifest" // the manifest is written, nothing else
	StepAfterPart     = "merge-after-part"     // after each part read into the final object
	StepAfterFinal    = "merge-after-final"    // every final object written, no done record
	StepAfterDone     = "merge-after-done"     // the done record written, parts not deleted
	StepDuringCleanup = "merge-during-cleanup" // after the first part was deleted
)

// MetaMergeID is the metadata key of a final object naming the merge that
// wrote it; MetaParts the number of parts it was merged from.
const (
	MetaMergeID = "merge-id"
	MetaParts   = "parts"
)

// Merger turns the staged parts of the window layout into final objects,
// one per window (plus one per late flush), exactly once. Any number of
// replicas may run one: every step is idempotent and the manifest, written
// with a conditional create, decides which parts go into which object.
// docs/objects.md has the protocol and its crash analysis.
type Merger struct {
	Bucket store.Bucket
	// Layout gives the window size; formats and compression are read from
	// the parts' keys.
	Layout Layout
	Topic  string
	// Partitions returns the number of partitions of Topic.
	Partitions func(ctx context.Context) (int, error)
	// LateDelay: late parts of a finished window are merged once the oldest
	// has waited this long (so that the late parts of every partition flushed
	// at about the same time make one object).
	LateDelay      time.Duration
	MaxObjectBytes int64
	SpoolMemory    int
	SpoolDir       string
	// Interval is the period of the sweep (zero: 30s); Poke sweeps sooner.
	Interval time.Duration
	Log      *slog.Logger
	Now      func() time.Time
	// Hook, if set, is called at each step (tests stop the process there).
	Hook func(step string)
	// Stats counts the work done (optional).
	Stats *MergeStats
	// MergedRetention: a window's done records and offsets indexes are
	// removed once the newest is this old and nothing of the window is
	// pending (zero: DefaultMergedRetention). ExpireEvery is how often a
	// sweep looks for them (zero: hourly; the first sweep always does).
	MergedRetention time.Duration
	ExpireEvery     time.Duration

	once       sync.Once
	lastExpire time.Time
	poke       chan struct{}
	// all: the sweep merges late parts without waiting for LateDelay.
	all bool
}

// SweepAll is Sweep that merges late parts at once (the last sweep before
// the process stops, and replay's).
func (m *Merger) SweepAll(ctx context.Context) error {
	m.all = true
	defer func() { m.all = false }()
	return m.Sweep(ctx)
}

// MergeStats counts what merging cost.
type MergeStats struct {
	Merges       atomic.Int64 // merges completed
	Objects      atomic.Int64 // final objects written
	Records      atomic.Int64 // records written into final objects
	PartsRead    atomic.Int64
	BytesRead    atomic.Int64 // stored bytes of the parts read
	BytesWritten atomic.Int64 // stored bytes of the final objects, manifests and done records
	// Overlaps counts parts of one partition that overlap without one
	// containing the other and could not be resolved record by record (an
	// offsets index missing): their common records may be in two objects.
	Overlaps atomic.Int64
	// OverlapsResolved counts such parts merged exactly, with the offsets
	// indexes; Deduplicated the records they left out.
	OverlapsResolved atomic.Int64
	Deduplicated     atomic.Int64
	// Expired counts done records and offsets indexes removed after
	// MergedRetention.
	Expired atomic.Int64
}

// mergeManifest is the merge manifest (_hitexport/merging/<name>.json) and,
// with Objects and Records filled in, the done record
// (_hitexport/merged/<name>.json).
type mergeManifest struct {
	Version     int         `json:"version"`
	ID          string      `json:"id"`
	Topic       string      `json:"topic"`
	Window      int64       `json:"window"` // Unix ms
	Late        int         `json:"late,omitempty"`
	Ext         string      `json:"ext"`
	Compression string      `json:"compression"`
	Parts       []mergePart `json:"parts"`          // merged, in this order
	Drop        []mergePart `json:"drop,omitempty"` // contained in merged parts: deleted unread
	Created     time.Time   `json:"created"`
	Objects     []string    `json:"objects,omitempty"`
	Records     int64       `json:"records,omitempty"`
}

type mergePart struct {
	Key       string `json:"key"`
	Partition int    `json:"partition"`
	First     int64  `json:"first"`
	Last      int64  `json:"last"`
	Count     int64  `json:"count"`
	ETag      string `json:"etag,omitempty"`
	Late      bool   `json:"late,omitempty"`
	// Skip: the first Skip records are merged already (from a shorter
	// copy of this part) and are left out.
	Skip int64 `json:"skip,omitempty"`
	// Index is the hash of the part's offsets index (offsetindex.go; ""
	// for a part written without one).
	Index string `json:"index,omitempty"`
	// Omit: positions of records (among [Skip, Count)) left out because
	// another part of the partition holds them (a partial overlap resolved
	// with the offsets indexes).
	Omit []Span `json:"omit,omitempty"`

	modified time.Time
}

// deduplicated reports whether a dropped part was dropped because the
// offsets indexes showed all its records in other parts (its span is not
// covered by theirs, so it says nothing about the offsets between).
func (p mergePart) deduplicated() bool { return len(p.Omit) > 0 && p.remaining() == 0 }

func (mf *mergeManifest) key() WindowKey {
	return WindowKey{Window: mf.Window, Late: mf.Late, Split: 1, Ext: mf.Ext, Compression: encoders.Compression(mf.Compression)}
}

func (mf *mergeManifest) name() string { return mf.key().Name() }

// computeID identifies the merge by its name and parts: two manifests with
// the same ID write the same bytes.
func (mf *mergeManifest) computeID() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s%s\n", mf.Topic, mf.name(), mf.Ext, mf.Compression)
	for _, p := range mf.Parts {
		fmt.Fprintf(h, "%s %d %d %s %d\n", p.Key, p.First, p.Last, p.ETag, p.Skip)
		for _, o := range p.Omit {
			fmt.Fprintf(h, " omit %d %d\n", o.From, o.To)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

var (
	errConflict = errors.New("the final object's key holds another merge's object")
	// errNameTaken: a merge's name was taken by final objects of a merge
	// whose done record is gone; its manifest is void.
	errNameTaken = errors.New("the merge's name is taken by objects without a done record")
	errPartGone  = errors.New("a part of the manifest is gone")
	errEnough    = errors.New("enough records read")
)

func (m *Merger) init() {
	m.once.Do(func() {
		m.poke = make(chan struct{}, 1)
		if m.Log == nil {
			m.Log = slog.New(slog.DiscardHandler)
		}
		if m.Now == nil {
			m.Now = time.Now
		}
		if m.Stats == nil {
			m.Stats = &MergeStats{}
		}
		if m.MaxObjectBytes <= 0 {
			m.MaxObjectBytes = 512 << 20
		}
		if m.SpoolMemory <= 0 {
			m.SpoolMemory = 8 << 20
		}
	})
}

// Poke asks for a sweep soon (after a partition's progress moved).
func (m *Merger) Poke() {
	m.init()
	select {
	case m.poke <- struct{}{}:
	default:
	}
}

// Run sweeps at start, after each Poke and every Interval until ctx ends
// or stop is closed; after stop it runs a last sweep that merges the late
// parts without waiting for LateDelay (a bucket at rest holds no staged
// part of a finished window), bounded by ctx, and returns.
func (m *Merger) Run(ctx context.Context, stop <-chan struct{}) {
	m.init()
	iv := m.Interval
	if iv <= 0 {
		iv = 30 * time.Second
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		if err := m.Sweep(ctx); err != nil && ctx.Err() == nil {
			m.Log.Warn("merge sweep failed; will retry", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-stop:
			if err := m.SweepAll(ctx); err != nil && ctx.Err() == nil {
				m.Log.Warn("last merge sweep failed; the next start completes it", "error", err.Error())
			}
			return
		case <-t.C:
		case <-m.poke:
		}
	}
}

func (m *Merger) hook(step string) {
	if m.Hook != nil {
		m.Hook(step)
	}
}

// Sweep completes pending manifests, then merges every window every
// partition has closed, then the late parts that waited LateDelay.
func (m *Merger) Sweep(ctx context.Context) error {
	m.init()
	var manifests, failed []string
	if err := m.Bucket.List(ctx, mergingDir, func(o store.ObjectInfo) error {
		manifests = append(manifests, o.Key)
		return nil
	}); err != nil {
		return err
	}
	for _, k := range manifests {
		mf, err := m.readManifest(ctx, k)
		if store.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		if mf.Topic != m.Topic {
			continue
		}
		if err := m.complete(ctx, k, mf); err != nil && !errors.Is(err, errNameTaken) {
			if ctx.Err() != nil {
				return err
			}
			// One manifest failing (a server error) does not hold back the
			// others; it is tried again on the next sweep.
			m.Log.Warn("completing a merge failed; will retry", "manifest", k, "error", err.Error())
			failed = append(failed, k)
		}
	}

	windows := map[int64][]mergePart{}
	for _, dir := range []string{stagingDir, stagingLateDir} {
		if err := m.Bucket.List(ctx, dir, func(o store.ObjectInfo) error {
			sp, ok := ParseStagedKey(o.Key)
			if !ok || sp.Topic != m.Topic {
				return nil
			}
			windows[sp.Window] = append(windows[sp.Window], mergePart{Key: o.Key, Partition: sp.Partition, First: sp.First,
				Late: sp.Late, modified: o.LastModified})
			return nil
		}); err != nil {
			return err
		}
	}
	m.maybeExpire(ctx, manifests, windows)
	if len(windows) == 0 {
		return nil
	}
	n, err := m.Partitions(ctx)
	if err != nil {
		return err
	}
	progress, err := progressMarkers(ctx, m.Bucket, m.Topic)
	if err != nil {
		return err
	}
	var closed int64 = -1
	lateOpen := map[int64]bool{}
	for i := 0; i < n; i++ {
		pr := progress[i] // a partition without a marker holds every window back
		if closed < 0 || pr.ClosedBefore < closed {
			closed = pr.ClosedBefore
		}
		for _, w := range pr.LateOpen {
			lateOpen[w] = true
		}
	}
	ws := make([]int64, 0, len(windows))
	for w := range windows {
		ws = append(ws, w)
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i] < ws[j] })
	for _, w := range ws {
		if err := m.window(ctx, w, windows[w], closed, lateOpen[w]); err != nil {
			if ctx.Err() != nil {
				return err
			}
			m.Log.Warn("merging a window failed; will retry", "window_start", time.UnixMilli(w).UTC().Format(time.RFC3339), "error", err.Error())
			failed = append(failed, strconv.FormatInt(w/1000, 10))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d merges failed (%s); retried on the next sweep", len(failed), strings.Join(failed, ", "))
	}
	return nil
}

// maybeExpire runs expire when it is due; a failure is logged and retried
// on the next sweep that is due.
func (m *Merger) maybeExpire(ctx context.Context, manifests []string, windows map[int64][]mergePart) {
	every := m.ExpireEvery
	if every <= 0 {
		every = time.Hour
	}
	now := m.Now()
	if !m.lastExpire.IsZero() && now.Sub(m.lastExpire) < every {
		return
	}
	pending := map[int64]bool{}
	for w := range windows {
		pending[w] = true
	}
	for _, k := range manifests {
		name := strings.TrimSuffix(strings.TrimPrefix(k, mergingDir), ".json")
		ws, _, _ := strings.Cut(name, "_")
		if sec, err := strconv.ParseInt(ws, 10, 64); err == nil {
			pending[sec*1000] = true
		}
	}
	if err := m.expire(ctx, pending); err != nil {
		if ctx.Err() == nil {
			m.Log.Warn("removing old merge records failed; will retry", "error", err.Error())
		}
		return
	}
	m.lastExpire = now
}

// done is what the done records of a window say.
type done struct {
	onTime  bool
	maxLate int
	ranges  map[int][]Range // partition -> merged spans (Range.Window unused)
	// counts: partition -> first offset -> the most records merged from a
	// part starting there, with its last offset.
	counts map[int]map[int64]mergePart
	// parts: partition -> the parts merged (their records, with the
	// offsets indexes, say exactly which offsets the objects hold).
	parts map[int][]mergePart
}

func (m *Merger) done(ctx context.Context, w int64, read bool) (done, error) {
	d := done{ranges: map[int][]Range{}, counts: map[int]map[int64]mergePart{}, parts: map[int][]mergePart{}}
	ws := strconv.FormatInt(w/1000, 10)
	var keys []string
	if err := m.Bucket.List(ctx, mergedDir+ws, func(o store.ObjectInfo) error {
		name := strings.TrimSuffix(strings.TrimPrefix(o.Key, mergedDir), ".json")
		switch {
		case name == ws:
			d.onTime = true
		case strings.HasPrefix(name, ws+"_late-"):
			n, err := strconv.Atoi(name[len(ws)+len("_late-"):])
			if err != nil {
				return nil
			}
			d.maxLate = max(d.maxLate, n)
		default:
			return nil
		}
		keys = append(keys, o.Key)
		return nil
	}); err != nil {
		return d, err
	}
	if !read {
		return d, nil
	}
	for _, k := range keys {
		mf, err := m.readManifest(ctx, k)
		if store.IsNotFound(err) {
			continue // expired since the listing
		}
		if err != nil {
			return d, err
		}
		for _, p := range mf.Parts {
			d.parts[p.Partition] = append(d.parts[p.Partition], p)
		}
		for _, p := range append(mf.Parts, mf.Drop...) {
			if p.deduplicated() {
				continue
			}
			d.ranges[p.Partition] = append(d.ranges[p.Partition], Range{First: p.First, Last: p.Last})
			if d.counts[p.Partition] == nil {
				d.counts[p.Partition] = map[int64]mergePart{}
			}
			if c, ok := d.counts[p.Partition][p.First]; !ok || p.Last > c.Last {
				d.counts[p.Partition][p.First] = p
			}
		}
	}
	return d, nil
}

// window merges what is due of window w: all its parts once every partition
// closed it (closed, the lowest progress), or, after that merge, its late
// parts once no partition holds late records of w unstaged (lateOpen
// false), or they waited LateDelay.
func (m *Merger) window(ctx context.Context, w int64, parts []mergePart, closed int64, lateOpen bool) error {
	d, err := m.done(ctx, w, false)
	if err != nil {
		return err
	}
	if !d.onTime {
		if w+m.Layout.Window.Milliseconds() > closed {
			return nil
		}
		err := m.merge(ctx, w, 0, parts)
		if errors.Is(err, errNameTaken) {
			return m.mergeAfterTaken(ctx, w, 0, parts)
		}
		return err
	}
	oldest := parts[0].modified
	for _, p := range parts {
		if p.modified.Before(oldest) {
			oldest = p.modified
		}
	}
	if !m.all && lateOpen && m.Now().Sub(oldest) < m.LateDelay {
		return nil
	}
	if d, err = m.done(ctx, w, true); err != nil {
		return err
	}
	if err := m.stat(ctx, parts); err != nil {
		if store.IsNotFound(err) {
			return nil // merged by another replica since the listing
		}
		return err
	}
	var rest []mergePart
	cache := &indexCache{m: m}
	for _, p := range parts {
		rs := d.ranges[p.Partition]
		if covered(rs, p.First, p.Last) {
			// Its records are in the window's objects already (a replay, or
			// a new owner re-staging after a crash): nothing to merge. It is
			// deleted only as it was read (a writer replacing it with more
			// records since keeps it for the next sweep).
			if info, err := m.Bucket.Stat(ctx, p.Key); err != nil || info.ETag != p.ETag {
				continue
			}
			if err := m.Bucket.Delete(ctx, p.Key); err != nil {
				return err
			}
			m.Log.Info("staged part already merged; deleted", "key", p.Key, "first_offset", p.First, "last_offset", p.Last)
			continue
		}
		if c, ok := d.counts[p.Partition][p.First]; ok && c.Last < p.Last && !overlaps(without(rs, c), p.First, p.Last) {
			// A longer copy of a merged part (a zombie's or a new owner's
			// replacement, same first offset): records are in offset order,
			// so the merged ones are its first c.Count records.
			p.Skip = c.Count
			m.Log.Info("staged part extends a merged one; its first records are skipped", "key", p.Key, "skip", p.Skip)
		} else if overlaps(rs, p.First, p.Last) {
			// A partial overlap: the offsets indexes of p and of the merged
			// parts say exactly which of p's records the objects hold.
			ok, err := cache.dedup(ctx, &p, d.parts[p.Partition])
			if err != nil {
				return err
			}
			switch {
			case !ok:
				m.Stats.Overlaps.Add(1)
				m.Log.Warn("staged part overlaps a merged one without being contained in it and an offsets index is missing; merged as late (its overlapping records may be in two objects)",
					"key", p.Key, "first_offset", p.First, "last_offset", p.Last)
			case p.remaining() == 0:
				// Every record is in the window's objects: as covered.
				if info, err := m.Bucket.Stat(ctx, p.Key); err != nil || info.ETag != p.ETag {
					continue
				}
				if err := m.Bucket.Delete(ctx, p.Key); err != nil {
					return err
				}
				m.Stats.OverlapsResolved.Add(1)
				m.Stats.Deduplicated.Add(p.Count - p.Skip)
				m.Log.Info("staged part's records are all merged already (offsets index); deleted", "key", p.Key,
					"first_offset", p.First, "last_offset", p.Last)
				continue
			default:
				m.Stats.OverlapsResolved.Add(1)
				m.Log.Info("staged part overlaps a merged one; the records merged already are left out (offsets index)",
					"key", p.Key, "first_offset", p.First, "last_offset", p.Last, "left_out", omitCount(p.Omit), "records", p.Count)
			}
		}
		rest = append(rest, p)
	}
	if len(rest) == 0 {
		return nil
	}
	err = m.merge(ctx, w, d.maxLate+1, rest)
	if errors.Is(err, errNameTaken) {
		return m.mergeAfterTaken(ctx, w, d.maxLate, rest)
	}
	return err
}

// stat fills in the span, count and ETag of each part from its metadata.
func (m *Merger) stat(ctx context.Context, parts []mergePart) error {
	for i := range parts {
		info, err := m.Bucket.Stat(ctx, parts[i].Key)
		if err != nil {
			return fmt.Errorf("stat %s: %w", parts[i].Key, err)
		}
		last, err1 := strconv.ParseInt(info.Metadata[MetaLastOffset], 10, 64)
		count, err2 := strconv.ParseInt(info.Metadata[MetaRecordCount], 10, 64)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("staged part %s: metadata without last offset or record count", parts[i].Key)
		}
		parts[i].Last, parts[i].Count, parts[i].ETag = last, count, info.ETag
		parts[i].Index = info.Metadata[MetaOffsetsIndex]
	}
	return nil
}

// covered reports whether [first, last] lies within the union of rs.
func covered(rs []Range, first, last int64) bool {
	rs = append([]Range(nil), rs...)
	sort.Slice(rs, func(i, j int) bool { return rs[i].First < rs[j].First })
	pos := first
	for _, r := range rs {
		if r.First > pos {
			break
		}
		if r.Last+1 > pos {
			pos = r.Last + 1
		}
		if pos > last {
			return true
		}
	}
	return pos > last
}

// without is rs less the spans that start where p starts and end within
// it (shorter copies of p, merged as p's prefixes).
func without(rs []Range, p mergePart) []Range {
	var out []Range
	for _, r := range rs {
		if r.First != p.First || r.Last > p.Last {
			out = append(out, r)
		}
	}
	return out
}

func overlaps(rs []Range, first, last int64) bool {
	for _, r := range rs {
		if r.First <= last && first <= r.Last {
			return true
		}
	}
	return false
}

// merge writes the manifest of window w (late: the late merge number, 0 for
// the window's own object) over parts and completes it. When another
// manifest holds the name, that one is completed instead.
func (m *Merger) merge(ctx context.Context, w int64, late int, parts []mergePart) error {
	if err := m.stat(ctx, parts); err != nil {
		if store.IsNotFound(err) {
			return nil // a concurrent merge took it; the next sweep sees the bucket as it is
		}
		return err
	}
	sp, _ := ParseStagedKey(parts[0].Key)
	ext := sp.Ext
	comp := CompressionOf(ext)
	mf := &mergeManifest{Version: 1, Topic: m.Topic, Window: w, Late: late, Ext: strings.TrimSuffix(ext, comp.Extension()),
		Compression: string(comp), Created: m.Now().UTC()}
	// Parts in a fixed order; a part whose span the parts kept before it
	// cover (a zombie's or a replay's shorter copy) is dropped.
	sort.Slice(parts, func(i, j int) bool {
		a, b := parts[i], parts[j]
		if a.Partition != b.Partition {
			return a.Partition < b.Partition
		}
		if a.First != b.First {
			return a.First < b.First
		}
		if a.Last != b.Last {
			return a.Last > b.Last
		}
		return a.Key < b.Key
	})
	kept := map[int][]Range{}
	keptParts := map[int][]mergePart{}
	cache := &indexCache{m: m}
	var resolved, unresolved int64
	for _, p := range parts {
		if pe, _ := ParseStagedKey(p.Key); pe.Ext != ext {
			m.Log.Warn("staged part in another format or compression than the window's first part; left for a later merge", "key", p.Key)
			continue
		}
		rs := kept[p.Partition]
		if covered(rs, p.First, p.Last) {
			mf.Drop = append(mf.Drop, p)
			m.Log.Info("staged part contained in another part of its partition; dropped", "key", p.Key,
				"first_offset", p.First, "last_offset", p.Last)
			continue
		}
		if overlaps(rs, p.First, p.Last) {
			// A partial overlap: the offsets indexes say which of p's
			// records the parts kept before it hold; those are left out.
			ok, err := cache.dedup(ctx, &p, keptParts[p.Partition])
			if err != nil {
				return err
			}
			switch {
			case !ok:
				unresolved++
				m.Log.Warn("staged parts of one partition overlap without one containing the other and an offsets index is missing; both merged (their common records may be there twice)",
					"key", p.Key, "first_offset", p.First, "last_offset", p.Last)
			case p.remaining() == 0:
				resolved++
				mf.Drop = append(mf.Drop, p)
				m.Log.Info("staged part's records are all in other parts of its partition (offsets index); dropped", "key", p.Key,
					"first_offset", p.First, "last_offset", p.Last)
				continue
			default:
				resolved++
				m.Log.Info("staged parts of one partition overlap; the common records are taken once (offsets index)",
					"key", p.Key, "first_offset", p.First, "last_offset", p.Last, "left_out", omitCount(p.Omit), "records", p.Count)
			}
		}
		kept[p.Partition] = append(rs, Range{First: p.First, Last: p.Last})
		keptParts[p.Partition] = append(keptParts[p.Partition], p)
		mf.Parts = append(mf.Parts, p)
	}
	m.Stats.Overlaps.Add(unresolved)
	m.Stats.OverlapsResolved.Add(resolved)
	if len(mf.Parts) == 0 {
		return nil
	}
	mf.ID = mf.computeID()
	key := mergingDir + mf.name() + ".json"
	b, _ := json.Marshal(mf)
	err := m.Bucket.Put(ctx, key, bytes.NewReader(b), int64(len(b)), store.PutOptions{ContentType: "application/json", IfNoneMatch: true})
	if store.IsPreconditionFailed(err) {
		// Another replica (or a crashed run) got there first: finish that
		// merge; what it left out is merged on a later sweep.
		other, err := m.readManifest(ctx, key)
		if store.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return m.complete(ctx, key, other)
	}
	if err != nil {
		return err
	}
	m.Stats.BytesWritten.Add(int64(len(b)))
	m.hook(StepAfterManifest)
	return m.complete(ctx, key, mf)
}

func (m *Merger) readManifest(ctx context.Context, key string) (*mergeManifest, error) {
	rc, err := m.Bucket.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	var mf mergeManifest
	if err := json.Unmarshal(data, &mf); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", key, err)
	}
	return &mf, nil
}

// complete finishes the merge mf (manifest at mkey): the final objects, the
// done record, then the parts and the manifest are deleted. Every step can
// be repeated.
func (m *Merger) complete(ctx context.Context, mkey string, mf *mergeManifest) error {
	start := time.Now()
	doneKey := mergedDir + mf.name() + ".json"
	rec, err := m.readManifest(ctx, doneKey)
	switch {
	case err == nil && rec.ID == mf.ID:
		return m.cleanup(ctx, mkey, mf)
	case err == nil:
		// The name is done by another merge: this manifest (a stale
		// replica's) wrote nothing and must delete nothing but itself.
		m.Log.Warn("merge manifest void: its name was merged by another manifest", "manifest", mkey)
		return m.Bucket.Delete(ctx, mkey)
	case !store.IsNotFound(err):
		return err
	}
	objects, records, err := m.build(ctx, mf)
	if errors.Is(err, errPartGone) {
		// Only a finished merge deletes parts, and it writes the done record
		// first.
		if rec, rerr := m.readManifest(ctx, doneKey); rerr == nil && rec.ID == mf.ID {
			return m.cleanup(ctx, mkey, mf)
		}
		m.Log.Error("a part of a merge manifest is gone and the merge is not done; manifest abandoned, the remaining parts are merged again",
			"manifest", mkey, "error", err.Error())
		return m.Bucket.Delete(ctx, mkey)
	}
	if errors.Is(err, errConflict) {
		// This manifest lost its name to another merge before writing
		// anything (final objects are only created, never replaced): it is
		// void; its parts are merged again on a later sweep.
		m.Log.Warn("merge manifest void: its object name is taken by another merge", "manifest", mkey, "error", err.Error())
		if derr := m.Bucket.Delete(ctx, mkey); derr != nil {
			return derr
		}
		return fmt.Errorf("%w: %w", errNameTaken, err)
	}
	if err != nil {
		return err
	}
	m.hook(StepAfterFinal)
	done := *mf
	done.Objects, done.Records = objects, records
	b, _ := json.Marshal(&done)
	if err := m.Bucket.Put(ctx, doneKey, bytes.NewReader(b), int64(len(b)), store.PutOptions{ContentType: "application/json"}); err != nil {
		return err
	}
	m.Stats.BytesWritten.Add(int64(len(b)))
	m.hook(StepAfterDone)
	if err := m.cleanup(ctx, mkey, mf); err != nil {
		return err
	}
	m.Stats.Merges.Add(1)
	for _, p := range mf.Parts {
		m.Stats.Deduplicated.Add(omitCount(p.Omit))
	}
	for _, p := range mf.Drop {
		if p.deduplicated() {
			m.Stats.Deduplicated.Add(p.Count - p.Skip)
		}
	}
	m.Log.Info("window merged", "objects", objects, "records", records, "parts", len(mf.Parts), "dropped", len(mf.Drop),
		"window_start", time.UnixMilli(mf.Window).UTC().Format(time.RFC3339), "late", mf.Late,
		"duration", time.Since(start).String())
	return nil
}

// cleanup deletes the merged parts, then the manifest. A part rewritten
// since the manifest read it (a zombie's longer copy) is left for the late
// merge.
func (m *Merger) cleanup(ctx context.Context, mkey string, mf *mergeManifest) error {
	first := true
	for _, p := range append(append([]mergePart(nil), mf.Parts...), mf.Drop...) {
		info, err := m.Bucket.Stat(ctx, p.Key)
		if store.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		if p.ETag != "" && info.ETag != p.ETag {
			m.Log.Warn("staged part changed after it was merged; left for the late merge", "key", p.Key)
			continue
		}
		if err := m.Bucket.Delete(ctx, p.Key); err != nil {
			return err
		}
		if first {
			first = false
			m.hook(StepDuringCleanup)
		}
	}
	return m.Bucket.Delete(ctx, mkey)
}

// build writes the final objects of mf: the parts' records in manifest
// order, re-framed and recompressed, split at MaxObjectBytes (uncompressed).
// It returns the objects' keys and the number of records.
func (m *Merger) build(ctx context.Context, mf *mergeManifest) ([]string, int64, error) {
	enc := encoderFor(mf.Ext)
	if enc == nil {
		return nil, 0, fmt.Errorf("manifest %s: no encoder writes %s", mf.name(), mf.Ext)
	}
	comp := encoders.Compression(mf.Compression)
	array := strings.HasSuffix(mf.Ext, ".json")
	var (
		objects []string
		total   int64
		cur     *chunk
	)
	flush := func() error {
		if cur == nil {
			return nil
		}
		c := cur
		cur = nil
		defer c.spool.Close()
		if err := c.finish(); err != nil {
			return err
		}
		k := mf.key()
		k.Dir = m.Layout.Keys.Dir(mf.Window, m.Layout.Integration)
		k.Split = len(objects) + 1
		key := FinalKey(k)
		if err := m.putFinal(ctx, key, mf, enc, c); err != nil {
			return err
		}
		objects = append(objects, key)
		return nil
	}
	defer func() {
		if cur != nil {
			cur.discard()
		}
	}()
	for _, p := range mf.Parts {
		rc, err := m.Bucket.Get(ctx, p.Key)
		if store.IsNotFound(err) {
			return nil, 0, fmt.Errorf("%w: %s", errPartGone, p.Key)
		}
		if err != nil {
			return nil, 0, err
		}
		cr := &countingReader{r: rc}
		// The part's bytes are in its staged codec (S2), or in the final
		// compression (parts staged by versions before S2 staging).
		pc := comp
		if sp, ok := ParseStagedKey(p.Key); ok && sp.Codec != "" {
			pc = sp.Codec
		}
		// Records [Skip, Count) of the part as the manifest saw it: a part
		// replaced since by a longer copy (same first offset, records in
		// offset order) starts with the same Count records, so the object
		// is the same whatever is read now.
		// Positions in Omit are left out: their records are in another part
		// of the manifest or in an earlier merge (offsets indexes).
		var pos int64
		err = readRecords(cr, pc, array, func(rec []byte) error {
			i := pos
			pos++
			if i >= p.Count {
				return errEnough
			}
			if i < p.Skip || omitted(p.Omit, i) {
				return nil
			}
			if cur == nil {
				var err error
				if cur, err = newChunk(comp, array, NewSpool(m.SpoolMemory, m.SpoolDir, nil)); err != nil {
					return err
				}
			}
			if err := cur.write(rec); err != nil {
				return err
			}
			total++
			if cur.raw >= m.MaxObjectBytes {
				return flush()
			}
			return nil
		})
		rc.Close()
		if errors.Is(err, errEnough) {
			err = nil
		}
		if store.IsNotFound(err) {
			return nil, 0, fmt.Errorf("%w: %s", errPartGone, p.Key)
		}
		if err != nil {
			return nil, 0, fmt.Errorf("part %s: %w", p.Key, err)
		}
		if pos < p.Count {
			return nil, 0, fmt.Errorf("part %s holds %d records fewer than its metadata says (%d)", p.Key, p.Count-pos, p.Count)
		}
		m.Stats.PartsRead.Add(1)
		m.Stats.BytesRead.Add(cr.n)
		m.hook(StepAfterPart)
	}
	if err := flush(); err != nil {
		return nil, 0, err
	}
	m.Stats.Records.Add(total)
	return objects, total, nil
}

// putFinal creates key; an existing object written by the same merge (a
// repeated step) is fine, another merge's is errConflict.
func (m *Merger) putFinal(ctx context.Context, key string, mf *mergeManifest, enc encoders.Encoder, c *chunk) error {
	format := enc.Format()
	if f, ok := enc.(interface{ MetadataFormat() string }); ok {
		format = f.MetadataFormat()
	}
	kind := KindHits
	if mf.Late > 0 {
		kind = KindLate
	}
	comp := encoders.Compression(mf.Compression)
	opts := store.PutOptions{ContentType: comp.ContentType(enc.ContentType()), IfNoneMatch: true,
		Metadata: map[string]string{
			MetaTopic:          mf.Topic,
			MetaRecordCount:    strconv.FormatInt(c.count, 10),
			MetaWindowStart:    time.UnixMilli(mf.Window).UTC().Format(time.RFC3339),
			MetaWindowEnd:      time.UnixMilli(mf.Window).Add(m.Layout.Window).UTC().Format(time.RFC3339),
			MetaFormat:         format,
			MetaCompression:    mf.Compression,
			MetaEncoderVersion: enc.Version(),
			MetaKind:           string(kind),
			MetaMergeID:        mf.ID,
			MetaParts:          strconv.Itoa(len(mf.Parts)),
		}}
	err := m.Bucket.Put(ctx, key, c.spool.Reader(), c.spool.Size(), opts)
	if store.IsPreconditionFailed(err) {
		info, serr := m.Bucket.Stat(ctx, key)
		if serr != nil {
			return serr
		}
		if info.Metadata[MetaMergeID] != mf.ID {
			return fmt.Errorf("%w: %s", errConflict, key)
		}
		return nil
	}
	if err != nil {
		return err
	}
	m.Stats.Objects.Add(1)
	m.Stats.BytesWritten.Add(c.spool.Size())
	m.Log.Info("object uploaded", "key", key, "kind", string(kind), "records", c.count, "bytes", c.spool.Size(),
		"parts", len(mf.Parts))
	return nil
}

// encoderFor finds the registered encoder with the extension.
func encoderFor(ext string) encoders.Encoder {
	for _, f := range encoders.Formats() {
		if e, err := encoders.New(f); err == nil && e.Extension() == ext {
			return e
		}
	}
	return nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// readRecords calls fn with each record of an encoded object: every format
// writes one record per line (a JSON array as "[", "rec,", …, "rec", "]").
func readRecords(r io.Reader, comp encoders.Compression, array bool, fn func([]byte) error) error {
	dr, err := comp.NewReader(r)
	if err != nil {
		return err
	}
	defer dr.Close()
	br := bufio.NewReaderSize(dr, 256<<10)
	var long []byte
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, line...)
			continue
		}
		if long != nil {
			line = append(long, line...)
			long = nil
		}
		if len(line) > 0 {
			rec := bytes.TrimRight(line, "\r\n")
			if array {
				switch string(rec) {
				case "[", "]", "[]":
					rec = nil
				default:
					rec = bytes.TrimSuffix(rec, []byte(","))
				}
			}
			if len(rec) > 0 {
				if ferr := fn(rec); ferr != nil {
					return ferr
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// chunk is one final object being built: records framed as the encoders
// frame them, compressed into a spool.
type chunk struct {
	spool *Spool
	comp  io.WriteCloser
	cw    countingWriter
	array bool
	count int64
	raw   int64
	buf   []byte
}

func newChunk(comp encoders.Compression, array bool, spool *Spool) (*chunk, error) {
	w, err := comp.NewWriter(spool)
	if err != nil {
		return nil, err
	}
	c := &chunk{spool: spool, comp: w, array: array}
	c.cw.w = w
	return c, nil
}

func (c *chunk) write(rec []byte) error {
	c.buf = c.buf[:0]
	if c.array {
		if c.count == 0 {
			c.buf = append(c.buf, "[\n"...)
		} else {
			c.buf = append(c.buf, ",\n"...)
		}
		c.buf = append(c.buf, rec...)
	} else {
		c.buf = append(append(c.buf, rec...), '\n')
	}
	if _, err := c.cw.Write(c.buf); err != nil {
		return err
	}
	c.count++
	c.raw = c.cw.n
	return nil
}

func (c *chunk) finish() error {
	if c.array {
		if _, err := io.WriteString(&c.cw, "\n]\n"); err != nil {
			return err
		}
	}
	if err := c.comp.Close(); err != nil {
		return err
	}
	return c.spool.Flush()
}

func (c *chunk) discard() {
	_ = c.comp.Close()
	_ = c.spool.Close()
}

// WindowSpans are the offset spans, per partition, of topic's records the
// window layout already holds for windows starting at or after since (Unix
// ms): the spans of the parts merged (done records) and of the parts staged
// and not merged yet. A replay skips their records (as the partition
// layout's replay skips those of existing objects).
func WindowSpans(ctx context.Context, b store.Bucket, topic string, since int64) (map[int][]Range, error) {
	out := map[int][]Range{}
	var done []string
	if err := b.List(ctx, mergedDir, func(o store.ObjectInfo) error {
		name := strings.TrimSuffix(strings.TrimPrefix(o.Key, mergedDir), ".json")
		ws, _, _ := strings.Cut(name, "_")
		if sec, err := strconv.ParseInt(ws, 10, 64); err == nil && sec*1000 >= since {
			done = append(done, o.Key)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	m := &Merger{Bucket: b}
	for _, k := range done {
		mf, err := m.readManifest(ctx, k)
		if store.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if mf.Topic != topic {
			continue
		}
		for _, p := range append(mf.Parts, mf.Drop...) {
			if p.deduplicated() {
				continue
			}
			out[p.Partition] = append(out[p.Partition], Range{Window: mf.Window, First: p.First, Last: p.Last})
		}
	}
	var staged []mergePart
	for _, dir := range []string{stagingDir, stagingLateDir} {
		if err := b.List(ctx, dir, func(o store.ObjectInfo) error {
			if sp, ok := ParseStagedKey(o.Key); ok && sp.Topic == topic && sp.Window >= since {
				staged = append(staged, mergePart{Key: o.Key, Partition: sp.Partition, First: sp.First})
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	for _, p := range staged {
		sp, _ := ParseStagedKey(p.Key)
		ps := []mergePart{p}
		if err := m.stat(ctx, ps); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				// Merged since the listing: a re-staged copy is dropped
				// by the merger.
				continue
			}
			return nil, err
		}
		out[p.Partition] = append(out[p.Partition], Range{Window: sp.Window, First: ps[0].First, Last: ps[0].Last})
	}
	return out, nil
}
