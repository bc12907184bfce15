package pipeline

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/hits"
	"github.com/hitexport/hitexport/store"
)

// memLog is one in-memory partition with per-group commits: the fanout's
// Kafka side in unit tests.
type memLog struct {
	mu      sync.Mutex
	wake    chan struct{}
	recs    []Message
	commits map[string]int64
	states  map[string]CommitState
	member  []int64
	opens   []int64 // from of every Open, in order
}

func newMemLog() *memLog {
	return &memLog{wake: make(chan struct{}), commits: map[string]int64{}, states: map[string]CommitState{}}
}

// add appends hits (JSON values) with Kafka time kt.
func (l *memLog) add(kt time.Time, values ...string) {
	l.mu.Lock()
	for _, v := range values {
		l.recs = append(l.recs, Message{Offset: int64(len(l.recs)), Time: kt, Value: []byte(v)})
	}
	close(l.wake)
	l.wake = make(chan struct{})
	l.mu.Unlock()
}

func (l *memLog) end() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.recs))
}

func (l *memLog) committed(group string) (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.commits[group]
	return c, ok
}

func (l *memLog) Open(_ context.Context, from int64) (recordReader, error) {
	l.mu.Lock()
	l.opens = append(l.opens, from)
	l.mu.Unlock()
	return &memReader{l: l, pos: max(from, 0)}, nil
}

func (l *memLog) Resume(_ context.Context, t Target) (TargetResume, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.commits[t.Group]; ok {
		return TargetResume{Offset: c, State: l.states[t.Group]}, nil
	}
	var off int64
	switch t.Start.Mode {
	case StartLatest:
		off = int64(len(l.recs))
	case StartAtTime:
		off = int64(len(l.recs))
		for i, r := range l.recs {
			if !r.Time.Before(t.Start.Time) {
				off = int64(i)
				break
			}
		}
	}
	l.commits[t.Group] = off
	return TargetResume{Offset: off}, nil
}

func (l *memLog) Commit(_ context.Context, t Target, offset int64, st CommitState) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.commits[t.Group] = offset
	l.states[t.Group] = st
	return nil
}

func (l *memLog) CommitMembership(_ context.Context, offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.member = append(l.member, offset)
	return nil
}

type memReader struct {
	l   *memLog
	pos int64
}

