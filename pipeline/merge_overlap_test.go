package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/store"
)

// stageAt writes a part of window w for partition p holding the records at
// offs (ascending; the same (p, offset) always gets the same hit), with its
// offsets index when index is set (as a worker of the window layout writes
// it), else without (a part of an earlier version).
func (f *mergeFixture) stageAt(late bool, w int64, p int, offs []int64, index bool) []stagedRec {
	f.t.Helper()
	kind := KindHits
	if late {
		kind = KindLate
	}
	o, err := f.newPart(kind, w, offs[0])
	if err != nil {
		f.t.Fatal(err)
	}
	o.track = true
	var out []stagedRec
	for _, off := range offs {
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
	key := f.partKey(StagedPart{Late: late, Window: w, Topic: mTopic, Partition: p, First: offs[0], Ext: f.l.Ext()})
	md := o.metadata(f.l, mTopic, p)
	if index {
		si := newStagedIndex(key, o.offsets)
		if err := si.put(context.Background(), f.b); err != nil {
			f.t.Fatal(err)
		}
		md[MetaOffsetsIndex] = si.hash
	}
	if err := f.b.Put(context.Background(), key, o.spool.Reader(), o.spool.Size(), store.PutOptions{Metadata: md}); err != nil {
		f.t.Fatal(err)
	}
	return out
}

func span(from, to int64) []int64 {
	var out []int64
	for o := from; o <= to; o++ {
		out = append(out, o)
	}
	return out
}

func every(from, to, step int64) []int64 {
	var out []int64
	for o := from; o <= to; o += step {
		out = append(out, o)
	}
	return out
}

// lines is how often each record line occurs in the final objects.
func (f *mergeFixture) lines() map[string]int {
	f.t.Helper()
	out := map[string]int{}
	for _, k := range f.finals() {
		for _, l := range strings.Split(strings.TrimSpace(string(f.read(k))), "\n") {
			if l != "" {
				out[l]++
			}
		}
	}
	return out
}

// exactlyOnce checks that every record of recs (distinct or not) is in the
// final objects exactly once, and nothing else is.
func (f *mergeFixture) exactlyOnce(recs []stagedRec) {
	f.t.Helper()
	want := map[string]int{}
	for _, r := range recs {
		want[strings.TrimSpace(string(f.expected([]stagedRec{r})))] = 1
	}
	got := f.lines()
	for l := range want {
		if got[l] != 1 {
			f.t.Errorf("record %.60s… in the finals %d times", l, got[l])
		}
	}
	for l, n := range got {
		if want[l] == 0 {
			f.t.Errorf("unexpected record in the finals (%d times): %.60s…", n, l)
		}
	}
}

// TestMergePartialOverlap: two staged parts of one partition and window
// whose spans overlap without one containing the other (a restart or a
// zombie closing the window at another record), in either staging order:
// with their offsets indexes the common records are taken once, the bytes
// do not depend on the order, and nothing is counted as an unresolved
// overlap.
func TestMergePartialOverlap(t *testing.T) {
	type part struct{ offs []int64 }
	for _, tc := range []struct {
		name  string
		parts []part
		// dropped: parts whose records are all in others (deleted unread).
		dropped int
	}{
		{"shifted", []part{{span(10, 29)}, {span(20, 39)}}, 0},
		{"interleaved", []part{{every(10, 30, 2)}, {span(15, 45)}}, 0},
		{"three", []part{{span(10, 20)}, {span(15, 25)}, {span(18, 40)}}, 0},
		{"gap", []part{{span(10, 20)}, {span(25, 35)}, {[]int64{15, 30}}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ref []byte
			for _, reverse := range []bool{false, true} {
				f := newMergeFixture(t, "ndjson", encoders.Gzip)
				var all []stagedRec
				all = append(all, f.stageAt(false, mW0, 0, span(0, 4), true)...) // another partition
				order := append([]part(nil), tc.parts...)
				if reverse {
					for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
						order[i], order[j] = order[j], order[i]
					}
				}
				for _, p := range order {
					all = append(all, f.stageAt(false, mW0, 1, p.offs, true)...)
				}
				m := f.merger(2)
				f.progress(0, mW0+mW.Milliseconds())
				f.progress(1, mW0+mW.Milliseconds())
				sweep(t, m)
				f.exactlyOnce(all)
				if p := f.pending(); len(p) != 0 {
					t.Errorf("pending after the merge: %v", p)
				}
				final := FinalKey(WindowKey{Window: mW0, Split: 1, Ext: ".ndjson", Compression: encoders.Gzip})
				if got := f.finals(); len(got) != 1 || got[0] != final {
					t.Fatalf("finals %v", got)
				}
				if st := m.Stats; st.Overlaps.Load() != 0 || st.OverlapsResolved.Load() != int64(len(tc.parts)-1) || st.Deduplicated.Load() == 0 {
					t.Errorf("overlaps %d resolved %d deduplicated %d", st.Overlaps.Load(), st.OverlapsResolved.Load(), st.Deduplicated.Load())
				}
				if got := m.Stats.PartsRead.Load(); got != int64(1+len(tc.parts)-tc.dropped) {
					t.Errorf("parts read %d", got)
				}
				raw := f.raw(final)
				if ref == nil {
					ref = raw
				} else if !bytes.Equal(ref, raw) {
					t.Error("the staging order changed the final object's bytes")
				}
				// The done record says what was left out.
				mf, err := m.readManifest(context.Background(), mergedDir+"1800000000.json")
				if err != nil {
					t.Fatal(err)
				}
				omits := 0
				for _, p := range append(mf.Parts, mf.Drop...) {
					if p.Index == "" {
						t.Errorf("part %s without its index hash in the done record", p.Key)
					}
					omits += len(p.Omit)
				}
				if omits == 0 {
					t.Error("no part of the done record has records left out")
				}
			}
		})
	}
}

