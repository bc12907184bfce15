package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hitexport/hitexport/encoders"
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
	// FinalCodec stages parts in the final objects' compression, as
	// versions before S2 staging did (their mergers cannot read S2 parts;
	// docs/objects.md, "Staged parts' codec"). By default parts of a
	// compressed layout are staged in S2 (stagedCodec).
	FinalCodec bool

	mu      sync.Mutex
	written map[string]Progress // progress key -> marker last written (or read)
}

// Progress is the content of a progress marker.
type Progress struct {
	// ClosedBefore (Unix ms): every window ending at or before it is closed
	// by the partition and its records are staged.
	ClosedBefore int64 `json:"closed_before"`
	// LateOpen are the window starts (Unix ms, ascending) for which the
	// partition holds late records not staged yet: the merger waits for
	// them before it merges those windows' late parts (at most LateDelay).
	LateOpen []int64 `json:"late_open,omitempty"`
}

func (pr Progress) same(o Progress) bool {
	if pr.ClosedBefore != o.ClosedBefore || len(pr.LateOpen) != len(o.LateOpen) {
		return false
	}
	for i := range pr.LateOpen {
		if pr.LateOpen[i] != o.LateOpen[i] {
			return false
		}
	}
	return true
}

// objectKey is the key o is uploaded under: a staged part in the window
// layout (rejected records keep their own objects), else the
// partition-layout key.
func (p *Partition) objectKey(o *object) string {
	if p.s.Stager == nil || o.kind == KindRejected {
		return o.key(p.s.Layout, p.Topic, p.ID)
	}
	sp := StagedPart{Late: o.kind == KindLate, Window: o.window, Topic: p.Topic, Partition: p.ID, First: o.first,
		Ext: p.s.Layout.Ext()}
	if o.codec != p.s.Layout.Compression {
		sp.Codec = o.codec
	}
	return StagedKey(sp)
}

// MetaStagedCodec is the metadata key of a staged part whose bytes are
// not in its final compression (its key says so too: StagedKey).
const MetaStagedCodec = "staged-codec"

// stagedCodec is the codec objects of the kind are compressed with: the
// layout's compression, but S2 for the staged parts of a compressed
// layout. The customer never reads a staged part: the merger decompresses
// it once and compresses its records again in the layout's compression,
// so zstd (or gzip) is paid once per hit, in the merge, and staging costs
// S2's much cheaper compression and decompression instead — for parts
// about 1.5–2× as large while they are staged (docs/objects.md). An
// uncompressed layout stages uncompressed parts (nothing to gain).
func (p *Partition) stagedCodec(kind Kind) encoders.Compression {
	c := p.s.Layout.Compression
	if p.s.Stager == nil || p.s.Stager.FinalCodec || kind == KindRejected || c == encoders.None || c == "" {
		return c
	}
	return encoders.S2
}

// stagedOpts marks the upload options of a part staged in another codec
// than its final compression: its Content-Type is not the final object's
// and its metadata names the codec (the key is what the merger reads).
func (p *Partition) stagedOpts(o *object, opts *store.PutOptions) {
	if o.codec == p.s.Layout.Compression {
		return
	}
	opts.ContentType = o.codec.ContentType(opts.ContentType)
	opts.Metadata[MetaStagedCodec] = string(o.codec)
}

// stagedS2Mark follows the first offset in the file name of a part staged
// in S2: <topic>-<partition>-<first offset>_s2<ext>. It keeps the final
// extension (the merger groups parts by it) and is not a valid key for the
// parser of versions before S2 staging (a digit run followed by '_', not
// '.'): their mergers ignore such parts instead of reading S2 as zstd.
const stagedS2Mark = "_s2"

// stagedCodecMark is the mark of codec in a staged part's file name.
func stagedCodecMark(codec encoders.Compression) string {
	if codec == encoders.S2 {
		return stagedS2Mark
	}
	return ""
}

