package pipeline

import (
	"sort"
	"strconv"
	"sync"
	"time"
)

// Target is one destination as the data plane sees it: the integrator builds
// it from an integration (env mode: the single target "default").
type Target struct {
	ID       string    // integration id; metric label `integration`
	Topic    string    // the topic it reads (empty: Group.Kafka.Topic)
	Settings *Settings // layout (encoder, compression, window, prefix), limits, spool
	Uploader *Uploader // its own bucket, retry schedule and Health
	Rejected bool      // receives the rejected (malformed) records of its topic
	// Group is the consumer group holding its committed offsets and resume
	// metadata (empty: the membership group).
	Group string
	// Fenced: commit with the membership generation and member id (Group must
	// be the membership group: env mode). Otherwise a "simple" commit
	// (generation -1, no member id) to Group.
	Fenced bool
	// Start is where a partition with no committed offset for Group begins.
	Start StartPolicy
	// Version changes when the settings change: its workers restart.
	Version string
}

// StartMode says where a target without a committed offset begins.
type StartMode int

// The start modes. The zero value, StartEarliest, is today's env-mode
// behaviour (a new group reads the topic from its first offset).
const (
	StartEarliest StartMode = iota
	StartLatest
	StartAtTime
)

// StartPolicy is a StartMode with its time (StartAtTime).
type StartPolicy struct {
	Mode StartMode
	Time time.Time
}

// Selector fills dst[i] = does target i (in the order given to SetTargets)
// want this valid hit. A nil Selector: every target wants every hit. It is
// called from several goroutines at once (one per partition) and must not
// keep raw.
type Selector func(raw []byte, dst []bool)

// targetSet is one SetTargets call.
type targetSet struct {
	targets []Target
	sel     Selector
	index   map[string]int // target id -> index in targets (and in the selector's dst)
}

func newTargetSet(ts []Target, sel Selector, defTopic string) *targetSet {
	s := &targetSet{targets: make([]Target, len(ts)), sel: sel, index: map[string]int{}}
	copy(s.targets, ts)
	for i := range s.targets {
		if s.targets[i].Topic == "" {
			s.targets[i].Topic = defTopic
		}
		s.index[s.targets[i].ID] = i
	}
	return s
}

// topics is the sorted set of topics of the targets.
func (s *targetSet) topics() []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range s.targets {
		if !seen[t.Topic] {
			seen[t.Topic] = true
			out = append(out, t.Topic)
		}
	}
	sort.Strings(out)
	return out
}