// TestMergeLateOverlap: a part staged after its window was merged that
// overlaps a merged part without being contained in it (a restaged copy
// closed at another record) goes into a late object with only the records
// the window's objects do not hold; one whose records are all held is
// deleted without a late object.
func TestMergeLateOverlap(t *testing.T) {
	f := newMergeFixture(t, "ndjson", encoders.Zstd)
	var all []stagedRec
	all = append(all, f.stageAt(false, mW0, 0, span(10, 29), true)...)
	all = append(all, f.stageAt(false, mW0, 0, span(40, 49), true)...)
	m := f.merger(1)
	f.progress(0, mW0+mW.Milliseconds())
	sweep(t, m)
	f.exactlyOnce(all)
	// A copy of [20, 35] staged as late (a new owner), and one of [25, 45]
	// on-time (a zombie), whose offsets between 30 and 39 are partly new.
	all = append(all, f.stageAt(true, mW0, 0, span(20, 35), true)...)
	all = append(all, f.stageAt(false, mW0, 0, every(25, 45, 5), true)...)
	sweep(t, m)
	f.exactlyOnce(all)
	late := FinalKey(WindowKey{Window: mW0, Late: 1, Split: 1, Ext: ".ndjson", Compression: encoders.Zstd})
	if got := f.finals(); len(got) != 2 || got[1] != late {
		t.Fatalf("finals %v", got)
	}
	if n := strings.Count(string(f.read(late)), "\n"); n != 6 { // 30..35 once
		t.Errorf("late object holds %d records, want 6 (30..35)", n)
	}
	if p := f.pending(); len(p) != 0 {
		t.Errorf("pending: %v", p)
	}
	if st := m.Stats; st.Overlaps.Load() != 0 || st.OverlapsResolved.Load() < 2 {
		t.Errorf("overlaps %d resolved %d", st.Overlaps.Load(), st.OverlapsResolved.Load())
	}
	// A further copy whose records are all in the objects: deleted.
	all = append(all, f.stageAt(false, mW0, 0, []int64{28, 33, 41}, true)...)
	sweep(t, m)
	f.exactlyOnce(all)
	if got := f.finals(); len(got) != 2 {
		t.Fatalf("a part holding nothing new made an object: %v", got)
	}
	if p := f.pending(); len(p) != 0 {
		t.Errorf("pending: %v", p)
	}
}

// TestMergeOverlapWithoutIndex: a part whose offsets index is missing (a
// part of an earlier version, or an index gone) cannot be deduplicated: the
// merge falls back to taking both parts whole (never losing a record), and
// counts the overlap.
func TestMergeOverlapWithoutIndex(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stage  func(f *mergeFixture) []stagedRec
		remove bool // delete the index objects after staging
	}{
		{"first without", func(f *mergeFixture) []stagedRec {
			return append(f.stageAt(false, mW0, 0, span(10, 29), false), f.stageAt(false, mW0, 0, span(20, 39), true)...)
		}, false},
		{"second without", func(f *mergeFixture) []stagedRec {
			return append(f.stageAt(false, mW0, 0, span(10, 29), true), f.stageAt(false, mW0, 0, span(20, 39), false)...)
		}, false},
		{"index gone", func(f *mergeFixture) []stagedRec {
			return append(f.stageAt(false, mW0, 0, span(10, 29), true), f.stageAt(false, mW0, 0, span(20, 39), true)...)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newMergeFixture(t, "ndjson", encoders.None)
			all := tc.stage(f)
			if tc.remove {
				for _, k := range f.b.Keys() {
					if strings.HasPrefix(k, offsetsDir) {
						_ = f.b.Delete(context.Background(), k)
					}
				}
			}
			m := f.merger(1)
			f.progress(0, mW0+mW.Milliseconds())
			sweep(t, m)
			got := f.lines()
			for _, r := range all {
				l := strings.TrimSpace(string(f.expected([]stagedRec{r})))
				want := 1
				if r.offset >= 20 && r.offset <= 29 {
					want = 2 // the documented fallback: in both parts
				}
				if got[l] != want {
					t.Errorf("offset %d in the finals %d times, want %d", r.offset, got[l], want)
				}
			}
			if st := m.Stats; st.Overlaps.Load() != 1 || st.OverlapsResolved.Load() != 0 {
				t.Errorf("overlaps %d resolved %d", st.Overlaps.Load(), st.OverlapsResolved.Load())
			}
			if p := f.pending(); len(p) != 0 {
				t.Errorf("pending: %v", p)
			}
		})
	}
}

