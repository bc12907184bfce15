package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/store"
)

const (
	mTopic = "hits-x"
	mW     = 10 * time.Minute
	mW0    = int64(1_800_000_000_000) // a window start, Unix ms
)

// mergeFixture is a bucket with staged parts built by the real object code
// (encoder, compressor, metadata) and the records each part holds.
type mergeFixture struct {
	t      *testing.T
	b      *store.Memory
	l      Layout
	values [][]byte // hit values to draw from
	next   int
	now    time.Time
	// staged is the codec parts are staged in when not the layout's
	// compression (encoders.S2); "" stages them as versions before S2
	// staging did.
	staged encoders.Compression
}

// newPart opens a part in the fixture's staged codec.
func (f *mergeFixture) newPart(kind Kind, w, first int64) (*object, error) {
	codec := f.l.Compression
	if f.staged != "" {
		codec = f.staged
	}
	return newObjectIn(kind, w, w, first, f.now, f.l, codec, NewSpool(1<<20, f.t.TempDir(), nil))
}

// partKey is the key of sp staged in the fixture's staged codec.
func (f *mergeFixture) partKey(sp StagedPart) string {
	sp.Codec = f.staged
	return StagedKey(sp)
}

func newMergeFixture(t *testing.T, format string, comp encoders.Compression) *mergeFixture {
	enc, err := encoders.New(format)
	if err != nil {
		t.Fatal(err)
	}
	recs := gen.Generate(gen.Options{Seed: 3, Count: 2000, Start: time.UnixMilli(mW0), Span: mW})
	var vals [][]byte
	for _, r := range recs {
		if r.Expect.Valid {
			vals = append(vals, r.Value)
		}
	}
	return &mergeFixture{t: t, b: store.NewMemory("m"), l: Layout{Encoder: enc, Compression: comp, Window: mW}, values: vals,
		now: time.UnixMilli(mW0).Add(time.Hour)}
}

type stagedRec struct {
	partition int
	offset    int64
	value     []byte
}

// stage writes a part of window w for partition p with n records at offsets
// first, first+1, …; the same (p, offset) always gets the same hit.
func (f *mergeFixture) stage(late bool, w int64, p int, first int64, n int) []stagedRec {
	f.t.Helper()
	kind := KindHits
	if late {
		kind = KindLate
	}
	o, err := f.newPart(kind, w, first)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []stagedRec
	for i := 0; i < n; i++ {
		off := first + int64(i)
		v := f.values[(p*7919+int(off))%len(f.values)]
		if err := o.add(encoders.Record{Value: v, TimeMillis: w + 1000, Topic: mTopic, Partition: p, Offset: off}); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, stagedRec{p, off, v})
	}
	if err := o.finish(); err != nil {
		f.t.Fatal(err)
	}
	defer o.spool.Close()
	key := f.partKey(StagedPart{Late: late, Window: w, Topic: mTopic, Partition: p, First: first, Ext: f.l.Ext()})
	if err := f.b.Put(context.Background(), key, o.spool.Reader(), o.spool.Size(),
		store.PutOptions{Metadata: o.metadata(f.l, mTopic, p)}); err != nil {
		f.t.Fatal(err)
	}
	return out
}

func (f *mergeFixture) progress(p int, cb int64) {
	f.t.Helper()
	st := &Stager{Bucket: f.b}
	st.advance(context.Background(), mTopic, p, cb, discardLog())
}

// lateOpen writes partition p's marker saying it holds late records of the
// windows unstaged.
func (f *mergeFixture) lateOpen(p int, cb int64, windows ...int64) {
	f.t.Helper()
	st := &Stager{Bucket: f.b}
	st.update(context.Background(), mTopic, p, Progress{ClosedBefore: cb, LateOpen: windows}, discardLog())
}