// Read hands out what the log holds past pos (up to len(buf) records),
// waiting for at least one.
func (r *memReader) Read(ctx context.Context, buf []Message) (int, error) {
	for {
		r.l.mu.Lock()
		if r.pos < int64(len(r.l.recs)) {
			n := copy(buf, r.l.recs[r.pos:])
			r.pos += int64(n)
			r.l.mu.Unlock()
			return n, nil
		}
		wake := r.l.wake
		r.l.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

func (r *memReader) HighWatermark() int64 { return r.l.end() }
func (r *memReader) Close() error         { return nil }

// flakyBucket fails every Put and Stat while down.
type flakyBucket struct {
	*store.Memory
	down  atomic.Bool
	fails atomic.Int64
}

var errDown = errors.New("connection refused (test: bucket down)")

func (b *flakyBucket) Put(ctx context.Context, key string, r io.Reader, size int64, o store.PutOptions) error {
	if b.down.Load() {
		b.fails.Add(1)
		return errDown
	}
	return b.Memory.Put(ctx, key, r, size, o)
}

func (b *flakyBucket) Stat(ctx context.Context, key string) (store.ObjectInfo, error) {
	if b.down.Load() {
		b.fails.Add(1)
		return store.ObjectInfo{}, errDown
	}
	return b.Memory.Stat(ctx, key)
}

// Hits an hour old: their windows close as soon as the partition is idle.
var fanBase = time.Now().Add(-3 * time.Hour).Truncate(time.Hour)

// hit i of application app; event time i seconds after fanBase.
func hitJSON(i, app int) string {
	return fmt.Sprintf(`{"time":"%d","application_id":%d,"seq":%d}`, fanBase.Unix()+int64(i), app, i)
}

func fanSettings(t *testing.T) *Settings {
	enc, err := encoders.New("ndjson")
	if err != nil {
		t.Fatal(err)
	}
	return &Settings{
		Layout:          Layout{Encoder: enc, Compression: encoders.None, Window: 10 * time.Minute},
		AllowedLateness: 0,
		IdleTimeout:     150 * time.Millisecond,
		LateMaxAge:      time.Second,
		Limits:          hits.Limits{MaxBytes: 1 << 20, MaxFuture: time.Hour},
		MaxObjectBytes:  1 << 30,
		MaxOpenObjects:  4,
		SpoolMemory:     1 << 20,
		SpoolDir:        t.TempDir(),
		Tick:            20 * time.Millisecond,
	}
}

type tgt struct {
	T      Target
	Bucket *flakyBucket
	Health *Health
}

func newTgt(t *testing.T, id string, m *Metrics) *tgt {
	b := &flakyBucket{Memory: store.NewMemory(id)}
	h := NewHealth(time.Minute, 0.6, 1, nil)
	up := &Uploader{Bucket: b, Schedule: [][]time.Duration{{5 * time.Millisecond, 10 * time.Millisecond}}, Metrics: m, Health: h, Isolated: true}
	return &tgt{T: Target{ID: id, Topic: "hits", Settings: fanSettings(t), Uploader: up, Group: "itg-" + id, Start: StartPolicy{Mode: StartEarliest}, Version: "1"},
		Bucket: b, Health: h}
}

// appSelector: target i wants the hits whose application_id is in apps[i]
// (nil: every hit).
func appSelector(apps [][]int) Selector {
	return func(raw []byte, dst []bool) {
		var h struct {
			App int `json:"application_id"`
		}
		_ = json.Unmarshal(raw, &h)
		for i, as := range apps {
			if i >= len(dst) {
				return
			}
			if as == nil {
				dst[i] = true
				continue
			}
			for _, a := range as {
				if a == h.App {
					dst[i] = true
				}
			}
		}
	}
}

func newTestGroup(queue int) *Group {
	m := NewMetrics(nil, nil)
	return &Group{Kafka: KafkaOptions{Topic: "hits", Group: "members", Buffer: 64}, Metrics: m,
		Health: NewHealth(time.Minute, 0.6, 1, nil), TargetQueue: queue, ShutdownTimeout: 5 * time.Second}
}

// startFan runs the fanout of partition 0 with every target's position read
// from the log; the returned function stops it softly and waits.
func startFan(t *testing.T, g *Group, l *memLog) func() {
	t.Helper()
	initial := map[string]TargetResume{}
	for _, tg := range g.targets().forTopic("hits") {
		r, err := l.Resume(context.Background(), tg)
		if err != nil {
			t.Fatal(err)
		}
		initial[tg.ID] = r
	}
	stop := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.runFanout(ctx, stop, l, "hits", 0, initial)
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				// Where it waits, for whoever reads the failure.
				var dump strings.Builder
				_ = pprof.Lookup("goroutine").WriteTo(&dump, 1)
				cancel()
				<-done
				t.Errorf("fanout did not stop softly within 10s; goroutines then:\n%s", dump.String())
			}
			cancel()
		})
	}
}

// seqs reads every hit object of b and returns seq -> times seen.
func seqs(t *testing.T, b *store.Memory) map[int]int {
	t.Helper()
	out := map[int]int{}
	for _, k := range b.Keys() {
		if strings.Contains(k, "rejected/") {
			continue
		}
		rc, err := b.Get(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(rc)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var h struct {
				Seq int `json:"seq"`
			}
			if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			out[h.Seq]++
		}
		rc.Close()
	}
	return out
}

