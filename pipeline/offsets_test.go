package pipeline_test

import (
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/hitexport/hitexport/pipeline"
)

func TestOffsetsCommittable(t *testing.T) {
	o := pipeline.NewOffsets(100, nil)
	if c := o.Committable(); c != 100 {
		t.Fatalf("nothing read: %d", c)
	}
	// Records 100..109: window A opens at 100, B at 101, rejected at 104.
	for off := int64(100); off < 110; off++ {
		o.Read(off)
	}
	o.Open(100)
	o.Open(101)
	o.Open(104)
	if o.Next() != 110 {
		t.Fatalf("Next %d", o.Next())
	}
	if c := o.Committable(); c != 100 {
		t.Fatalf("three open: %d", c)
	}
	// Out-of-order uploads: B (101) first: still held by A.
	o.Uploaded(pipeline.Range{Window: 2, First: 101, Last: 109})
	if c := o.Committable(); c != 100 {
		t.Fatalf("after B: %d", c)
	}
	// A: now the rejected object at 104 holds it.
	o.Uploaded(pipeline.Range{Window: 1, First: 100, Last: 108})
	if c := o.Committable(); c != 104 {
		t.Fatalf("after A: %d", c)
	}
	o.Uploaded(pipeline.Range{Window: pipeline.RejectedWindow, First: 104, Last: 107})
	if c := o.Committable(); c != 110 {
		t.Fatalf("all uploaded: %d", c)
	}
	// Reading older offsets (a re-read) never moves Next back.
	o.Read(50)
	if o.Next() != 110 {
		t.Fatalf("Next moved back: %d", o.Next())
	}
}

func TestOffsetsSameFirstTwice(t *testing.T) {
	// Two objects can start at the same offset (a split followed by a late
	// object is not, but a discarded and reopened one is): counted.
	o := pipeline.NewOffsets(0, nil)
	o.Read(9)
	o.Open(3)
	o.Open(3)
	o.Uploaded(pipeline.Range{Window: 1, First: 3, Last: 5})
	if c := o.Committable(); c != 3 {
		t.Fatalf("one of two still open: %d", c)
	}
	o.Discard(3)
	if c := o.Committable(); c != 10 {
		t.Fatalf("both released: %d", c)
	}
}

func TestOffsetsDiscard(t *testing.T) {
	o := pipeline.NewOffsets(0, nil)
	for i := int64(0); i < 5; i++ {
		o.Read(i)
	}
	o.Open(2)
	if c := o.Committable(); c != 2 {
		t.Fatal(c)
	}
	o.Discard(2)
	if c := o.Committable(); c != 5 {
		t.Fatal(c)
	}
	if o.Covered(1, 2) {
		t.Fatal("a discarded object covers its records")
	}
}

func TestOffsetsCoveredAndPrune(t *testing.T) {
	restored := []pipeline.Range{{Window: 1000, First: 10, Last: 20}, {Window: pipeline.RejectedWindow, First: 12, Last: 12}}
	o := pipeline.NewOffsets(10, restored)
	tests := []struct {
		window, off int64
		want        bool
	}{
		{1000, 9, false}, {1000, 10, true}, {1000, 15, true}, {1000, 20, true}, {1000, 21, false},
		{2000, 15, false}, // another window's record in the span is not covered
		{pipeline.RejectedWindow, 12, true}, {pipeline.RejectedWindow, 13, false},
	}
	for _, tc := range tests {
		if got := o.Covered(tc.window, tc.off); got != tc.want {
			t.Errorf("Covered(%d, %d) = %v", tc.window, tc.off, got)
		}
	}
	o.Uploaded(pipeline.Range{Window: 3000, First: 30, Last: 40})
	o.Known(pipeline.Range{Window: 4000, First: 41, Last: 45})
	if !o.Covered(3000, 35) || !o.Covered(4000, 45) {
		t.Fatal("Uploaded/Known spans not covered")
	}
	o.Prune(21)
	if o.Covered(1000, 15) || o.Covered(pipeline.RejectedWindow, 12) {
		t.Fatal("spans ending before the commit point survived Prune")
	}
	if !o.Covered(3000, 35) || !o.Covered(4000, 41) {
		t.Fatal("Prune dropped spans past the commit point")
	}
	o.Prune(40) // Last == c is kept: record 40 is read again
	if !o.Covered(3000, 40) {
		t.Fatal("span ending at the commit point dropped")
	}
}