func (f *mergeFixture) merger(parts int) *Merger {
	return &Merger{Bucket: f.b, Layout: f.l, Topic: mTopic, LateDelay: time.Minute, MaxObjectBytes: 1 << 30,
		SpoolDir: f.t.TempDir(), Now: func() time.Time { return f.now }, MergedRetention: 100 * 365 * 24 * time.Hour,
		Partitions: func(context.Context) (int, error) { return parts, nil }}
}

// expected encodes recs, in order, as one object of the fixture's layout
// (uncompressed).
func (f *mergeFixture) expected(recs []stagedRec) []byte {
	var buf bytes.Buffer
	w := f.l.Encoder.NewWriter(&buf)
	for _, r := range recs {
		if err := w.Write(encoders.Record{Value: r.value, TimeMillis: mW0 + 1000, Topic: mTopic, Partition: r.partition, Offset: r.offset}); err != nil {
			f.t.Fatal(err)
		}
	}
	_ = w.Close()
	return buf.Bytes()
}

func (f *mergeFixture) read(key string) []byte {
	f.t.Helper()
	rc, err := f.b.Get(context.Background(), key)
	if err != nil {
		f.t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	dr, err := CompressionOf(key).NewReader(rc)
	if err != nil {
		f.t.Fatal(err)
	}
	data, err := io.ReadAll(dr)
	if err != nil {
		f.t.Fatalf("read %s: %v", key, err)
	}
	return data
}

func (f *mergeFixture) raw(key string) []byte {
	f.t.Helper()
	rc, err := f.b.Get(context.Background(), key)
	if err != nil {
		f.t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	data, _ := io.ReadAll(rc)
	return data
}

// finals lists the keys outside the exporter's folder.
func (f *mergeFixture) finals() []string {
	var out []string
	for _, k := range f.b.Keys() {
		if !IsInternalKey(k) {
			out = append(out, k)
		}
	}
	return out
}

func (f *mergeFixture) pending() []string {
	var out []string
	for _, k := range f.b.Keys() {
		if IsPendingKey(k) {
			out = append(out, k)
		}
	}
	return out
}

func sweep(t *testing.T, m *Merger) {
	t.Helper()
	if err := m.Sweep(context.Background()); err != nil {
		t.Fatalf("sweep: %v", err)
	}
}

func sortRecs(recs []stagedRec) []stagedRec {
	sort.SliceStable(recs, func(i, j int) bool {
		if recs[i].partition != recs[j].partition {
			return recs[i].partition < recs[j].partition
		}
		return recs[i].offset < recs[j].offset
	})
	return recs
}

func TestWindowKeys(t *testing.T) {
	keys := []WindowKey{
		{Window: mW0, Split: 1, Ext: ".ndjson", Compression: encoders.Gzip},
		{Window: mW0, Split: 2, Ext: ".ndjson", Compression: encoders.Gzip},
		{Window: mW0, Split: 12, Ext: ".ndjson", Compression: encoders.Gzip},
		{Window: mW0, Late: 1, Split: 1, Ext: ".ndjson", Compression: encoders.Gzip},
		{Window: mW0, Late: 1, Split: 2, Ext: ".ndjson", Compression: encoders.Gzip},
		{Window: mW0, Late: 2, Split: 1, Ext: ".ndjson", Compression: encoders.Gzip},
		{Window: mW0, Late: 10, Split: 1, Ext: ".ndjson", Compression: encoders.Gzip},
		{Window: mW0 + mW.Milliseconds(), Split: 1, Ext: ".ndjson", Compression: encoders.Gzip},
	}
	var names []string
	for _, k := range keys {
		s := FinalKey(k)
		names = append(names, s)
		got, ok := ParseWindowKey(s)
		if !ok || got != k {
			t.Errorf("ParseWindowKey(%q) = %+v, %v; want %+v", s, got, ok, k)
		}
		if _, ok := ParseKey(s); ok {
			t.Errorf("%q parses as a partition-layout key", s)
		}
	}
	if names[0] != "hitlogs-1800000000.ndjson.gz" || names[3] != "hitlogs-1800000000_late-001.ndjson.gz" || names[1] != "hitlogs-1800000000_002.ndjson.gz" {
		t.Errorf("names: %v", names)
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("final keys do not sort in write order: %v", names)
	}
	for _, bad := range []string{"hitlogs-1800000000-hits-3-42.ndjson", "hitlogs-x.ndjson", "hitlogs-1800000000_late-0.ndjson", "hitlogs-1800000000_1.ndjson", "hitlogs-1800000000"} {
		if k, ok := ParseWindowKey(bad); ok {
			t.Errorf("ParseWindowKey(%q) = %+v, want refusal", bad, k)
		}
	}
	sp := StagedPart{Late: true, Window: mW0, Topic: "a-b.c", Partition: 7, First: 42, Ext: ".ocsf.json.zst"}
	sk := StagedKey(sp)
	if sk != "_hitexport/staging-late/1800000000/a-b.c-7-42.ocsf.json.zst" {
		t.Errorf("staged key %q", sk)
	}
	if got, ok := ParseStagedKey(sk); !ok || got != sp {
		t.Errorf("ParseStagedKey = %+v, %v", got, ok)
	}
	if !IsInternalKey(sk) || !IsPendingKey(sk) || IsPendingKey(progressKey("t", 1)) {
		t.Error("internal/pending classification")
	}
}

// TestMergeWindow: every format and compression; a window is merged only
// when every partition's progress is past it; the final object holds the
// parts' records in partition and offset order, framed as one encoder would
// have written them.
func TestMergeWindow(t *testing.T) {
	for _, tc := range []struct {
		format string
		comp   encoders.Compression
	}{{"ndjson", encoders.None}, {"json", encoders.Gzip}, {"ocsf", encoders.Zstd}, {"ocsf-json", encoders.Gzip}} {
		t.Run(tc.format+string(tc.comp), func(t *testing.T) {
			f := newMergeFixture(t, tc.format, tc.comp)
			w1, w2 := mW0, mW0+mW.Milliseconds()
			var want []stagedRec
			want = append(want, f.stage(false, w1, 2, 10, 5)...)
			want = append(want, f.stage(false, w1, 0, 0, 7)...)
			want = append(want, f.stage(false, w1, 0, 20, 3)...) // a size split of partition 0
			want = append(want, f.stage(false, w1, 1, 5, 1)...)
			f.stage(false, w2, 1, 9, 4)
			m := f.merger(3)
			f.progress(0, w2+mW.Milliseconds())
			f.progress(1, w2+mW.Milliseconds())
			sweep(t, m)
			if len(f.finals()) != 0 {
				t.Fatalf("merged without partition 2's progress: %v", f.finals())
			}
			f.progress(2, w2) // closed w1, not w2
			sweep(t, m)
			final := FinalKey(WindowKey{Window: w1, Split: 1, Ext: f.l.Encoder.Extension(), Compression: tc.comp})
			if got := f.finals(); len(got) != 1 || got[0] != final {
				t.Fatalf("finals %v, want [%s]", got, final)
			}
			if got, exp := f.read(final), f.expected(sortRecs(want)); !bytes.Equal(got, exp) {
				t.Fatalf("final content differs:\n got %q\nwant %q", trunc(got), trunc(exp))
			}
			info, _ := f.b.Stat(context.Background(), final)
			if info.Metadata[MetaRecordCount] != fmt.Sprint(len(want)) || info.Metadata[MetaKind] != "hits" || info.Metadata[MetaMergeID] == "" {
				t.Errorf("metadata %v", info.Metadata)
			}
			if p := f.pending(); len(p) != 1 || !strings.HasPrefix(p[0], stagingDir+"1800000600/") {
				t.Errorf("pending after the merge: %v (want only w2's part)", p)
			}
			if st := m.Stats; st.Merges.Load() != 1 || st.Records.Load() != int64(len(want)) || st.PartsRead.Load() != 4 {
				t.Errorf("stats merges %d records %d parts %d", st.Merges.Load(), st.Records.Load(), st.PartsRead.Load())
			}
			// Deterministic: the same parts merged in another bucket give
			// the same bytes.
			g := newMergeFixture(t, tc.format, tc.comp)
			g.stage(false, w1, 1, 5, 1)
			g.stage(false, w1, 0, 20, 3)
			g.stage(false, w1, 2, 10, 5)
			g.stage(false, w1, 0, 0, 7)
			for p := 0; p < 3; p++ {
				g.progress(p, w2)
			}
			sweep(t, g.merger(3))
			if !bytes.Equal(f.raw(final), g.raw(final)) {
				t.Error("two merges of the same parts wrote different bytes")
			}
		})
	}
}

func trunc(b []byte) []byte {
	if len(b) > 300 {
		return b[:300]
	}
	return b
}

// crashed is what a Hook panics with to stop a merge at a step.
type crashed string

// sweepUntilCrash runs a sweep whose Hook panics at the n-th time step is
// reached; it reports whether it stopped there.
func sweepUntilCrash(t *testing.T, m *Merger, step string, n int) (stopped bool) {
	t.Helper()
	seen := 0
	m.Hook = func(s string) {
		if s == step {
			seen++
			if seen == n {
				panic(crashed(s))
			}
		}
	}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(crashed); !ok {
				panic(r)
			}
			stopped = true
		}
	}()
	_ = m.Sweep(context.Background())
	return false
}