// exact reports whether got holds every seq of want exactly once and nothing else.
func exact(got map[int]int, want map[int]bool) error {
	for s := range want {
		if got[s] != 1 {
			return fmt.Errorf("seq %d seen %d times", s, got[s])
		}
	}
	for s, n := range got {
		if !want[s] {
			return fmt.Errorf("seq %d not selected but seen %d times", s, n)
		}
	}
	return nil
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %v", what, d, err)
}

// produce adds n hits starting at seq from, application seq%apps.
func produce(l *memLog, from, n, apps int) {
	vs := make([]string, n)
	for i := range vs {
		vs[i] = hitJSON(from+i, (from+i)%apps)
	}
	l.add(fanBase.Add(time.Duration(from+n)*time.Second), vs...)
}

func wantSeqs(from, to, apps int, sel []int) map[int]bool {
	w := map[int]bool{}
	for i := from; i < to; i++ {
		if sel == nil {
			w[i] = true
			continue
		}
		for _, a := range sel {
			if i%apps == a {
				w[i] = true
			}
		}
	}
	return w
}

func TestFanoutSelectorsEachBucketExact(t *testing.T) {
	g := newTestGroup(0)
	a, b, c, d := newTgt(t, "a", g.Metrics), newTgt(t, "b", g.Metrics), newTgt(t, "c", g.Metrics), newTgt(t, "d", g.Metrics)
	apps := [][]int{{1}, {0, 2}, nil, {99}}
	g.SetTargets([]Target{a.T, b.T, c.T, d.T}, appSelector(apps))
	l := newMemLog()
	produce(l, 0, 1500, 3) // 25 min of event time: 3 windows
	l.add(fanBase, `not json`)
	stop := startFan(t, g, l)
	defer stop()
	end := int(l.end()) - 1
	for i, tg := range []*tgt{a, b, c} {
		want := wantSeqs(0, 1500, 3, apps[i])
		waitFor(t, 10*time.Second, tg.T.ID+" bucket exact", func() error { return exact(seqs(t, tg.Bucket.Memory), want) })
	}
	// Every target's commit reaches the end, the one selecting nothing too.
	for _, tg := range []*tgt{a, b, c, d} {
		waitFor(t, 5*time.Second, tg.T.ID+" committed to the end", func() error {
			if c, _ := l.committed(tg.T.Group); c != int64(end+1) {
				return fmt.Errorf("committed %d", c)
			}
			return nil
		})
	}
	if n := len(d.Bucket.Keys()); n != 0 {
		t.Fatalf("target selecting nothing has %d objects", n)
	}
	// The shared read opened once; no target was parked.
	l.mu.Lock()
	opens := len(l.opens)
	l.mu.Unlock()
	if opens != 1 {
		t.Fatalf("partition opened %d times, want once", opens)
	}
	// Rejected records go only to targets with Rejected (none here).
	for _, tg := range []*tgt{a, b, c, d} {
		for _, k := range tg.Bucket.Keys() {
			if strings.Contains(k, "rejected/") {
				t.Fatalf("%s got a rejected object %s", tg.T.ID, k)
			}
		}
	}
	// The status follows the commit (the worker publishes it after
	// applying an upload and on its tick): lag 0 soon after.
	waitFor(t, 5*time.Second, "status of a", func() error {
		st, ok := g.TargetStatus("a")
		if !ok || st.LastDelivery == nil || st.Failing || st.Parked || st.LagRecords != 0 || st.Partitions != 1 {
			return fmt.Errorf("%+v ok=%v", st, ok)
		}
		return nil
	})
	if v := testCounter(g.Metrics.Consumed.WithLabelValues("0")); v != float64(end+1) {
		t.Fatalf("records consumed %v, want %d (once each)", v, end+1)
	}
}

