package pipeline

import "time"

// WindowStart returns the start, in Unix milliseconds, of the tumbling window
// of the given size that contains ms. Windows are [start, start+size), with
// start a multiple of size since the Unix epoch (UTC-aligned).
func WindowStart(ms int64, size time.Duration) int64 {
	sz := size.Milliseconds()
	r := ms % sz
	if r < 0 {
		r += sz
	}
	return ms - r
}

// Watermark tracks the event-time progress of one partition: the highest
// event time seen minus the allowed lateness. Every window whose end is at or
// before ClosedBefore is closed.
type Watermark struct {
	size     time.Duration
	lateness time.Duration
	// MaxEvent is the highest event time seen (Unix ms); 0 when none.
	MaxEvent int64
	// ClosedBefore: windows ending at or before it are closed (Unix ms).
	ClosedBefore int64
}

// NewWatermark starts a watermark for windows of size with the allowed
// lateness.
func NewWatermark(size, lateness time.Duration) *Watermark {
	return &Watermark{size: size, lateness: lateness}
}

// Observe records an event time and reports whether ClosedBefore advanced.
func (w *Watermark) Observe(ms int64) bool {
	if ms <= w.MaxEvent {
		return false
	}
	w.MaxEvent = ms
	return w.advance(ms - w.lateness.Milliseconds())
}

// Idle advances the watermark by the wall clock when the partition has been
// idle: the producer has nothing newer, so windows that ended before
// now − lateness will get no more on-time records. It reports whether
// ClosedBefore advanced.
func (w *Watermark) Idle(now time.Time) bool {
	return w.advance(now.UnixMilli() - w.lateness.Milliseconds())
}

func (w *Watermark) advance(mark int64) bool {
	cb := WindowStart(mark, w.size)
	if cb > w.ClosedBefore {
		w.ClosedBefore = cb
		return true
	}
	return false
}

// IsClosed reports whether the window starting at start is closed.
func (w *Watermark) IsClosed(start int64) bool {
	return start+w.size.Milliseconds() <= w.ClosedBefore
}