// TestMergeCrash stops a merge at each step (a process killed there) and
// runs a fresh merger: the result is exactly the undisturbed one, and at no
// point are a final object and its parts both outside the exporter's folder.
func TestMergeCrash(t *testing.T) {
	type crash struct {
		step string
		n    int
	}
	for _, c := range []crash{{StepAfterManifest, 1}, {StepAfterPart, 1}, {StepAfterPart, 3}, {StepAfterFinal, 1},
		{StepAfterDone, 1}, {StepDuringCleanup, 1}} {
		t.Run(fmt.Sprintf("%s-%d", c.step, c.n), func(t *testing.T) {
			f := newMergeFixture(t, "json", encoders.Gzip)
			var want []stagedRec
			for p := 0; p < 4; p++ {
				want = append(want, f.stage(false, mW0, p, int64(p*100), 3+p)...)
				f.progress(p, mW0+mW.Milliseconds())
			}
			m := f.merger(4)
			if !sweepUntilCrash(t, m, c.step, c.n) {
				t.Fatalf("the merge never reached %s #%d", c.step, c.n)
			}
			final := FinalKey(WindowKey{Window: mW0, Split: 1, Ext: ".json", Compression: encoders.Gzip})
			switch c.step {
			case StepAfterManifest, StepAfterPart:
				if len(f.finals()) != 0 {
					t.Fatalf("a final object before the merge finished: %v", f.finals())
				}
			default:
				if got := f.finals(); len(got) != 1 || got[0] != final {
					t.Fatalf("finals after the crash: %v", got)
				}
			}
			// A replica started anew (no state but the bucket).
			m2 := f.merger(4)
			sweep(t, m2)
			if got := f.finals(); len(got) != 1 || got[0] != final {
				t.Fatalf("finals %v", got)
			}
			if got, exp := f.read(final), f.expected(sortRecs(want)); !bytes.Equal(got, exp) {
				t.Fatalf("final content differs after a crash at %s", c.step)
			}
			if p := f.pending(); len(p) != 0 {
				t.Fatalf("left pending: %v", p)
			}
			if _, err := f.b.Stat(context.Background(), mergedDir+"1800000000.json"); err != nil {
				t.Fatalf("no done record: %v", err)
			}
			// Another sweep changes nothing.
			before := strings.Join(f.b.Keys(), ",")
			sweep(t, f.merger(4))
			if after := strings.Join(f.b.Keys(), ","); after != before {
				t.Fatalf("a second sweep changed the bucket:\n%s\n%s", before, after)
			}
		})
	}
}