func TestCommitStateRoundTrip(t *testing.T) {
	tests := []pipeline.CommitState{
		{},
		{MaxEvent: 1687241470000, ClosedBefore: 1687241400000},
		{MaxEvent: 1, ClosedBefore: -600000, Ranges: []pipeline.Range{{Window: -1, First: 0, Last: 0}}},
		{MaxEvent: 1687241470000, ClosedBefore: 1687241400000, Ranges: []pipeline.Range{
			{Window: 1687241400000, First: 5, Last: 99},
			{Window: pipeline.RejectedWindow, First: 7, Last: 7},
			{Window: 1687242000000, First: 100, Last: 1 << 40},
		}},
	}
	for i, st := range tests {
		s := st.Encode()
		if !strings.HasPrefix(s, "hx1 ") {
			t.Errorf("%d: %q", i, s)
		}
		got := pipeline.DecodeCommitState(s)
		if got.MaxEvent != st.MaxEvent || got.ClosedBefore != st.ClosedBefore {
			t.Errorf("%d: %+v != %+v", i, got, st)
		}
		if !sameRanges(got.Ranges, st.Ranges) {
			t.Errorf("%d: ranges %v != %v", i, got.Ranges, st.Ranges)
		}
	}
}

func sameRanges(a, b []pipeline.Range) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	sa := append([]pipeline.Range(nil), a...)
	sb := append([]pipeline.Range(nil), b...)
	less := func(s []pipeline.Range) func(i, j int) bool {
		return func(i, j int) bool {
			if s[i].First != s[j].First {
				return s[i].First < s[j].First
			}
			return s[i].Window < s[j].Window
		}
	}
	sort.Slice(sa, less(sa))
	sort.Slice(sb, less(sb))
	return reflect.DeepEqual(sa, sb)
}

// Thousands of ranges: the metadata stays under Kafka's default 4096-byte
// limit, keeps the newest spans, and every span it keeps is one of the input.
func TestCommitStateMetadataCap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var ranges []pipeline.Range
	for i := 0; i < 5000; i++ {
		first := int64(1_000_000_000 + i*1000)
		ranges = append(ranges, pipeline.Range{Window: 1687241400000 + int64(r.IntN(100))*600000, First: first, Last: first + int64(r.IntN(999))})
	}
	r.Shuffle(len(ranges), func(i, j int) { ranges[i], ranges[j] = ranges[j], ranges[i] })
	st := pipeline.CommitState{MaxEvent: 1687241470000, ClosedBefore: 1687241400000, Ranges: ranges}
	s := st.Encode()
	if len(s) >= 4096 {
		t.Fatalf("metadata is %d bytes", len(s))
	}
	got := pipeline.DecodeCommitState(s)
	if len(got.Ranges) < 50 {
		t.Fatalf("only %d ranges kept", len(got.Ranges))
	}
	in := map[pipeline.Range]bool{}
	var maxFirst int64
	for _, rg := range ranges {
		in[rg] = true
		maxFirst = max(maxFirst, rg.First)
	}
	minKept := int64(1 << 62)
	for _, rg := range got.Ranges {
		if !in[rg] {
			t.Fatalf("decoded range %v not in the input", rg)
		}
		minKept = min(minKept, rg.First)
	}
	// The kept ones are the newest: every input range newer than the oldest
	// kept one is kept.
	kept := map[pipeline.Range]bool{}
	for _, rg := range got.Ranges {
		kept[rg] = true
	}
	for _, rg := range ranges {
		if rg.First > minKept && !kept[rg] {
			t.Fatalf("range %v dropped while an older one (first %d) was kept", rg, minKept)
		}
	}
	newestKept := false
	for rg := range kept {
		newestKept = newestKept || rg.First == maxFirst
	}
	if !newestKept {
		t.Fatal("newest range dropped")
	}
	// Encode does not reorder the caller's slice.
	if !reflect.DeepEqual(st.Ranges, ranges) {
		t.Fatal("Encode modified its input")
	}
}

func TestDecodeCommitStateForeign(t *testing.T) {
	tests := []struct {
		in   string
		want pipeline.CommitState
	}{
		{"", pipeline.CommitState{}},
		{"some other tool's metadata", pipeline.CommitState{}},
		{"hx1", pipeline.CommitState{}},
		{"hx2 m=5 c=6", pipeline.CommitState{}},
		{"HX1 m=5", pipeline.CommitState{}},
		{"hx1 m=abc c=7 r=", pipeline.CommitState{ClosedBefore: 7}},
		{"hx1 m=5 c=6 r=1:2", pipeline.CommitState{MaxEvent: 5, ClosedBefore: 6}},
		{"hx1 m=5 c=6 r=1:2:3,x:y:z,4:5:6:7,,-1:8:9", pipeline.CommitState{MaxEvent: 5, ClosedBefore: 6,
			Ranges: []pipeline.Range{{Window: 1, First: 2, Last: 3}, {Window: -1, First: 8, Last: 9}}}},
		{"hx1 junk m=5 extra=1", pipeline.CommitState{MaxEvent: 5}},
	}
	for _, tc := range tests {
		got := pipeline.DecodeCommitState(tc.in)
		if got.MaxEvent != tc.want.MaxEvent || got.ClosedBefore != tc.want.ClosedBefore || !sameRanges(got.Ranges, tc.want.Ranges) {
			t.Errorf("DecodeCommitState(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}