// TestMergeOverlapCrash: a merge that resolves a partial overlap, stopped at
// each step and completed by the next sweep, writes the same bytes, every
// record once.
func TestMergeOverlapCrash(t *testing.T) {
	final := FinalKey(WindowKey{Window: mW0, Split: 1, Ext: ".ndjson", Compression: encoders.Gzip})
	var ref []byte
	for _, step := range []string{"", StepAfterManifest, StepAfterPart, StepAfterFinal, StepAfterDone, StepDuringCleanup} {
		f := newMergeFixture(t, "ndjson", encoders.Gzip)
		all := append(f.stageAt(false, mW0, 0, span(10, 29), true), f.stageAt(false, mW0, 0, every(15, 45, 3), true)...)
		f.progress(0, mW0+mW.Milliseconds())
		if step != "" {
			if !sweepUntilCrash(t, f.merger(1), step, 1) {
				t.Fatalf("%s: not reached", step)
			}
		}
		sweep(t, f.merger(1))
		f.exactlyOnce(all)
		if p := f.pending(); len(p) != 0 {
			t.Errorf("%s: pending %v", step, p)
		}
		raw := f.raw(final)
		if ref == nil {
			ref = raw
		} else if !bytes.Equal(ref, raw) {
			t.Errorf("%s: other bytes than an uninterrupted merge", step)
		}
	}
}