// TestMergeZombieParts: parts of one partition whose spans are contained in
// another's (a zombie's or replay's shorter copy) are dropped; a partial
// overlap is counted and both are kept.
func TestMergeZombieParts(t *testing.T) {
	f := newMergeFixture(t, "ndjson", encoders.None)
	want := f.stage(false, mW0, 0, 10, 20) // [10, 29]
	f.stage(false, mW0, 0, 15, 5)          // [15, 19]: contained
	want = append(want, f.stage(false, mW0, 1, 0, 4)...)
	f.progress(0, mW0+mW.Milliseconds())
	f.progress(1, mW0+mW.Milliseconds())
	m := f.merger(2)
	sweep(t, m)
	final := FinalKey(WindowKey{Window: mW0, Split: 1, Ext: ".ndjson"})
	if got, exp := f.read(final), f.expected(sortRecs(want)); !bytes.Equal(got, exp) {
		t.Fatalf("content:\n%s\nwant\n%s", got, exp)
	}
	if p := f.pending(); len(p) != 0 || m.Stats.Overlaps.Load() != 0 {
		t.Fatalf("pending %v overlaps %d", p, m.Stats.Overlaps.Load())
	}

	g := newMergeFixture(t, "ndjson", encoders.None)
	a := g.stage(false, mW0, 0, 10, 10) // [10, 19]
	b := g.stage(false, mW0, 0, 15, 10) // [15, 24]: partial overlap
	g.progress(0, mW0+mW.Milliseconds())
	m = g.merger(1)
	sweep(t, m)
	if got, exp := g.read(final), g.expected(append(a, b...)); !bytes.Equal(got, exp) || m.Stats.Overlaps.Load() != 1 {
		t.Fatalf("partial overlap: overlaps %d, content equal %v", m.Stats.Overlaps.Load(), bytes.Equal(got, exp))
	}
}