func TestFanoutRejectedToRejectedTargetsOnly(t *testing.T) {
	g := newTestGroup(0)
	a, b := newTgt(t, "a", g.Metrics), newTgt(t, "b", g.Metrics)
	a.T.Rejected = true
	g.SetTargets([]Target{a.T, b.T}, nil)
	l := newMemLog()
	produce(l, 0, 10, 3)
	l.add(fanBase, `not json`, `{"no":"time"}`)
	stop := startFan(t, g, l)
	defer stop()
	waitFor(t, 5*time.Second, "rejected object in a", func() error {
		for _, k := range a.Bucket.Keys() {
			if strings.Contains(k, "rejected/") {
				return nil
			}
		}
		return errors.New("none")
	})
	waitFor(t, 5*time.Second, "b committed past the rejected records", func() error {
		if c, _ := l.committed("itg-b"); c != 12 {
			return fmt.Errorf("committed %d", c)
		}
		return nil
	})
	for _, k := range b.Bucket.Keys() {
		if strings.Contains(k, "rejected/") {
			t.Fatalf("b got %s", k)
		}
	}
}

func TestFanoutIsolationDetachCatchUpAttach(t *testing.T) {
	g := newTestGroup(256)
	a, b, c := newTgt(t, "a", g.Metrics), newTgt(t, "b", g.Metrics), newTgt(t, "c", g.Metrics)
	g.SetTargets([]Target{a.T, b.T, c.T}, nil)
	b.Bucket.down.Store(true)
	l := newMemLog()
	stop := startFan(t, g, l)
	defer stop()

	// Live traffic: 20 batches of 100 hits (100 s of event time each: a
	// window closes every 6 batches), while b's bucket is down.
	produced := 0
	for batch := 0; batch < 20; batch++ {
		produce(l, produced, 100, 3)
		produced += 100
		time.Sleep(30 * time.Millisecond)
		for _, id := range []string{"a", "c"} {
			if st, _ := g.TargetStatus(id); st.Parked || st.Failing {
				t.Fatalf("%s parked or failing while only b is down: %+v", id, st)
			}
		}
	}
	// The healthy targets delivered everything while b is down.
	for _, tg := range []*tgt{a, c} {
		want := wantSeqs(0, produced, 3, nil)
		waitFor(t, 10*time.Second, tg.T.ID+" exact while b is down", func() error { return exact(seqs(t, tg.Bucket.Memory), want) })
	}
	st, _ := g.TargetStatus("b")
	if !st.Parked || !st.Failing || st.LastError == nil || st.LastError.Message == "" || st.LagRecords <= 0 {
		t.Fatalf("b while down: %+v", st)
	}
	if len(b.Bucket.Keys()) != 0 {
		t.Fatal("b's bucket got objects while down")
	}
	if sa, _ := g.TargetStatus("a"); sa.Parked || sa.Failing {
		t.Fatalf("a while b is down: %+v", sa)
	}
	// Memory stays bounded: b's queue has its fixed capacity, and parked
	// b holds no more than its open objects (it reads on only as its
	// uploads succeed).
	f := fanFor(g)
	wb := f.workers["b"]
	if cap(wb.ch) != 256 || len(wb.ch) > cap(wb.ch) {
		t.Fatalf("b's queue %d/%d", len(wb.ch), cap(wb.ch))
	}
	if st.LagRecords < int64(produced-700) {
		t.Fatalf("b's lag %d: it cannot have delivered", st.LagRecords)
	}
	// Heal: b catches up and rejoins; every bucket exact.
	b.Bucket.down.Store(false)
	produce(l, produced, 100, 3)
	produced += 100
	want := wantSeqs(0, produced, 3, nil)
	for _, tg := range []*tgt{a, b, c} {
		waitFor(t, 15*time.Second, tg.T.ID+" exact after heal", func() error { return exact(seqs(t, tg.Bucket.Memory), want) })
	}
	waitFor(t, 5*time.Second, "b attached again", func() error {
		if st, _ := g.TargetStatus("b"); st.Parked || st.Failing {
			return fmt.Errorf("%+v", st)
		}
		return nil
	})
	// After rejoining, b is fed by the shared read again: more traffic
	// opens no further reader.
	l.mu.Lock()
	opens := len(l.opens)
	l.mu.Unlock()
	produce(l, produced, 50, 3)
	produced += 50
	want = wantSeqs(0, produced, 3, nil)
	waitFor(t, 10*time.Second, "b exact after rejoin", func() error { return exact(seqs(t, b.Bucket.Memory), want) })
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.opens) != opens {
		t.Fatalf("b opened readers after it rejoined: %v", l.opens)
	}
	if opens != 2 {
		t.Fatalf("opens %v: want the shared read and b's one catch-up", l.opens)
	}
}