// SetTargets replaces the group's targets (safe from any goroutine, before
// or during Run). A change of the set of topics restarts the consumer group
// (a rebalance); any other change is applied live per partition: added
// targets start at their own position, removed ones stop (their open
// objects are discarded, their records stay uncommitted in their group), a
// changed Version restarts the target's workers. Statistics and metric
// series of removed targets are deleted.
func (g *Group) SetTargets(ts []Target, sel Selector) {
	g.tmu.Lock()
	old := g.tset
	s := newTargetSet(ts, sel, g.Kafka.Topic)
	g.tset = s
	if g.tstats == nil {
		g.tstats = map[string]*targetStats{}
	}
	for id := range g.tstats {
		if _, ok := s.index[id]; !ok {
			delete(g.tstats, id)
			g.Metrics.deleteTarget(id)
		}
	}
	for _, t := range s.targets {
		if g.tstats[t.ID] == nil {
			g.tstats[t.ID] = newTargetStats()
		}
	}
	restart := old != nil && !equalStrings(old.topics(), s.topics())
	fans := make([]*fanout, 0, len(g.fanouts))
	for _, f := range g.fanouts {
		fans = append(fans, f)
	}
	ch := g.restart
	g.tmu.Unlock()
	if restart && ch != nil {
		select {
		case ch <- struct{}{}:
		default:
		}
		return
	}
	for _, f := range fans {
		f.reconfigure()
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// targets returns the current set; without SetTargets, the single target
// built from the Group's own fields (Settings, Uploader, Kafka.Group).
func (g *Group) targets() *targetSet {
	g.tmu.Lock()
	defer g.tmu.Unlock()
	if g.tset == nil {
		g.tset = newTargetSet([]Target{g.DefaultTarget()}, nil, g.Kafka.Topic)
		if g.tstats == nil {
			g.tstats = map[string]*targetStats{}
		}
		g.tstats["default"] = newTargetStats()
	}
	return g.tset
}

// DefaultTarget is the env-mode target: today's single destination, from the
// Group's Settings, Uploader and membership group.
func (g *Group) DefaultTarget() Target {
	return Target{ID: "default", Topic: g.Kafka.Topic, Settings: g.Settings, Uploader: g.Uploader, Rejected: true,
		Group: g.Kafka.Group, Fenced: true, Start: StartPolicy{Mode: StartEarliest}}
}

// Delivery is the last object a target delivered.
type Delivery struct {
	Time time.Time
	Key  string
}

// TargetError is the last failed upload attempt of a target.
type TargetError struct {
	Time    time.Time
	Class   string
	Message string
}

// TargetStatus is a target's runtime state on this replica, aggregated over
// its partitions here.
type TargetStatus struct {
	Failing      bool // the last upload attempt failed, or it is parked and its last attempt failed
	Parked       bool // detached from the shared read on at least one partition
	LastDelivery *Delivery
	LastError    *TargetError
	FailureRatio float64 // failed / attempts within its Health's window
	Attempts     int
	LagRecords   int64 // high watermark − its committed offset, summed over partitions
	// OldestUndelivered: event time of the oldest hit held in its open
	// objects or waiting to be read while parked (zero: none known).
	OldestUndelivered time.Time
	// LostRecords: records expired by retention before it delivered them.
	LostRecords int64
	Partitions  int // partitions of its topic assigned to this replica
}

// partStat is one target's state on one partition (written by its worker).
type partStat struct {
	parked    bool
	lag       int64
	oldest    int64 // event time ms, -1 none
	lost      int64
	committed int64
}

type targetStats struct {
	mu           sync.Mutex
	failing      bool
	failingSince time.Time // first failed attempt since the last success
	lastDelivery *Delivery
	lastError    *TargetError
	autoDisabled bool
	parts        map[int]*partStat // by topic partition
}

func newTargetStats() *targetStats { return &targetStats{parts: map[int]*partStat{}} }

// stats is target id's statistics, nil when id is not a current target (a
// removed target's last worker must not bring them back).
func (g *Group) stats(id string) *targetStats {
	g.tmu.Lock()
	defer g.tmu.Unlock()
	if g.tstats == nil {
		g.tstats = map[string]*targetStats{}
	}
	s := g.tstats[id]
	if s == nil {
		if g.tset != nil {
			if _, ok := g.tset.index[id]; !ok {
				return nil
			}
		}
		s = newTargetStats()
		g.tstats[id] = s
	}
	return s
}

// TargetStatus returns the runtime state of target id on this replica (false:
// no such target).
func (g *Group) TargetStatus(id string) (TargetStatus, bool) {
	g.targets()
	g.tmu.Lock()
	s, ok := g.tstats[id]
	var t Target
	if ok && g.tset != nil {
		if i, found := g.tset.index[id]; found {
			t = g.tset.targets[i]
		}
	}
	g.tmu.Unlock()
	if !ok {
		return TargetStatus{}, false
	}
	var out TargetStatus
	s.mu.Lock()
	out.Failing = s.failing
	if s.lastDelivery != nil {
		d := *s.lastDelivery
		out.LastDelivery = &d
	}
	if s.lastError != nil {
		e := *s.lastError
		out.LastError = &e
	}
	oldest := int64(-1)
	for _, p := range s.parts {
		out.Partitions++
		out.Parked = out.Parked || p.parked
		out.LagRecords += p.lag
		out.LostRecords += p.lost
		if p.oldest >= 0 && (oldest < 0 || p.oldest < oldest) {
			oldest = p.oldest
		}
	}
	s.mu.Unlock()
	if oldest >= 0 {
		out.OldestUndelivered = time.UnixMilli(oldest).UTC()
	}
	if t.Uploader != nil && t.Uploader.Health != nil {
		out.FailureRatio, out.Attempts, _ = t.Uploader.Health.Ratio()
	}
	return out, true
}

// Ratio is the failure ratio within the window, the number of attempts and
// of failed attempts in it.
func (h *Health) Ratio() (ratio float64, attempts, failed int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.trim(h.now())
	for _, a := range h.attempts {
		if !a.ok {
			failed++
		}
	}
	attempts = len(h.attempts)
	if attempts > 0 {
		ratio = float64(failed) / float64(attempts)
	}
	return ratio, attempts, failed
}

// Threshold is the failure ratio at which the Health says degraded.
func (h *Health) Threshold() float64 { return h.threshold }

// onUpload records one upload attempt of target t (any partition).
func (g *Group) onUpload(t Target, key string, records int, err error) {
	s := g.stats(t.ID)
	if s == nil {
		return
	}
	now := time.Now().UTC()
	s.mu.Lock()
	if err == nil {
		s.failing = false
		s.failingSince = time.Time{}
		s.lastDelivery = &Delivery{Time: now, Key: key}
	} else {
		if !s.failing || s.failingSince.IsZero() {
			s.failingSince = now
		}
		s.failing = true
		class := "other"
		if g.Classify != nil {
			class = g.Classify(err)
		}
		s.lastError = &TargetError{Time: now, Class: class, Message: err.Error()}
		g.Metrics.targetFailure(t.ID, class)
	}
	s.mu.Unlock()
	if err == nil {
		g.Metrics.targetDelivered(t.ID, records)
	}
	g.Metrics.targetFailing(t.ID, err != nil)
	h := t.Uploader.Health
	if h == nil {
		return
	}
	ratio, attempts, _ := h.Ratio()
	g.Metrics.targetRatio(t.ID, ratio)
	if err == nil || g.OnAutoDisable == nil {
		return
	}
	minN := g.AutoDisableMinAttempts
	if minN <= 0 {
		minN = 5
	}
	threshold := h.Threshold()
	if attempts < minN || ratio < threshold || threshold <= 0 {
		return
	}
	s.mu.Lock()
	// A short outage (or a restart during one) must not disable anyone:
	// the destination must also have failed without a success for
	// AutoDisableAfter.
	failingFor := now.Sub(s.failingSince)
	fire := !s.autoDisabled && failingFor >= g.AutoDisableAfter
	if fire {
		s.autoDisabled = true
	}
	last := s.lastError
	s.mu.Unlock()
	if fire {
		reason := autoDisableReason(ratio, attempts, h.window, failingFor, last)
		g.Metrics.targetAutoDisabled(t.ID)
		g.logger().Warn("integration auto-disabled: upload failure ratio reached the threshold", "integration", t.ID,
			"failure_ratio", ratio, "attempts", attempts, "window", h.window.String())
		go g.OnAutoDisable(t.ID, reason)
	}
}

func autoDisableReason(ratio float64, attempts int, window, failingFor time.Duration, last *TargetError) string {
	r := "auto-disabled: " + formatPct(ratio) + " of " + strconv.Itoa(attempts) + " upload attempts failed within " + window.String() +
		", none succeeded for " + failingFor.Round(time.Second).String()
	if last != nil {
		r += "; last error (" + last.Class + "): " + last.Message
	}
	return r
}

func formatPct(r float64) string { return strconv.Itoa(int(r*100+0.5)) + "%" }

// failing reports whether target id's last upload attempt failed.
func (g *Group) failing(id string) bool {
	s := g.stats(id)
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failing
}

// setPart updates target id's state on partition part.
func (g *Group) setPart(id string, part int, fn func(*partStat)) {
	s := g.stats(id)
	if s == nil {
		return
	}
	s.mu.Lock()
	ps := s.parts[part]
	if ps == nil {
		ps = &partStat{oldest: -1, committed: -1}
		s.parts[part] = ps
	}
	fn(ps)
	parked := false
	var lag int64
	for _, p := range s.parts {
		parked = parked || p.parked
		lag += p.lag
	}
	s.mu.Unlock()
	g.Metrics.targetGauges(id, parked, lag)
}

func (g *Group) dropPart(id string, part int) {
	s := g.stats(id)
	if s == nil {
		return
	}
	s.mu.Lock()
	delete(s.parts, part)
	s.mu.Unlock()
}