// TestMergeLate: late parts of a merged window wait LateDelay and then make
// one object per window and flush, named after the window's object; a part
// whose records are already merged (re-staged after a crash, a replay) is
// deleted without a new object.
func TestMergeLate(t *testing.T) {
	f := newMergeFixture(t, "ndjson", encoders.Gzip)
	f.now = time.Now() // the bucket stamps parts with the real clock
	f.stage(false, mW0, 0, 0, 3)
	early := f.stage(true, mW0, 1, 50, 2) // late, but before the merge: in the window's object
	for p := 0; p < 2; p++ {
		f.progress(p, mW0+mW.Milliseconds())
	}
	m := f.merger(2)
	sweep(t, m)
	final := FinalKey(WindowKey{Window: mW0, Split: 1, Ext: ".ndjson", Compression: encoders.Gzip})
	if !bytes.Contains(f.read(final), early[0].value) {
		t.Fatal("a late part staged before the merge is not in the window's object")
	}
	late := f.stage(true, mW0, 1, 80, 2)
	f.lateOpen(0, mW0+mW.Milliseconds(), mW0) // partition 0 still holds late records of the window
	f.stage(false, mW0, 0, 1, 2)              // re-staged copy of merged records [1, 2]
	sweep(t, m)
	if got := f.finals(); len(got) != 1 {
		t.Fatalf("late parts merged while a partition holds more: %v", got)
	}
	late = append(late, f.stage(true, mW0, 0, 90, 1)...)
	f.lateOpen(0, mW0+mW.Milliseconds()) // … staged now
	sweep(t, m)
	late1 := FinalKey(WindowKey{Window: mW0, Late: 1, Split: 1, Ext: ".ndjson", Compression: encoders.Gzip})
	if got := f.finals(); len(got) != 2 || got[1] != late1 {
		t.Fatalf("finals %v, want the window's and %s", got, late1)
	}
	if got, exp := f.read(late1), f.expected(sortRecs(late)); !bytes.Equal(got, exp) {
		t.Fatalf("late content:\n%s\nwant\n%s", got, exp)
	}
	if p := f.pending(); len(p) != 0 {
		t.Fatalf("pending %v", p)
	}
	// A partition that keeps saying it holds late records (a stale marker):
	// the late parts wait LateDelay at most.
	f.lateOpen(1, mW0+mW.Milliseconds(), mW0)
	f.stage(true, mW0, 1, 120, 1)
	sweep(t, m)
	if got := f.finals(); len(got) != 2 {
		t.Fatalf("merged while partition 1 holds late records: %v", got)
	}
	f.now = f.now.Add(2 * time.Minute)
	sweep(t, m)
	late2 := FinalKey(WindowKey{Window: mW0, Late: 2, Split: 1, Ext: ".ndjson", Compression: encoders.Gzip})
	if got := f.finals(); len(got) != 3 || got[2] != late2 {
		t.Fatalf("finals %v", got)
	}
}