func fanFor(g *Group) *fanout {
	g.tmu.Lock()
	defer g.tmu.Unlock()
	return g.fanouts[fanKey{"hits", 0}]
}

func TestFanoutRestartEachFromItsOwnCommit(t *testing.T) {
	g := newTestGroup(0)
	a, b, c := newTgt(t, "a", g.Metrics), newTgt(t, "b", g.Metrics), newTgt(t, "c", g.Metrics)
	g.SetTargets([]Target{a.T, b.T, c.T}, nil)
	l := newMemLog()
	produce(l, 0, 900, 3)
	// Different positions: a at 300, b at 600 (their earlier objects are
	// elsewhere), c has no commit (earliest).
	l.commits["itg-a"] = 300
	l.commits["itg-b"] = 600
	stop := startFan(t, g, l)
	for _, x := range []struct {
		tg   *tgt
		from int
	}{{a, 300}, {b, 600}, {c, 0}} {
		want := wantSeqs(x.from, 900, 3, nil)
		waitFor(t, 10*time.Second, x.tg.T.ID+" exact from its commit", func() error { return exact(seqs(t, x.tg.Bucket.Memory), want) })
	}
	l.mu.Lock()
	first := l.opens[0]
	l.mu.Unlock()
	if first != 0 {
		t.Fatalf("shared read started at %d, want the lowest position 0", first)
	}
	// Kill (cancel softly) mid-stream and start again, twice: the buckets
	// stay exact.
	produce(l, 900, 300, 3)
	time.Sleep(40 * time.Millisecond)
	stop()
	produce(l, 1200, 300, 3)
	stop = startFan(t, g, l)
	time.Sleep(60 * time.Millisecond)
	stop()
	stop = startFan(t, g, l)
	defer stop()
	for _, x := range []struct {
		tg   *tgt
		from int
	}{{a, 300}, {b, 600}, {c, 0}} {
		want := wantSeqs(x.from, 1500, 3, nil)
		waitFor(t, 10*time.Second, x.tg.T.ID+" exact after restarts", func() error { return exact(seqs(t, x.tg.Bucket.Memory), want) })
	}
}

func TestFanoutRestartAtDifferentPositionsSkipsAhead(t *testing.T) {
	g := newTestGroup(0)
	a, b := newTgt(t, "a", g.Metrics), newTgt(t, "b", g.Metrics)
	g.SetTargets([]Target{a.T, b.T}, nil)
	l := newMemLog()
	produce(l, 0, 600, 3)
	l.commits["itg-a"] = 200
	l.commits["itg-b"] = 500
	stop := startFan(t, g, l)
	defer stop()
	waitFor(t, 10*time.Second, "a exact", func() error { return exact(seqs(t, a.Bucket.Memory), wantSeqs(200, 600, 3, nil)) })
	waitFor(t, 10*time.Second, "b exact", func() error { return exact(seqs(t, b.Bucket.Memory), wantSeqs(500, 600, 3, nil)) })
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.opens) != 1 || l.opens[0] != 200 {
		t.Fatalf("opens %v, want one shared read from 200", l.opens)
	}
}

