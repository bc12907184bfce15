package pipeline

import (
	"sync"
	"time"
)

// Health is the upload side's state as /readyz and the degraded metric see it.
// It is shared by all partition workers (it is touched once per upload
// attempt, not per record).
type Health struct {
	mu        sync.Mutex
	now       func() time.Time
	window    time.Duration
	threshold float64
	firstN    int // attempts in the first retry cycle

	attempts  []attempt      // within window, oldest first
	failing   map[string]int // upload key -> its failed attempts so far (uploads in flight)
	lastErr   string
	lastErrAt time.Time
	joined    bool
}

type attempt struct {
	at time.Time
	ok bool
}

// NewHealth: degraded when at least threshold of the upload attempts within
// window failed (and at least firstN did); not ready while the group is not
// joined or the failures since the last success outnumber the first retry
// cycle. Degraded alone does not make it unready (uploads succeed again);
// /readyz reports it in its body and the degraded metric.
func NewHealth(window time.Duration, threshold float64, firstCycle int, now func() time.Time) *Health {
	if now == nil {
		now = time.Now
	}
	if firstCycle < 1 {
		firstCycle = 1
	}
	return &Health{now: now, window: window, threshold: threshold, firstN: firstCycle}
}

const maxAttempts = 100000

func (h *Health) record(key string, ok bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	h.attempts = append(h.attempts, attempt{at: now, ok: ok})
	h.trim(now)
	if h.failing == nil {
		h.failing = map[string]int{}
	}
	if ok {
		delete(h.failing, key)
	} else {
		h.failing[key]++
		if err != nil {
			h.lastErr = err.Error()
			h.lastErrAt = now
		}
	}
}

func (h *Health) trim(now time.Time) {
	cut := 0
	for cut < len(h.attempts) && (now.Sub(h.attempts[cut].at) > h.window || len(h.attempts)-cut > maxAttempts) {
		cut++
	}
	if cut > 0 {
		h.attempts = append(h.attempts[:0], h.attempts[cut:]...)
	}
}

// SuccessOf and FailureOf record an attempt of the upload of key: readiness
// counts the failed attempts of each upload on its own, so several
// partitions failing at once do not look like a longer outage.
func (h *Health) SuccessOf(key string) { h.record(key, true, nil) }

// FailureOf records a failed attempt of the upload of key.
func (h *Health) FailureOf(key string, err error) { h.record(key, false, err) }

// Abandon forgets the upload of key (its context ended: a rebalance or the
// shutdown deadline), so it no longer counts against readiness.
func (h *Health) Abandon(key string) {
	h.mu.Lock()
	delete(h.failing, key)
	h.mu.Unlock()
}

// worst is the largest number of failed attempts of one upload in flight.
func (h *Health) worst() int {
	n := 0
	for _, c := range h.failing {
		if c > n {
			n = c
		}
	}
	return n
}

// SetJoined records whether the consumer group has been joined.
func (h *Health) SetJoined(j bool) {
	h.mu.Lock()
	h.joined = j
	h.mu.Unlock()
}

// Status is a snapshot for /readyz.
type Status struct {
	Ready               bool    `json:"ready"`
	Joined              bool    `json:"group_joined"`
	Degraded            bool    `json:"degraded"`
	ConsecutiveFailures int     `json:"consecutive_upload_failures"` // of the longest-failing upload in flight
	FailureRatio        float64 `json:"failure_ratio"`
	Attempts            int     `json:"attempts_in_window"`
	LastError           string  `json:"last_error,omitempty"`
	LastErrorAt         string  `json:"last_error_at,omitempty"`
	Reason              string  `json:"reason,omitempty"`
}

// Status computes the current state.
func (h *Health) Status() Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	h.trim(now)
	failed := 0
	for _, a := range h.attempts {
		if !a.ok {
			failed++
		}
	}
	worst := h.worst()
	s := Status{Joined: h.joined, ConsecutiveFailures: worst, Attempts: len(h.attempts), LastError: h.lastErr}
	if !h.lastErrAt.IsZero() {
		s.LastErrorAt = h.lastErrAt.UTC().Format(time.RFC3339)
	}
	if len(h.attempts) > 0 {
		s.FailureRatio = float64(failed) / float64(len(h.attempts))
	}
	s.Degraded = failed >= h.firstN && s.FailureRatio >= h.threshold
	switch {
	case !h.joined:
		s.Reason = "consumer group not joined"
	case worst > h.firstN:
		s.Reason = "uploads failing past the first retry cycle"
	default:
		s.Ready = true
		if s.Degraded {
			s.Reason = "degraded: upload failure ratio above threshold within the failure window"
		}
	}
	return s
}