// TestMergeSplit: a merge past MaxObjectBytes writes numbered objects whose
// concatenated records are the window's, in order.
func TestMergeSplit(t *testing.T) {
	f := newMergeFixture(t, "json", encoders.None)
	var want []stagedRec
	for p := 0; p < 3; p++ {
		want = append(want, f.stage(false, mW0, p, 0, 40)...)
		f.progress(p, mW0+mW.Milliseconds())
	}
	m := f.merger(3)
	m.MaxObjectBytes = 20 << 10
	sweep(t, m)
	finals := f.finals()
	if len(finals) < 3 {
		t.Fatalf("finals %v: expected a split", finals)
	}
	var got []stagedRec
	i := 0
	for n, k := range finals {
		wk, ok := ParseWindowKey(k)
		if !ok || wk.Split != n+1 || wk.Late != 0 {
			t.Fatalf("key %s", k)
		}
		data := f.read(k)
		var cnt int
		if err := readRecords(bytes.NewReader(data), encoders.None, true, func(rec []byte) error {
			if !bytes.Equal(rec, want[i].value) {
				return fmt.Errorf("record %d differs", i)
			}
			got = append(got, want[i])
			i++
			cnt++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, []byte("[\n")) || !bytes.HasSuffix(data, []byte("\n]\n")) || cnt == 0 {
			t.Fatalf("object %s is not a JSON array of records", k)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d records in the split objects, want %d", len(got), len(want))
	}
}

// TestMergeConcurrent: replicas sweeping at once write each object once.
func TestMergeConcurrent(t *testing.T) {
	f := newMergeFixture(t, "ndjson", encoders.Zstd)
	var want []stagedRec
	for p := 0; p < 4; p++ {
		want = append(want, f.stage(false, mW0, p, 0, 25)...)
		f.progress(p, mW0+mW.Milliseconds())
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- f.merger(4).Sweep(context.Background())
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Logf("a concurrent sweep failed (fine: the next one finishes): %v", err)
		}
	}
	sweep(t, f.merger(4))
	final := FinalKey(WindowKey{Window: mW0, Split: 1, Ext: ".ndjson", Compression: encoders.Zstd})
	if got := f.finals(); len(got) != 1 || got[0] != final {
		t.Fatalf("finals %v", got)
	}
	if got, exp := f.read(final), f.expected(sortRecs(want)); !bytes.Equal(got, exp) {
		t.Fatal("content differs")
	}
	if p := f.pending(); len(p) != 0 {
		t.Fatalf("pending %v", p)
	}
}

// TestMergeVoidManifest: a manifest whose object name another merge holds
// (a stale replica's) writes nothing and is dropped; its parts stay for the
// late merge.
func TestMergeVoidManifest(t *testing.T) {
	f := newMergeFixture(t, "ndjson", encoders.None)
	f.stage(false, mW0, 0, 0, 3)
	f.progress(0, mW0+mW.Milliseconds())
	sweep(t, f.merger(1))
	final := FinalKey(WindowKey{Window: mW0, Split: 1, Ext: ".ndjson"})
	before := f.read(final)
	// A stale manifest for the same name over a new part.
	extra := f.stage(false, mW0, 0, 10, 2)
	key := StagedKey(StagedPart{Window: mW0, Topic: mTopic, Partition: 0, First: 10, Ext: ".ndjson"})
	stale := &mergeManifest{Version: 1, Topic: mTopic, Window: mW0, Ext: ".ndjson", Compression: "none",
		Parts: []mergePart{{Key: key, Partition: 0, First: 10, Last: 11, Count: 2}}}
	stale.ID = stale.computeID()
	m := f.merger(1)
	m.init()
	if err := m.complete(context.Background(), mergingDir+"1800000000.json", stale); err != nil {
		t.Fatal(err)
	}
	// The done record belongs to the first merge: the stale manifest must
	// neither write nor delete anything but itself.
	if !bytes.Equal(f.read(final), before) {
		t.Fatal("the final object changed")
	}
	found := false
	for _, k := range f.b.Keys() {
		if k == key {
			found = true
		}
	}
	if !found {
		t.Fatalf("the stale manifest deleted a part it never merged (records %v lost)", extra)
	}
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestWindowSpans: a replay learns the spans of merged and staged parts.
func TestWindowSpans(t *testing.T) {
	f := newMergeFixture(t, "ndjson", encoders.None)
	f.stage(false, mW0, 0, 0, 3)
	f.stage(false, mW0, 1, 5, 2)
	f.progress(0, mW0+mW.Milliseconds())
	f.progress(1, mW0+mW.Milliseconds())
	sweep(t, f.merger(2))
	f.stage(true, mW0, 1, 9, 1)                    // staged, not merged
	f.stage(false, mW0+mW.Milliseconds(), 0, 3, 4) // next window, staged
	got, err := WindowSpans(context.Background(), f.b, mTopic, mW0)
	if err != nil {
		t.Fatal(err)
	}
	w1 := mW0 + mW.Milliseconds()
	want := map[int][]Range{0: {{mW0, 0, 2}, {w1, 3, 6}}, 1: {{mW0, 5, 6}, {mW0, 9, 9}}}
	for p, rs := range want {
		g := append([]Range(nil), got[p]...)
		sort.Slice(g, func(i, j int) bool { return g[i].First < g[j].First })
		if fmt.Sprint(g) != fmt.Sprint(rs) {
			t.Errorf("partition %d: %v, want %v", p, g, rs)
		}
	}
	if got, _ := WindowSpans(context.Background(), f.b, mTopic, w1); len(got[1]) != 0 || len(got[0]) != 1 {
		t.Errorf("since the next window: %v", got)
	}
	if got, _ := WindowSpans(context.Background(), f.b, "other", 0); len(got) != 0 {
		t.Errorf("another topic: %v", got)
	}
}

// TestMergeLongerCopy: after a window is merged, a longer copy of one of
// its parts (same first offset: a zombie's or a replacement worker's) adds
// only its new records, in a late object; a third, longer still, again only
// the new ones.
func TestMergeLongerCopy(t *testing.T) {
	f := newMergeFixture(t, "ndjson", encoders.Gzip)
	f.now = time.Now()
	all := f.stage(false, mW0, 0, 0, 5)
	all = append(all, f.stage(false, mW0, 1, 0, 3)...)
	f.progress(0, mW0+mW.Milliseconds())
	f.progress(1, mW0+mW.Milliseconds())
	m := f.merger(2)
	sweep(t, m)
	longer := f.stage(false, mW0, 0, 0, 9)
	f.now = f.now.Add(2 * time.Minute)
	sweep(t, m)
	late1 := FinalKey(WindowKey{Window: mW0, Late: 1, Split: 1, Ext: ".ndjson", Compression: encoders.Gzip})
	if got, exp := f.read(late1), f.expected(longer[5:]); !bytes.Equal(got, exp) {
		t.Fatalf("late object:\n%s\nwant\n%s", got, exp)
	}
	longest := f.stage(false, mW0, 0, 0, 12)
	f.now = f.now.Add(2 * time.Minute)
	sweep(t, m)
	late2 := FinalKey(WindowKey{Window: mW0, Late: 2, Split: 1, Ext: ".ndjson", Compression: encoders.Gzip})
	if got, exp := f.read(late2), f.expected(longest[9:]); !bytes.Equal(got, exp) {
		t.Fatalf("second late object:\n%s\nwant\n%s", got, exp)
	}
	if m.Stats.Overlaps.Load() != 0 || len(f.pending()) != 0 {
		t.Fatalf("overlaps %d, pending %v", m.Stats.Overlaps.Load(), f.pending())
	}
	final := FinalKey(WindowKey{Window: mW0, Split: 1, Ext: ".ndjson", Compression: encoders.Gzip})
	if got, exp := f.read(final), f.expected(sortRecs(all)); !bytes.Equal(got, exp) {
		t.Fatal("the window's object changed")
	}
}

// TestMergeRunStop: Run's last sweep, on stop, merges late parts without
// waiting for LateDelay: the bucket is at rest when the process is.
func TestMergeRunStop(t *testing.T) {
	f := newMergeFixture(t, "ndjson", encoders.None)
	f.now = time.Now()
	f.stage(false, mW0, 0, 0, 2)
	f.progress(0, mW0+mW.Milliseconds())
	m := f.merger(1)
	m.LateDelay, m.Interval = time.Hour, time.Hour
	sweep(t, m)
	late := f.stage(true, mW0, 0, 7, 1)
	f.lateOpen(0, mW0+mW.Milliseconds(), mW0) // more late records held: the normal sweep waits
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { m.Run(context.Background(), stop); close(done) }()
	m.Poke()
	time.Sleep(50 * time.Millisecond)
	if len(f.finals()) != 1 {
		t.Fatalf("late part merged before LateDelay: %v", f.finals())
	}
	close(stop)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after stop")
	}
	late1 := FinalKey(WindowKey{Window: mW0, Late: 1, Split: 1, Ext: ".ndjson"})
	if got, exp := f.read(late1), f.expected(late); !bytes.Equal(got, exp) || len(f.pending()) != 0 {
		t.Fatalf("after stop: finals %v pending %v", f.finals(), f.pending())
	}
}

// TestMergePartReplacedDuringMerge: a part replaced by a longer copy after
// the manifest was written (a new owner's upload) gives the same window
// object (the manifest's records), is kept by the cleanup, and its new
// records go into a late object, once.
func TestMergePartReplacedDuringMerge(t *testing.T) {
	f := newMergeFixture(t, "json", encoders.Zstd)
	f.now = time.Now()
	short := f.stage(false, mW0, 0, 0, 5)
	other := f.stage(false, mW0, 1, 0, 2)
	f.progress(0, mW0+mW.Milliseconds())
	f.progress(1, mW0+mW.Milliseconds())
	var longer []stagedRec
	m := f.merger(2)
	m.Hook = func(step string) {
		if step == StepAfterManifest && longer == nil {
			longer = f.stage(false, mW0, 0, 0, 9)
		}
	}
	sweep(t, m)
	final := FinalKey(WindowKey{Window: mW0, Split: 1, Ext: ".json", Compression: encoders.Zstd})
	if got, exp := f.read(final), f.expected(append(append([]stagedRec{}, short...), other...)); !bytes.Equal(got, exp) {
		t.Fatalf("window object:\n%s\nwant\n%s", got, exp)
	}
	if p := f.pending(); len(p) != 1 {
		t.Fatalf("pending %v, want the longer copy kept", p)
	}
	sweep(t, m)
	late1 := FinalKey(WindowKey{Window: mW0, Late: 1, Split: 1, Ext: ".json", Compression: encoders.Zstd})
	if got, exp := f.read(late1), f.expected(longer[5:]); !bytes.Equal(got, exp) {
		t.Fatalf("late object:\n%s\nwant\n%s", got, exp)
	}
	if p := f.pending(); len(p) != 0 || m.Stats.Overlaps.Load() != 0 {
		t.Fatalf("pending %v overlaps %d", p, m.Stats.Overlaps.Load())
	}
}