func TestFanoutLiveAddRemoveChange(t *testing.T) {
	g := newTestGroup(0)
	a, b := newTgt(t, "a", g.Metrics), newTgt(t, "b", g.Metrics)
	b.T.Start = StartPolicy{Mode: StartLatest}
	g.SetTargets([]Target{a.T}, nil)
	l := newMemLog()
	produce(l, 0, 300, 3)
	stop := startFan(t, g, l)
	defer stop()
	waitFor(t, 10*time.Second, "a exact", func() error { return exact(seqs(t, a.Bucket.Memory), wantSeqs(0, 300, 3, nil)) })
	if f := fanFor(g); f.inline == nil {
		t.Fatal("a single target should be fed inline")
	}

	// Add b (latest): it starts at the end as it is now.
	g.SetTargets([]Target{a.T, b.T}, appSelector([][]int{nil, {1}}))
	waitFor(t, 5*time.Second, "b's start committed", func() error {
		if _, ok := l.committed("itg-b"); !ok {
			return errors.New("no commit")
		}
		return nil
	})
	bStart, _ := l.committed("itg-b")
	if bStart != 300 {
		t.Fatalf("b started at %d, want 300 (latest)", bStart)
	}
	produce(l, 300, 300, 3)
	waitFor(t, 10*time.Second, "a exact", func() error { return exact(seqs(t, a.Bucket.Memory), wantSeqs(0, 600, 3, nil)) })
	waitFor(t, 10*time.Second, "b exact from latest", func() error { return exact(seqs(t, b.Bucket.Memory), wantSeqs(300, 600, 3, []int{1})) })
	if f := fanFor(g); f.inline != nil {
		t.Fatal("two targets: none may be fed inline")
	}

	// Remove a: it gets nothing more.
	aBefore := seqs(t, a.Bucket.Memory)
	g.SetTargets([]Target{b.T}, appSelector([][]int{{1}}))
	time.Sleep(50 * time.Millisecond)
	produce(l, 600, 300, 3)
	waitFor(t, 10*time.Second, "b exact", func() error { return exact(seqs(t, b.Bucket.Memory), wantSeqs(300, 900, 3, []int{1})) })
	if got := seqs(t, a.Bucket.Memory); len(got) != len(aBefore) {
		t.Fatalf("removed target got %d more hits", len(got)-len(aBefore))
	}
	if _, ok := g.TargetStatus("a"); ok {
		t.Fatal("removed target still has a status")
	}

	// Change b (new version, new selection): it restarts from its own
	// commit with the new settings.
	b2 := b.T
	b2.Version = "2"
	g.SetTargets([]Target{b2}, appSelector([][]int{{1, 2}}))
	time.Sleep(50 * time.Millisecond)
	produce(l, 900, 300, 3)
	want := wantSeqs(300, 900, 3, []int{1})
	for s := range wantSeqs(900, 1200, 3, []int{1, 2}) {
		want[s] = true
	}
	waitFor(t, 10*time.Second, "b exact after change", func() error { return exact(seqs(t, b.Bucket.Memory), want) })
}