// cutStagedCodecMark removes the codec mark from a staged part's file name
// (<topic>-<partition>-<first>[_s2]<ext>) and returns the codec it names
// ("" without one).
func cutStagedCodecMark(name string) (string, encoders.Compression) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name, ""
	}
	d := i + 1
	for d < len(name) && name[d] >= '0' && name[d] <= '9' {
		d++
	}
	if d == i+1 || !strings.HasPrefix(name[d:], stagedS2Mark+".") {
		return name, ""
	}
	return name[:d] + name[d+len(stagedS2Mark):], encoders.S2
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
	// A window is not closed for the merger while one of its parts is
	// open or still uploading.
	for _, o := range p.open {
		if o.kind == KindHits && o.window < cb {
			cb = o.window
		}
	}
	for o := range p.flying {
		if o.kind == KindHits && o.window < cb {
			cb = o.window
		}
	}
	return cb
}

// markerClosedBefore is closedBefore for the progress marker: nor is a
// window closed for the merger while a part of it is uploaded and its
// records not yet committed (asynchronous commits), so that the merge
// follows the commit; stageProgress lists such late parts' windows in
// LateOpen likewise. (The committed state itself uses closedBefore.)
func (p *Partition) markerClosedBefore() int64 {
	cb := p.closedBefore()
	for _, u := range p.unacked {
		if !u.late && u.window < cb {
			cb = u.window
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
	pr := Progress{ClosedBefore: p.markerClosedBefore()}
	for _, o := range p.open {
		if o.kind == KindLate {
			pr.LateOpen = append(pr.LateOpen, o.window)
		}
	}
	for o := range p.flying {
		if o.kind == KindLate && !slices.Contains(pr.LateOpen, o.window) {
			pr.LateOpen = append(pr.LateOpen, o.window)
		}
	}
	for _, u := range p.unacked { // uploaded, not yet committed
		if u.late && !slices.Contains(pr.LateOpen, u.window) {
			pr.LateOpen = append(pr.LateOpen, u.window)
		}
	}
	sort.Slice(pr.LateOpen, func(i, j int) bool { return pr.LateOpen[i] < pr.LateOpen[j] })
	if moved := st.update(ctx, p.Topic, p.ID, pr, p.log); moved && st.Poke != nil {
		st.Poke()
	}
}

// advance is update with only ClosedBefore (tests).
func (st *Stager) advance(ctx context.Context, topic string, partition int, cb int64, log *slog.Logger) bool {
	return st.update(ctx, topic, partition, Progress{ClosedBefore: cb}, log)
}

// update writes the marker when pr differs from what it holds (ClosedBefore
// never moves back); it reports whether it wrote.
func (st *Stager) update(ctx context.Context, topic string, partition int, pr Progress, log *slog.Logger) bool {
	if pr.ClosedBefore <= 0 {
		return false
	}
	key := progressKey(topic, partition)
	st.mu.Lock()
	if st.written == nil {
		st.written = map[string]Progress{}
	}
	prev, known := st.written[key]
	st.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if !known {
		// The marker only ever moves forward: a new owner that restarts with
		// an older state (or none) does not take back what was claimed.
		stored, err := ReadProgressMarker(ctx, st.Bucket, key)
		if err != nil {
			log.Warn("reading the progress marker failed; will retry", "key", key, "error", err.Error())
			return false
		}
		prev = stored
		st.remember(key, prev)
	}
	if pr.ClosedBefore < prev.ClosedBefore {
		pr.ClosedBefore = prev.ClosedBefore
	}
	if pr.same(prev) {
		return false
	}
	b, _ := json.Marshal(pr)
	if err := st.Bucket.Put(ctx, key, bytes.NewReader(b), int64(len(b)), store.PutOptions{ContentType: "application/json"}); err != nil {
		log.Warn("writing the progress marker failed; will retry", "key", key, "error", err.Error())
		return false
	}
	st.remember(key, pr)
	log.Debug("progress marker written", "key", key, "closed_before", pr.ClosedBefore, "late_open", len(pr.LateOpen))
	return true
}

func (st *Stager) remember(key string, pr Progress) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.written[key] = pr
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
	all, err := progressMarkers(ctx, b, topic)
	if err != nil {
		return nil, err
	}
	out := make(map[int]int64, len(all))
	for p, pr := range all {
		out[p] = pr.ClosedBefore
	}
	return out, nil
}

// progressMarkers reads every partition's progress marker of topic.
func progressMarkers(ctx context.Context, b store.Bucket, topic string) (map[int]Progress, error) {
	out := map[int]Progress{}
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
		out[id] = pr
	}
	return out, nil
}