func TestOffsetsIndexEncoding(t *testing.T) {
	for _, offs := range [][]int64{{0}, {5, 6, 7}, {1 << 40, 1<<40 + 300, 1<<40 + 100000}, every(3, 3000, 7)} {
		b := encodeOffsets(offs)
		got, err := decodeOffsets(b)
		if err != nil || !reflect.DeepEqual(got, offs) {
			t.Errorf("%v: decoded %v, %v", offs, got, err)
		}
	}
	if n := len(encodeOffsets(span(1000, 1999))); n > 1010 {
		t.Errorf("1000 consecutive offsets take %d bytes", n)
	}
	good := encodeOffsets([]int64{4, 9})
	for _, bad := range [][]byte{nil, []byte("HXOI2\x01\x00"), good[:len(good)-1], append(append([]byte(nil), good...), 1),
		encodeOffsets([]int64{4, 4})} {
		if _, err := decodeOffsets(bad); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
	key := "_hitexport/staging-late/1800000000/a-b-3-42.ndjson.gz"
	ik := offsetsKey(key, offsetsHash(good))
	if sp, ok := parseOffsetsKey(ik); !ok || !sp.Late || sp.Partition != 3 || sp.First != 42 || sp.Topic != "a-b" {
		t.Errorf("parseOffsetsKey(%q) = %+v, %v", ik, sp, ok)
	}
	if !IsInternalKey(ik) || IsPendingKey(ik) {
		t.Errorf("index key classification: %s", ik)
	}
	if got := spansOf([]bool{true, true, false, true, false, false, true}); !reflect.DeepEqual(got, []Span{{0, 2}, {3, 4}, {6, 7}}) {
		t.Errorf("spansOf: %v", got)
	}
}

// TestMergedRetention: a window's done records and offsets indexes are
// removed once the newest is older than the retention and nothing of the
// window is pending; newer windows and windows with staged parts keep
// theirs. A replay restaging a window whose records were removed loses
// nothing: its parts go into the window's next late object (they may
// repeat records the window's object holds: nothing says which).
func TestMergedRetention(t *testing.T) {
	f := newMergeFixture(t, "ndjson", encoders.Gzip)
	w1, w2, w3 := mW0, mW0+mW.Milliseconds(), mW0+2*mW.Milliseconds()
	first := f.stageAt(false, w1, 0, span(0, 9), true)
	f.stageAt(false, w2, 0, span(10, 19), true)
	f.progress(0, w3)
	m := f.merger(1)
	sweep(t, m)
	all := append([]stagedRec(nil), first...)
	all = append(all, f.stageAt(true, w1, 0, span(30, 31), true)...)
	if err := m.SweepAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	count := func(prefix string) int {
		n := 0
		for _, k := range f.b.Keys() {
			if strings.HasPrefix(k, prefix) {
				n++
			}
		}
		return n
	}
	if count(mergedDir) != 3 || count(offsetsDir) != 3 {
		t.Fatalf("before expiry: %v", f.b.Keys())
	}
	// w2 has a part pending (a late copy not merged yet).
	f.stageAt(true, w2, 0, span(50, 50), true)
	f.lateOpen(0, w3, w2)

	real := time.Now()
	m = f.merger(1)
	m.MergedRetention = 24 * time.Hour
	m.LateDelay = 1000 * time.Hour // w2's late part stays pending
	m.ExpireEvery = 48 * time.Hour
	m.Now = func() time.Time { return real.Add(2 * time.Hour) }
	sweep(t, m) // too young: nothing removed
	if count(mergedDir) != 3 || m.Stats.Expired.Load() != 0 {
		t.Fatalf("young records removed: %v", f.b.Keys())
	}
	m.Now = func() time.Time { return real.Add(25 * time.Hour) }
	sweep(t, m) // old, but within ExpireEvery of the last look
	if m.Stats.Expired.Load() != 0 {
		t.Fatal("expiry ran again before ExpireEvery")
	}
	m.Now = func() time.Time { return real.Add(26 * time.Hour) }
	m.ExpireEvery = time.Minute
	sweep(t, m)
	var left []string
	for _, k := range f.b.Keys() {
		if strings.HasPrefix(k, mergedDir) || strings.HasPrefix(k, offsetsDir) {
			left = append(left, k)
		}
	}
	sort.Strings(left)
	if len(left) != 3 || left[0] != mergedDir+"1800000600.json" || !strings.Contains(left[1], "/1800000600/") || !strings.Contains(left[2], "/1800000600/") {
		t.Fatalf("after expiry: %v (want w2's done record and indexes only)", left)
	}
	if m.Stats.Expired.Load() != 4 {
		t.Errorf("expired %d, want 4 (w1: 2 done records, 2 indexes)", m.Stats.Expired.Load())
	}
	// A replay that closes w1 at another record than the first writer:
	// nothing says its records are merged and the window's name is taken,
	// so they go into its next late object, twice in the bucket.
	all = append(all, f.stageAt(false, w1, 0, append(span(0, 9), 25), true)...)
	sweep(t, m)
	if p := f.pending(); len(p) != 1 || !strings.Contains(p[0], "/1800000600/") {
		t.Fatalf("pending after the replay's merge: %v", p)
	}
	lateKey := FinalKey(WindowKey{Window: w1, Late: 2, Split: 1, Ext: ".ndjson", Compression: encoders.Gzip})
	if _, err := f.b.Stat(context.Background(), lateKey); err != nil {
		t.Fatalf("replayed records not in %s: %v (keys %v)", lateKey, err, f.finals())
	}
	got := f.lines()
	seen := map[int64]bool{}
	for _, r := range all {
		if seen[r.offset] {
			continue
		}
		seen[r.offset] = true
		l := strings.TrimSpace(string(f.expected([]stagedRec{r})))
		want := 1
		if r.offset < 10 {
			want = 2 // in the window's object and in the replay's late object
		}
		if got[l] != want {
			t.Errorf("offset %d in the finals %d times, want %d", r.offset, got[l], want)
		}
	}
	if _, err := f.b.Stat(context.Background(), mergedDir+fmt.Sprint(w1/1000)+"_late-002.json"); err != nil {
		t.Errorf("no done record for the replay's late merge: %v", err)
	}
	// Expired again, then a replay restaging w1's part exactly as first
	// written: the same parts make the same merge ID, which finds its own
	// object: nothing is written again.
	m.Now = func() time.Time { return real.Add(100 * time.Hour) }
	sweep(t, m)
	if k := f.b.Keys(); strings.Contains(strings.Join(k, " "), mergedDir+"1800000000") {
		t.Fatalf("w1's done records not expired: %v", k)
	}
	f.stageAt(false, w1, 0, span(0, 9), true)
	sweep(t, m)
	if p := f.pending(); len(p) != 1 || len(f.finals()) != 4 {
		t.Fatalf("identical replay: pending %v, finals %v", p, f.finals())
	}
	if again := f.lines(); !reflect.DeepEqual(again, got) {
		t.Error("an identical replay changed the final objects")
	}
}