func TestFanoutAutoDisableOnce(t *testing.T) {
	g := newTestGroup(0)
	a, b := newTgt(t, "a", g.Metrics), newTgt(t, "b", g.Metrics)
	var calls atomic.Int32
	var reason atomic.Value
	g.OnAutoDisable = func(id, r string) {
		if id == "b" {
			calls.Add(1)
			reason.Store(r)
		}
	}
	g.Classify = func(error) string { return "network" }
	g.SetTargets([]Target{a.T, b.T}, nil)
	b.Bucket.down.Store(true)
	l := newMemLog()
	produce(l, 0, 100, 3)
	stop := startFan(t, g, l)
	defer stop()
	waitFor(t, 5*time.Second, "auto-disable called", func() error {
		if calls.Load() == 0 {
			return errors.New("not called")
		}
		return nil
	})
	// More failures: still once.
	n := b.Bucket.fails.Load()
	waitFor(t, 5*time.Second, "more failures", func() error {
		if b.Bucket.fails.Load() < n+10 {
			return errors.New("few")
		}
		return nil
	})
	if c := calls.Load(); c != 1 {
		t.Fatalf("auto-disable called %d times", c)
	}
	if r, _ := reason.Load().(string); !strings.Contains(r, "upload attempts failed") {
		t.Fatalf("reason %q", r)
	}
	st, _ := g.TargetStatus("b")
	if st.FailureRatio < 0.6 || st.Attempts < 5 || st.LastError == nil || st.LastError.Class != "network" {
		t.Fatalf("status %+v", st)
	}
	if v := testCounter(g.Metrics.Targets.AutoDisabled.WithLabelValues("b")); v != 1 {
		t.Fatalf("auto-disabled metric %v", v)
	}
	if v := testCounter(g.Metrics.Targets.Failures.WithLabelValues("b", "network")); v < 5 {
		t.Fatalf("failures metric %v", v)
	}
	// a is unaffected and never auto-disabled.
	waitFor(t, 5*time.Second, "a exact", func() error { return exact(seqs(t, a.Bucket.Memory), wantSeqs(0, 100, 3, nil)) })
	// The integrator removes the auto-disabled target: its worker stops at
	// once although its upload is failing; a goes on.
	g.SetTargets([]Target{a.T}, nil)
	if _, ok := g.TargetStatus("b"); ok {
		t.Fatal("removed target has a status")
	}
	time.Sleep(100 * time.Millisecond)
	n = b.Bucket.fails.Load()
	time.Sleep(100 * time.Millisecond)
	if b.Bucket.fails.Load() != n {
		t.Fatal("removed target still uploading")
	}
	produce(l, 100, 50, 3)
	waitFor(t, 5*time.Second, "a exact", func() error { return exact(seqs(t, a.Bucket.Memory), wantSeqs(0, 150, 3, nil)) })
}

func TestFanoutMembershipCommitIsMin(t *testing.T) {
	g := newTestGroup(16)
	a, b := newTgt(t, "a", g.Metrics), newTgt(t, "b", g.Metrics)
	g.SetTargets([]Target{a.T, b.T}, nil)
	b.Bucket.down.Store(true)
	l := newMemLog()
	produce(l, 0, 900, 3)
	stop := startFan(t, g, l)
	defer stop()
	waitFor(t, 10*time.Second, "a done", func() error {
		if c, _ := l.committed("itg-a"); c != 900 {
			return fmt.Errorf("a at %d", c)
		}
		return nil
	})
	time.Sleep(100 * time.Millisecond)
	l.mu.Lock()
	for _, m := range l.member {
		if m > l.commits["itg-b"] {
			l.mu.Unlock()
			t.Fatalf("membership committed %d past b's %d", m, l.commits["itg-b"])
		}
	}
	l.mu.Unlock()
	b.Bucket.down.Store(false)
	waitFor(t, 10*time.Second, "membership at the min after heal", func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		if len(l.member) == 0 || l.member[len(l.member)-1] != 900 || l.commits["itg-b"] != 900 {
			return fmt.Errorf("member %v b %d", l.member, l.commits["itg-b"])
		}
		return nil
	})
}

