package pipeline

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Range is the span of Kafka offsets [First, Last] whose records of one
// window (or of the rejected stream) went into one uploaded object. All
// records of that window with offsets in the span are in the object.
type Range struct {
	Window int64 // window start, Unix ms; RejectedWindow for rejected records
	First  int64
	Last   int64
}

// RejectedWindow is the Range.Window of rejected objects.
const RejectedWindow int64 = -1

// Offsets is one partition's offset bookkeeping: which offsets are held by
// objects not yet uploaded, which uploaded objects lie past the commit point
// (so a re-read can skip their records), and the offset to commit.
//
// The commit point is the lowest first offset of any object not yet uploaded,
// or the next offset to read when none is open. Records at or after it are
// read again by the next owner after a crash or rebalance; Covered tells it
// which of them are already in the bucket.
type Offsets struct {
	next     int64
	open     map[int64]int // first offset -> number of open objects starting there
	uploaded []Range       // uploaded objects whose Last >= the last commit point
}

// NewOffsets starts the bookkeeping at the offset the partition is read from,
// with the uploaded ranges restored from the last commit.
func NewOffsets(start int64, restored []Range) *Offsets {
	o := &Offsets{next: start, open: map[int64]int{}}
	o.uploaded = append(o.uploaded, restored...)
	return o
}

// Read notes that the record at offset was consumed.
func (o *Offsets) Read(offset int64) {
	if offset+1 > o.next {
		o.next = offset + 1
	}
}

// Next is the next offset to read.
func (o *Offsets) Next() int64 { return o.next }

// Open notes a new object whose first record is at first.
func (o *Offsets) Open(first int64) { o.open[first]++ }

// Discard forgets an open object without uploading it (it will be re-read).
func (o *Offsets) Discard(first int64) { o.release(first) }

// Uploaded notes that the object spanning r is in the bucket.
func (o *Offsets) Uploaded(r Range) {
	o.release(r.First)
	o.uploaded = append(o.uploaded, r)
}

// Known adds a span found in the bucket (written by an earlier owner) so its
// records are skipped if they are read again.
func (o *Offsets) Known(r Range) { o.uploaded = append(o.uploaded, r) }

func (o *Offsets) release(first int64) {
	if n := o.open[first]; n > 1 {
		o.open[first] = n - 1
	} else {
		delete(o.open, first)
	}
}

// Committable is the offset that may be committed now.
func (o *Offsets) Committable() int64 {
	c := o.next
	for first := range o.open {
		if first < c {
			c = first
		}
	}
	return c
}

// Covered reports whether the record at offset of window is already in an
// uploaded object.
func (o *Offsets) Covered(window, offset int64) bool {
	for _, r := range o.uploaded {
		if r.Window == window && r.First <= offset && offset <= r.Last {
			return true
		}
	}
	return false
}

// Prune drops uploaded spans that end before the commit point c: their
// records are never read again.
func (o *Offsets) Prune(c int64) {
	kept := o.uploaded[:0]
	for _, r := range o.uploaded {
		if r.Last >= c {
			kept = append(kept, r)
		}
	}
	o.uploaded = kept
}

// CommitState is what is stored with a committed offset (as the Kafka commit
// metadata) so that the next owner of the partition resumes exactly: the
// event-time progress and the uploaded spans past the commit point.
type CommitState struct {
	MaxEvent     int64
	ClosedBefore int64
	Ranges       []Range
}

// maxMetadata stays under Kafka's default offset.metadata.max.bytes (4096).
const maxMetadata = 4000

// Encode renders the state as
// "hx1 m=<maxEvent> c=<closedBefore> r=<window>:<first>:<last>,…".
// When the spans do not fit, the oldest are left out: their records, if read
// again, would be written again (a duplicate, never a loss).
func (s CommitState) Encode() string {
	rs := append([]Range(nil), s.Ranges...)
	sort.Slice(rs, func(i, j int) bool { return rs[i].First > rs[j].First }) // newest first
	var b strings.Builder
	b.WriteString(commitStateTag + "m=")
	b.WriteString(strconv.FormatInt(s.MaxEvent, 10))
	b.WriteString(" c=")
	b.WriteString(strconv.FormatInt(s.ClosedBefore, 10))
	b.WriteString(" r=")
	for i, r := range rs {
		item := fmt.Sprintf("%d:%d:%d", r.Window, r.First, r.Last)
		if b.Len()+len(item)+1 > maxMetadata {
			break
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(item)
	}
	return b.String()
}

// commitStateTag starts every commit metadata the exporter writes.
const commitStateTag = "hx1 "

// DecodeCommitState parses Encode's output; anything else (an empty string, a
// commit by another tool) yields the zero state.
func DecodeCommitState(s string) CommitState {
	st, _ := ParseCommitState(s)
	return st
}

// ParseCommitState is DecodeCommitState that also says whether s is the
// exporter's commit metadata at all.
func ParseCommitState(s string) (CommitState, bool) {
	var st CommitState
	if !strings.HasPrefix(s, commitStateTag) {
		return st, false
	}
	for _, field := range strings.Fields(s[len(commitStateTag):]) {
		switch {
		case strings.HasPrefix(field, "m="):
			if v, err := strconv.ParseInt(field[2:], 10, 64); err == nil {
				st.MaxEvent = v
			}
		case strings.HasPrefix(field, "c="):
			if v, err := strconv.ParseInt(field[2:], 10, 64); err == nil {
				st.ClosedBefore = v
			}
		case strings.HasPrefix(field, "r="):
			for _, item := range strings.Split(field[2:], ",") {
				p := strings.Split(item, ":")
				if len(p) != 3 {
					continue
				}
				w, e1 := strconv.ParseInt(p[0], 10, 64)
				f, e2 := strconv.ParseInt(p[1], 10, 64)
				l, e3 := strconv.ParseInt(p[2], 10, 64)
				if e1 == nil && e2 == nil && e3 == nil {
					st.Ranges = append(st.Ranges, Range{Window: w, First: f, Last: l})
				}
			}
		}
	}
	return st, true
}
