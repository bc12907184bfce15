package pipeline_test

import (
	"testing"
	"time"

	"github.com/hitexport/hitexport/pipeline"
)

const (
	// t0 is 2023-06-20T06:10:00Z, a 10-minute boundary (the seed's window).
	t0 int64 = 1687241400000
)

func TestWindowStart(t *testing.T) {
	tests := []struct {
		name string
		ms   int64
		size time.Duration
		want int64
	}{
		{"on a 10m boundary", t0, 10 * time.Minute, t0},
		{"1 ms before a 10m boundary", t0 - 1, 10 * time.Minute, t0 - 600000},
		{"1 s before a 10m boundary", t0 - 1000, 10 * time.Minute, t0 - 600000},
		{"1 ms after a 10m boundary", t0 + 1, 10 * time.Minute, t0},
		{"last ms of a 10m window", t0 + 599999, 10 * time.Minute, t0},
		{"next 10m window", t0 + 600000, 10 * time.Minute, t0 + 600000},
		{"seed hit", 1687241470000, 10 * time.Minute, t0},
		{"1h boundary", 1687240800000, time.Hour, 1687240800000},
		{"1h: seed hit", 1687241470000, time.Hour, 1687240800000},
		{"1h: 1 ms before", 1687240800000 - 1, time.Hour, 1687237200000},
		{"1m: on boundary", 1687241460000, time.Minute, 1687241460000},
		{"1m: seed hit", 1687241470000, time.Minute, 1687241460000},
		{"1m: 1 ms before", 1687241460000 - 1, time.Minute, 1687241400000},
		{"24h: UTC midnight", 1687241470000, 24 * time.Hour, 1687219200000},
		{"epoch", 0, 10 * time.Minute, 0},
		{"1 ms after epoch", 1, 10 * time.Minute, 0},
		{"1 ms before epoch", -1, 10 * time.Minute, -600000},
		{"negative on boundary", -600000, 10 * time.Minute, -600000},
		{"negative inside", -600001, 10 * time.Minute, -1200000},
		{"negative 1m", -59999, time.Minute, -60000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := pipeline.WindowStart(tc.ms, tc.size)
			if got != tc.want {
				t.Fatalf("WindowStart(%d, %v) = %d, want %d", tc.ms, tc.size, got, tc.want)
			}
			// Invariants: start <= ms < start+size, start a multiple of size.
			sz := tc.size.Milliseconds()
			if got > tc.ms || tc.ms >= got+sz || got%sz != 0 {
				t.Fatalf("window [%d, %d) does not contain %d or is unaligned", got, got+sz, tc.ms)
			}
		})
	}
}

func TestWindowStartUTCAligned(t *testing.T) {
	// 10-minute windows start at :00, :10, ... of UTC whatever the local zone.
	for ms := int64(1687241470000); ms < 1687241470000+3*3600*1000; ms += 137777 {
		s := time.UnixMilli(pipeline.WindowStart(ms, 10*time.Minute)).UTC()
		if s.Minute()%10 != 0 || s.Second() != 0 || s.Nanosecond() != 0 {
			t.Fatalf("window start %v not aligned", s)
		}
	}
}

func TestWatermarkObserve(t *testing.T) {
	const W = 10 * time.Minute
	const L = time.Minute
	end := t0 + W.Milliseconds() // end of the window [t0, end)
	w := pipeline.NewWatermark(W, L)
	if w.IsClosed(t0) {
		t.Fatal("closed before anything was seen")
	}
	steps := []struct {
		ms       int64
		advanced bool
		closed   bool // window t0 closed after the step
	}{
		{t0 + 1000, true, false},                   // first record: ClosedBefore moves from 0
		{t0 + 500, false, false},                   // older: no change
		{end, true, false},                         // window end reached (previous windows close), lateness not yet
		{end + L.Milliseconds() - 1, false, false}, // 1 ms short of end+lateness
		{end + L.Milliseconds(), true, true},       // end+lateness: closed
		{end + L.Milliseconds() + 5, false, true},  // same window of marks
		{t0, false, true},                          // old record does not reopen
	}
	for i, s := range steps {
		adv := w.Observe(s.ms)
		if adv != s.advanced {
			t.Errorf("step %d (%d): advanced = %v, want %v", i, s.ms, adv, s.advanced)
		}
		if c := w.IsClosed(t0); c != s.closed {
			t.Errorf("step %d (%d): IsClosed = %v, want %v (ClosedBefore %d)", i, s.ms, c, s.closed, w.ClosedBefore)
		}
	}
	if w.MaxEvent != end+L.Milliseconds()+5 {
		t.Errorf("MaxEvent = %d", w.MaxEvent)
	}
	if w.IsClosed(end) {
		t.Error("the next window is closed too early")
	}
	// Jumping far ahead closes every window before the mark's window.
	w.Observe(end + 5*W.Milliseconds() + L.Milliseconds())
	if !w.IsClosed(end+3*W.Milliseconds()) || w.IsClosed(end+5*W.Milliseconds()) {
		t.Errorf("ClosedBefore %d after a jump", w.ClosedBefore)
	}
}

func TestWatermarkZeroLateness(t *testing.T) {
	w := pipeline.NewWatermark(time.Minute, 0)
	w.Observe(t0 + 59999)
	if w.IsClosed(t0) {
		t.Fatal("closed by a record of the window itself")
	}
	w.Observe(t0 + 60000)
	if !w.IsClosed(t0) {
		t.Fatal("not closed by the first record of the next window")
	}
}

func TestWatermarkIdle(t *testing.T) {
	const W = 10 * time.Minute
	const L = 2 * time.Minute
	w := pipeline.NewWatermark(W, L)
	w.Observe(t0 + 1000)
	end := t0 + W.Milliseconds()
	// Wall clock inside the window's lateness: stays open.
	if w.Idle(time.UnixMilli(end+L.Milliseconds()-1)) && w.IsClosed(t0) {
		t.Fatal("closed before end+lateness")
	}
	if w.IsClosed(t0) {
		t.Fatal("closed before end+lateness")
	}
	if !w.Idle(time.UnixMilli(end + L.Milliseconds())) {
		t.Fatal("Idle at end+lateness did not advance")
	}
	if !w.IsClosed(t0) {
		t.Fatal("not closed at end+lateness")
	}
	// The current wall-clock window stays open.
	now := time.UnixMilli(end + L.Milliseconds())
	if w.IsClosed(pipeline.WindowStart(now.UnixMilli(), W)) {
		t.Fatal("current wall-clock window closed")
	}
	// Idle never moves the watermark back, nor MaxEvent.
	if w.Idle(time.UnixMilli(t0)) {
		t.Fatal("Idle moved backwards")
	}
	if w.MaxEvent != t0+1000 {
		t.Fatalf("Idle changed MaxEvent: %d", w.MaxEvent)
	}
	// A later Observe below the idle mark does not move ClosedBefore back.
	cb := w.ClosedBefore
	w.Observe(t0 + 2000)
	if w.ClosedBefore != cb {
		t.Fatalf("ClosedBefore moved from %d to %d", cb, w.ClosedBefore)
	}
}