func TestFanoutEnvModeOneTargetNoSecondCommit(t *testing.T) {
	g := newTestGroup(0)
	a := newTgt(t, "default", g.Metrics)
	a.T.Group = "members" // the membership group, fenced: env mode
	a.T.Fenced = true
	a.T.Rejected = true
	g.SetTargets([]Target{a.T}, nil)
	l := newMemLog()
	produce(l, 0, 700, 3)
	stop := startFan(t, g, l)
	defer stop()
	waitFor(t, 10*time.Second, "exact", func() error { return exact(seqs(t, a.Bucket.Memory), wantSeqs(0, 700, 3, nil)) })
	waitFor(t, 5*time.Second, "committed", func() error {
		if c, _ := l.committed("members"); c != 700 {
			return fmt.Errorf("%d", c)
		}
		return nil
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.member) != 0 {
		t.Fatalf("membership committed separately: %v", l.member)
	}
	if fanFor(g).inline == nil {
		t.Fatal("env-mode target not fed inline")
	}
}

func testCounter(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

// AutoDisableAfter: a destination failing for less than that is never
// auto-disabled, however high the ratio; once it has failed that long
// without a success, it is, with the duration and last error in the reason.
func TestFanoutAutoDisableAfterMinimumFailingTime(t *testing.T) {
	g := newTestGroup(0)
	a, b := newTgt(t, "a", g.Metrics), newTgt(t, "b", g.Metrics)
	var calls atomic.Int32
	var reason atomic.Value
	var at atomic.Int64
	g.OnAutoDisable = func(id, r string) {
		if id != "b" {
			return
		}
		calls.Add(1)
		reason.Store(r)
		at.Store(time.Now().UnixNano())
	}
	g.AutoDisableAfter = 700 * time.Millisecond
	g.Classify = func(error) string { return "auth" }
	g.SetTargets([]Target{a.T, b.T}, nil)
	b.Bucket.down.Store(true)
	l := newMemLog()
	produce(l, 0, 100, 3)
	start := time.Now()
	stop := startFan(t, g, l)
	defer stop()
	waitFor(t, 5*time.Second, "5 failures", func() error {
		if b.Bucket.fails.Load() < 5 {
			return errors.New("few")
		}
		return nil
	})
	if calls.Load() != 0 && time.Duration(at.Load()-start.UnixNano()) < 700*time.Millisecond {
		t.Fatal("auto-disabled before AutoDisableAfter")
	}
	waitFor(t, 10*time.Second, "auto-disable called", func() error {
		if calls.Load() == 0 {
			return errors.New("not called")
		}
		return nil
	})
	if d := time.Duration(at.Load() - start.UnixNano()); d < 700*time.Millisecond {
		t.Fatalf("auto-disabled after %v, before AutoDisableAfter", d)
	}
	if r, _ := reason.Load().(string); !strings.Contains(r, "none succeeded for") || !strings.Contains(r, "(auth)") {
		t.Fatalf("reason %q", r)
	}
	g.SetTargets([]Target{a.T}, nil) // as the integrator does: the failing worker stops
}

// A target far behind the others (more than one queue) at assignment does
// not hold them back: the shared read starts near the furthest, the laggard
// starts detached and catches up on its own reader, and both end exact.
func TestFanoutFarBehindTargetStartsDetached(t *testing.T) {
	g := newTestGroup(50)
	a, b := newTgt(t, "a", g.Metrics), newTgt(t, "b", g.Metrics)
	g.SetTargets([]Target{a.T, b.T}, nil)
	l := newMemLog()
	produce(l, 0, 900, 3)
	l.commits["itg-a"] = 0   // re-enabled after a long pause
	l.commits["itg-b"] = 800 // up to date
	stop := startFan(t, g, l)
	defer stop()
	waitFor(t, 10*time.Second, "b exact", func() error { return exact(seqs(t, b.Bucket.Memory), wantSeqs(800, 900, 3, nil)) })
	waitFor(t, 10*time.Second, "a exact", func() error { return exact(seqs(t, a.Bucket.Memory), wantSeqs(0, 900, 3, nil)) })
	l.mu.Lock()
	opens := append([]int64(nil), l.opens...)
	l.mu.Unlock()
	if len(opens) < 2 || opens[0] != 800 {
		t.Fatalf("opens %v: want the shared read from 800 first, then a's own catch-up reader", opens)
	}
	// a attaches once it has caught up: more records reach both once.
	produce(l, 900, 90, 3)
	waitFor(t, 10*time.Second, "a and b exact after attach", func() error {
		if err := exact(seqs(t, b.Bucket.Memory), wantSeqs(800, 990, 3, nil)); err != nil {
			return err
		}
		return exact(seqs(t, a.Bucket.Memory), wantSeqs(0, 990, 3, nil))
	})
}
