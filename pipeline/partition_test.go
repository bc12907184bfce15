package pipeline_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/hits"
	"github.com/hitexport/hitexport/pipeline"
	"github.com/hitexport/hitexport/store"
	"github.com/hitexport/hitexport/verify"
)

const (
	topic = "hits"
	part  = 3
	W     = 10 * time.Minute
	wms   = int64(10 * 60 * 1000)
)

// --- harness ---

type commitRec struct {
	Offset int64
	State  pipeline.CommitState
}

// fakeCommitter records what the worker commits. A commit with a cancelled
// context fails (the generation is over / the process died).
type fakeCommitter struct {
	mu      sync.Mutex
	commits []commitRec
	fail    bool
	// the largest metadata and span count committed, and the most spans
	// the worker wanted to commit
	maxMeta, maxRanges, maxWanted int
}

func (c *fakeCommitter) Commit(ctx context.Context, offset int64, st pipeline.CommitState) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail {
		return fmt.Errorf("injected commit failure")
	}
	// Keep what Kafka would keep: the encoded metadata, decoded again.
	c.maxWanted = max(c.maxWanted, len(st.Ranges))
	enc := st.Encode()
	if len(enc) >= 4096 {
		return fmt.Errorf("commit metadata of %d bytes exceeds Kafka's default limit", len(enc))
	}
	st = pipeline.DecodeCommitState(enc)
	c.maxMeta = max(c.maxMeta, len(enc))
	c.maxRanges = max(c.maxRanges, len(st.Ranges))
	c.commits = append(c.commits, commitRec{offset, st})
	return nil
}

func (c *fakeCommitter) last() (commitRec, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.commits) == 0 {
		return commitRec{}, false
	}
	return c.commits[len(c.commits)-1], true
}

func (c *fakeCommitter) offsets() []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int64
	for _, r := range c.commits {
		out = append(out, r.Offset)
	}
	return out
}

type harness struct {
	t    testing.TB
	mem  *store.Memory
	clk  *fakeClock
	com  *fakeCommitter
	m    *pipeline.Metrics
	s    *pipeline.Settings
	up   *pipeline.Uploader
	p    *pipeline.Partition
	ctx  context.Context
	stat *pipeline.SpoolStats
}

func defaultSettings(t testing.TB) *pipeline.Settings {
	return &pipeline.Settings{
		Layout:          pipeline.Layout{Encoder: mustEncoder(t, "ndjson"), Compression: encoders.None, Window: W},
		AllowedLateness: time.Minute,
		IdleTimeout:     time.Minute,
		LateMaxAge:      5 * time.Minute,
		Limits:          hits.Limits{MaxBytes: 1 << 20, MaxFuture: time.Hour},
		MaxObjectBytes:  1 << 30,
		MaxOpenObjects:  16,
		SpoolMemory:     1 << 20,
		SpoolDir:        t.TempDir(),
		Tick:            time.Second,
	}
}

func newHarness(t testing.TB, mut func(*pipeline.Settings)) *harness {
	s := defaultSettings(t)
	if mut != nil {
		mut(s)
	}
	h := &harness{t: t, mem: store.NewMemory("bucket"), clk: &fakeClock{t: time.UnixMilli(t0 + 60000)},
		com: &fakeCommitter{}, s: s, ctx: context.Background(), stat: &pipeline.SpoolStats{}}
	h.m = pipeline.NewMetrics(nil, h.stat)
	h.up = &pipeline.Uploader{Bucket: h.mem, Schedule: [][]time.Duration{{0}}, Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }, Metrics: h.m}
	h.start(0, pipeline.CommitState{})
	return h
}

func (h *harness) start(offset int64, st pipeline.CommitState) {
	h.p = pipeline.NewPartition(topic, part, h.s, pipeline.PartitionDeps{
		Uploader: h.up, Commit: h.com.Commit, Metrics: h.m, Spool: h.stat, Now: h.clk.Now,
	}, offset, st)
}

func hit(id string, ms int64) []byte {
	return []byte(fmt.Sprintf(`{"time":"%d.%03d","request_id":%q,"uri":"/x"}`, ms/1000, ms%1000, id))
}

func (h *harness) handle(off int64, value []byte, kafkaMs int64) {
	h.t.Helper()
	if err := h.p.Handle(h.ctx, pipeline.Message{Offset: off, Time: time.UnixMilli(kafkaMs), Key: []byte("k" + strconv.FormatInt(off, 10)), Value: value}); err != nil {
		h.t.Fatalf("Handle(%d): %v", off, err)
	}
}

func (h *harness) hit(off int64, id string, ms int64) {
	h.t.Helper()
	h.handle(off, hit(id, ms), ms)
}

func (h *harness) tick() {
	h.t.Helper()
	if err := h.p.Tick(h.ctx); err != nil {
		h.t.Fatalf("Tick: %v", err)
	}
}

func (h *harness) lastCommit() int64 {
	h.t.Helper()
	c, ok := h.com.last()
	if !ok {
		return -1
	}
	return c.Offset
}

func (h *harness) keys() []string { return h.mem.Keys() }

// lines reads an object (decompressed) as lines.
func (h *harness) lines(key string) []string {
	h.t.Helper()
	data := getObject(h.t, h.mem, key)
	r, err := h.s.Layout.Compression.NewReader(bytes.NewReader(data))
	if err != nil {
		h.t.Fatal(err)
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(plain))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func (h *harness) meta(key string) map[string]string {
	h.t.Helper()
	info, err := h.mem.Stat(context.Background(), key)
	if err != nil {
		h.t.Fatal(err)
	}
	return info.Metadata
}

// ids returns the request_ids of an NDJSON hit object, in order.
func (h *harness) ids(key string) []string {
	h.t.Helper()
	var out []string
	for _, l := range h.lines(key) {
		var v struct {
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			h.t.Fatalf("%s: %v", key, err)
		}
		out = append(out, v.RequestID)
	}
	return out
}

func key(kind pipeline.Kind, windowMs int64, first int64) string {
	l := pipeline.Layout{Encoder: ndjsonEnc, Compression: encoders.None}
	return l.Key(kind, windowMs, topic, part, first)
}

var ndjsonEnc, _ = encoders.New("ndjson")

func eq[T comparable](a, b []T) bool {
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

// --- tests ---

func TestPartitionWatermarkClosesWindow(t *testing.T) {
	h := newHarness(t, nil)
	w0, w1 := t0, t0+wms
	h.hit(0, "a", w0+10000)
	h.hit(1, "b", w1+5000)
	h.hit(2, "c", w0+20000)
	h.hit(3, "d", w1+30000)
	h.hit(4, "e", w1+60000-1) // 1 ms short of end(w0)+lateness
	if k := h.keys(); len(k) != 0 {
		t.Fatalf("uploaded before the watermark passed: %v", k)
	}
	if c := h.lastCommit(); c > 0 {
		t.Fatalf("committed %d with window 0 open", c)
	}
	h.hit(5, "f", w1+60000) // = end(w0) + lateness
	k0 := key(pipeline.KindHits, w0, 0)
	if got := h.keys(); !eq(got, []string{k0}) {
		t.Fatalf("keys %v, want [%s]", got, k0)
	}
	if k0 != "hitlogs-1687241400-hits-3-0.ndjson" {
		t.Fatalf("key %s", k0)
	}
	if ids := h.ids(k0); !eq(ids, []string{"a", "c"}) {
		t.Fatalf("window 0 holds %v", ids)
	}
	// Exactly the records' bytes, one per line.
	if l := h.lines(k0); l[0] != string(hit("a", w0+10000)) || l[1] != string(hit("c", w0+20000)) {
		t.Fatalf("lines %q", l)
	}
	c, _ := h.com.last()
	if c.Offset != 1 {
		t.Fatalf("commit %d, want 1 (first offset of the open window)", c.Offset)
	}
	if c.State.MaxEvent != w1+60000 || c.State.ClosedBefore != w1 {
		t.Fatalf("state %+v", c.State)
	}
	if !sameRanges(c.State.Ranges, []pipeline.Range{{Window: w0, First: 0, Last: 2}}) {
		t.Fatalf("ranges %+v", c.State.Ranges)
	}
	md := h.meta(k0)
	want := map[string]string{
		pipeline.MetaTopic: topic, pipeline.MetaPartition: "3", pipeline.MetaFirstOffset: "0", pipeline.MetaLastOffset: "2",
		pipeline.MetaRecordCount: "2", pipeline.MetaWindowStart: "2023-06-20T06:10:00Z", pipeline.MetaWindowEnd: "2023-06-20T06:20:00Z",
		pipeline.MetaFormat: "ndjson", pipeline.MetaCompression: "none", pipeline.MetaEncoderVersion: ndjsonEnc.Version(),
		pipeline.MetaKind: "hits",
	}
	for k, v := range want {
		if md[k] != v {
			t.Errorf("metadata %s = %q, want %q (all: %v)", k, md[k], v, md)
		}
	}
	// Flush uploads the rest; the commit reaches the end.
	if err := h.p.Flush(h.ctx); err != nil {
		t.Fatal(err)
	}
	k1 := key(pipeline.KindHits, w1, 1)
	if ids := h.ids(k1); !eq(ids, []string{"b", "d", "e", "f"}) {
		t.Fatalf("window 1 holds %v", ids)
	}
	if c := h.lastCommit(); c != 6 {
		t.Fatalf("final commit %d", c)
	}
	// Commits never go backwards.
	offs := h.com.offsets()
	for i := 1; i < len(offs); i++ {
		if offs[i] < offs[i-1] {
			t.Fatalf("commits went back: %v", offs)
		}
	}
	if h.stat.Memory.Load() != 0 || h.stat.Disk.Load() != 0 {
		t.Fatalf("spool bytes left: %d %d", h.stat.Memory.Load(), h.stat.Disk.Load())
	}
}

func TestPartitionIdleClosesWindows(t *testing.T) {
	h := newHarness(t, nil)
	w0, w1 := t0, t0+wms
	h.clk.Set(time.UnixMilli(w0 + 30000))
	h.hit(0, "a", w0+10000)
	h.hit(1, "b", w0+20000)
	// Idle, but the wall clock is still within window 0 + lateness.
	h.clk.Set(time.UnixMilli(w1 + 59000))
	h.tick()
	if k := h.keys(); len(k) != 0 {
		t.Fatalf("closed too early: %v", k)
	}
	// Not idle (a record just came) although end+lateness passed: Tick does
	// not close by wall clock.
	h.clk.Set(time.UnixMilli(w1 + 60000))
	h.hit(2, "c", w1+1000) // window 1: watermark w1+1000-60000 < end(w0)
	h.tick()
	if k := h.keys(); len(k) != 0 {
		t.Fatalf("closed without idleness: %v", k)
	}
	// Idle for IdleTimeout: window 0 closes; window 1 (the current wall-clock
	// window) stays open.
	h.clk.Advance(time.Minute)
	h.tick()
	if got := h.keys(); !eq(got, []string{key(pipeline.KindHits, w0, 0)}) {
		t.Fatalf("keys %v", got)
	}
	if c := h.lastCommit(); c != 2 {
		t.Fatalf("commit %d, want 2", c)
	}
	h.clk.Advance(5 * time.Minute) // w1 + 7m: still inside window 1
	h.tick()
	if len(h.keys()) != 1 {
		t.Fatalf("current window closed: %v", h.keys())
	}
	// Past end(w1)+lateness the idle partition closes window 1 too and
	// commits everything.
	h.clk.Set(time.UnixMilli(w1 + wms + 60000))
	h.tick()
	if got := h.keys(); len(got) != 2 || !eq(h.ids(key(pipeline.KindHits, w1, 2)), []string{"c"}) {
		t.Fatalf("keys %v", got)
	}
	if c := h.lastCommit(); c != 3 {
		t.Fatalf("commit %d, want 3", c)
	}
	// A quiet partition with nothing open commits nothing new and uploads
	// no empty objects.
	h.clk.Advance(time.Hour)
	h.tick()
	if len(h.keys()) != 2 {
		t.Fatalf("empty objects: %v", h.keys())
	}
}

func TestPartitionLateRecords(t *testing.T) {
	h := newHarness(t, func(s *pipeline.Settings) { s.LateMaxAge = 3 * time.Minute })
	w0, w1 := t0, t0+wms
	h.clk.Set(time.UnixMilli(w1 + 60000))
	h.hit(0, "a", w0+1000)
	h.hit(1, "b", w1+60000) // closes w0
	k0 := key(pipeline.KindHits, w0, 0)
	if !eq(h.keys(), []string{k0}) {
		t.Fatalf("keys %v", h.keys())
	}
	before := getObject(t, h.mem, k0)
	// Late records of window 0: gathered into one further object.
	h.hit(2, "late1", w0+5000)
	h.hit(3, "c", w1+70000)
	h.hit(4, "late2", w0+599999)
	if got := metricValue(t, h.m.Late); got != 2 {
		t.Fatalf("Late metric %v", got)
	}
	h.clk.Advance(2 * time.Minute) // younger than LateMaxAge, not idle (tick right after a record)
	h.hit(5, "d", w1+80000)
	h.tick()
	if len(h.keys()) != 1 {
		t.Fatalf("late object flushed too early: %v", h.keys())
	}
	if c := h.lastCommit(); c != 1 {
		t.Fatalf("commit %d, want 1", c)
	}
	h.clk.Advance(time.Minute + time.Second) // LateMaxAge passed
	h.hit(6, "e", w1+90000)
	h.tick()
	kl := key(pipeline.KindLate, w0, 2)
	if !eq(h.keys(), []string{k0, kl}) {
		t.Fatalf("keys %v, want %v", h.keys(), []string{k0, kl})
	}
	if !bytes.Equal(getObject(t, h.mem, k0), before) {
		t.Fatal("late records merged into the window's object")
	}
	if ids := h.ids(kl); !eq(ids, []string{"late1", "late2"}) {
		t.Fatalf("late object %v", ids)
	}
	md := h.meta(kl)
	if md[pipeline.MetaKind] != "late" || md[pipeline.MetaWindowStart] != "2023-06-20T06:10:00Z" || md[pipeline.MetaFirstOffset] != "2" || md[pipeline.MetaLastOffset] != "4" || md[pipeline.MetaRecordCount] != "2" {
		t.Fatalf("late metadata %v", md)
	}
	if c := h.lastCommit(); c != 1 {
		t.Fatalf("commit %d, want 1 (window 1 still open)", c)
	}
	// Another late record: flushed when the partition goes idle.
	h.hit(7, "late3", w0+42)
	h.clk.Advance(time.Minute)
	h.tick()
	kl2 := key(pipeline.KindLate, w0, 7)
	if ids := h.ids(kl2); !eq(ids, []string{"late3"}) {
		t.Fatalf("second late object %v (keys %v)", ids, h.keys())
	}
	// Late records of an older window go to that window, never another.
	h.hit(8, "older", w0-wms+1)
	h.clk.Advance(time.Minute)
	h.tick()
	if ids := h.ids(key(pipeline.KindLate, w0-wms, 8)); !eq(ids, []string{"older"}) {
		t.Fatalf("older window %v", ids)
	}
}

func TestPartitionRejected(t *testing.T) {
	h := newHarness(t, func(s *pipeline.Settings) {
		s.Limits.MaxBytes = 200
		s.Layout.Compression = encoders.Gzip
	})
	w0, w1 := t0, t0+wms
	bad := map[int64]struct {
		raw    []byte
		reason hits.Reason
	}{
		1: {[]byte("not json \x00\xff\xfe"), hits.ReasonInvalidUTF8},
		2: {[]byte(`{"time":"yesterday"}`), hits.ReasonBadTime},
		4: {[]byte("{\"a\":\"\x00\"}"), hits.ReasonNotJSON},
		5: {append([]byte(`{"time":1687241470,"p":"`), bytes.Repeat([]byte("x"), 300)...), hits.ReasonTooLarge},
		6: {[]byte(`[1,2]`), hits.ReasonNotObject},
		7: {[]byte{}, hits.ReasonNotJSON},
	}
	kafkaMs := w0 + 3000
	h.clk.Set(time.UnixMilli(w0 + 30000))
	h.hit(0, "a", w0+1000)
	for off := int64(1); off <= 7; off++ {
		if b, ok := bad[off]; ok {
			h.handle(off, b.raw, kafkaMs)
		} else {
			h.hit(off, fmt.Sprint("h", off), w0+2000)
		}
	}
	for _, r := range []hits.Reason{hits.ReasonInvalidUTF8, hits.ReasonBadTime, hits.ReasonNotJSON, hits.ReasonTooLarge, hits.ReasonNotObject} {
		want := 1.0
		if r == hits.ReasonNotJSON {
			want = 2
		}
		if got := metricValue(t, h.m.Rejected.WithLabelValues(string(r))); got != want {
			t.Errorf("rejected{%s} = %v", r, got)
		}
	}
	h.hit(8, "b", w1+60000) // closes w0
	if c := h.lastCommit(); c != 1 {
		t.Fatalf("commit %d before the rejected object was uploaded, want 1", c)
	}
	for _, k := range h.keys() {
		if strings.Contains(k, "rejected") {
			t.Fatalf("rejected object uploaded early: %s", k)
		}
	}
	h.clk.Advance(5 * time.Minute) // LateMaxAge
	h.hit(9, "c", w1+61000)
	h.tick()
	kr := "rejected/hitlogs-1687241400-hits-3-1.rejected.ndjson.gz"
	found := false
	for _, k := range h.keys() {
		found = found || k == kr
	}
	if !found {
		t.Fatalf("keys %v, want %s", h.keys(), kr)
	}
	if c := h.lastCommit(); c != 8 {
		t.Fatalf("commit %d after the rejected upload, want 8", c)
	}
	lines := h.lines(kr)
	if len(lines) != len(bad) {
		t.Fatalf("%d rejected lines", len(lines))
	}
	for _, l := range lines {
		var rj pipeline.Rejected
		if err := json.Unmarshal([]byte(l), &rj); err != nil {
			t.Fatal(err)
		}
		b, ok := bad[rj.Offset]
		if !ok {
			t.Fatalf("unexpected rejected offset %d", rj.Offset)
		}
		raw, err := base64.StdEncoding.DecodeString(rj.Value)
		if err != nil || !bytes.Equal(raw, b.raw) {
			t.Fatalf("offset %d: raw bytes %q, want %q", rj.Offset, raw, b.raw)
		}
		if rj.Reason != b.reason || rj.Topic != topic || rj.Partition != part || rj.Size != len(b.raw) {
			t.Fatalf("offset %d: %+v", rj.Offset, rj)
		}
		rk, _ := base64.StdEncoding.DecodeString(rj.Key)
		if string(rk) != "k"+strconv.FormatInt(rj.Offset, 10) {
			t.Fatalf("offset %d: key %q", rj.Offset, rk)
		}
		if kt, err := time.Parse(time.RFC3339Nano, rj.KafkaTime); err != nil || kt.UnixMilli() != kafkaMs {
			t.Fatalf("offset %d: kafka time %q", rj.Offset, rj.KafkaTime)
		}
	}
	md := h.meta(kr)
	if md[pipeline.MetaKind] != "rejected" || md[pipeline.MetaRecordCount] != "6" || md[pipeline.MetaFirstOffset] != "1" || md[pipeline.MetaLastOffset] != "7" {
		t.Fatalf("rejected metadata %v", md)
	}
	// The hits of window 0 are all there, in offset order.
	data := h.lines("hitlogs-1687241400-hits-3-0.ndjson.gz")
	if len(data) != 2 {
		t.Fatalf("window 0 lines %d", len(data))
	}
}

// A rejected record without a Kafka timestamp gets the epoch window.
func TestPartitionRejectedNoKafkaTime(t *testing.T) {
	h := newHarness(t, nil)
	if err := h.p.Handle(h.ctx, pipeline.Message{Offset: 0, Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := h.p.Flush(h.ctx); err != nil {
		t.Fatal(err)
	}
	if !eq(h.keys(), []string{"rejected/hitlogs-0-hits-3-0.rejected.ndjson"}) {
		t.Fatalf("keys %v", h.keys())
	}
	if h.lastCommit() != 1 {
		t.Fatal(h.lastCommit())
	}
}

func TestPartitionMaxObjectBytesSplits(t *testing.T) {
	for _, comp := range encoders.Compressions {
		t.Run(string(comp), func(t *testing.T) {
			h := newHarness(t, func(s *pipeline.Settings) {
				s.MaxObjectBytes = 300
				s.Layout.Compression = comp
			})
			w0 := t0
			var want []string
			for off := int64(0); off < 20; off++ {
				id := fmt.Sprintf("r%02d", off)
				want = append(want, id)
				h.hit(off, id, w0+off*1000)
			}
			h.hit(20, "next", w0+wms+60000)
			var got []string
			firsts := map[string]bool{}
			for _, k := range h.keys() {
				md := h.meta(k)
				if md[pipeline.MetaWindowStart] != "2023-06-20T06:10:00Z" {
					continue
				}
				if !strings.Contains(k, "-hits-3-"+md[pipeline.MetaFirstOffset]+".") {
					t.Fatalf("key %s does not carry its first offset %s", k, md[pipeline.MetaFirstOffset])
				}
				if firsts[md[pipeline.MetaFirstOffset]] {
					t.Fatalf("two objects start at %s", md[pipeline.MetaFirstOffset])
				}
				firsts[md[pipeline.MetaFirstOffset]] = true
				var ids []string
				for _, l := range h.lines(k) {
					var v struct {
						RequestID string `json:"request_id"`
					}
					_ = json.Unmarshal([]byte(l), &v)
					ids = append(ids, v.RequestID)
				}
				if n, _ := strconv.Atoi(md[pipeline.MetaRecordCount]); n != len(ids) {
					t.Fatalf("%s: record-count %d, lines %d", k, n, len(ids))
				}
				got = append(got, ids...)
			}
			sort.Strings(got)
			if !eq(got, want) {
				t.Fatalf("records %v, want %v", got, want)
			}
			if len(firsts) < 4 {
				t.Fatalf("only %d objects: no split", len(firsts))
			}
			if c := h.lastCommit(); c != 20 {
				t.Fatalf("commit %d", c)
			}
		})
	}
}

func TestPartitionMaxOpenObjects(t *testing.T) {
	h := newHarness(t, func(s *pipeline.Settings) {
		s.MaxOpenObjects = 2
		s.AllowedLateness = 24 * time.Hour // the watermark closes nothing
	})
	h.hit(0, "w2", t0+2*wms)
	h.hit(1, "w0", t0)
	if len(h.keys()) != 0 {
		t.Fatal("flushed with two open")
	}
	h.hit(2, "w1", t0+wms)
	// Three open: the oldest window (w0) is forced out.
	if got := h.keys(); !eq(got, []string{key(pipeline.KindHits, t0, 1)}) {
		t.Fatalf("keys %v", got)
	}
	if c := h.lastCommit(); c != 0 {
		t.Fatalf("commit %d, want 0 (w2 opened at 0)", c)
	}
	h.hit(3, "w3", t0+3*wms)
	if got := h.keys(); len(got) != 2 || got[1] != key(pipeline.KindHits, t0+wms, 2) {
		t.Fatalf("keys %v", got)
	}
	if err := h.p.Flush(h.ctx); err != nil {
		t.Fatal(err)
	}
	all := map[string]bool{}
	for _, k := range h.keys() {
		for _, id := range h.ids(k) {
			all[id] = true
		}
	}
	if len(all) != 4 || h.lastCommit() != 4 {
		t.Fatalf("records %v commit %d", all, h.lastCommit())
	}
}

func TestPartitionRestoreSkipsCovered(t *testing.T) {
	h := newHarness(t, nil)
	st := pipeline.CommitState{
		MaxEvent: t0 + 30000, ClosedBefore: t0,
		Ranges: []pipeline.Range{{Window: t0, First: 0, Last: 5}, {Window: pipeline.RejectedWindow, First: 7, Last: 7}},
	}
	h.start(0, st)
	for off := int64(0); off < 10; off++ {
		if off == 7 {
			h.handle(off, []byte("garbage"), t0)
			continue
		}
		h.hit(off, fmt.Sprint("r", off), t0+off*1000)
	}
	if got := metricValue(t, h.m.Skipped); got != 7 {
		t.Fatalf("Skipped = %v, want 7", got)
	}
	if got := metricValue(t, h.m.Rejected); got != 0 {
		t.Fatalf("Rejected = %v, want 0 (already in the bucket)", got)
	}
	if err := h.p.Flush(h.ctx); err != nil {
		t.Fatal(err)
	}
	k := key(pipeline.KindHits, t0, 6)
	if !eq(h.keys(), []string{k}) || !eq(h.ids(k), []string{"r6", "r8", "r9"}) {
		t.Fatalf("keys %v", h.keys())
	}
	if h.lastCommit() != 10 {
		t.Fatal(h.lastCommit())
	}
	// The restored watermark decides lateness: a window closed before the
	// crash gets a late object.
	h2 := newHarness(t, nil)
	h2.start(100, pipeline.CommitState{MaxEvent: t0 + wms + 60000, ClosedBefore: t0 + wms})
	h2.hit(100, "x", t0+5)
	if err := h2.p.Flush(h2.ctx); err != nil {
		t.Fatal(err)
	}
	if md := h2.meta(key(pipeline.KindLate, t0, 100)); md[pipeline.MetaKind] != "late" {
		t.Fatalf("metadata %v", md)
	}
}

// A failed commit is retried on the next tick and never loses data.
func TestPartitionCommitRetry(t *testing.T) {
	h := newHarness(t, nil)
	h.com.fail = true
	h.hit(0, "a", t0)
	h.hit(1, "b", t0+wms+60000)
	if h.lastCommit() != -1 {
		t.Fatal("committed while failing")
	}
	h.tick()
	h.com.fail = false
	h.tick()
	if c := h.lastCommit(); c != 1 {
		t.Fatalf("commit %d after retry", c)
	}
}

// Close discards open objects: nothing is uploaded, nothing committed past
// them, spools are released.
func TestPartitionCloseDiscards(t *testing.T) {
	h := newHarness(t, func(s *pipeline.Settings) { s.SpoolMemory = 10 })
	h.hit(0, "a", t0)
	h.handle(1, []byte("bad"), t0)
	if h.stat.Disk.Load() == 0 {
		t.Fatal("nothing spooled to disk")
	}
	h.p.Close()
	if len(h.keys()) != 0 || h.lastCommit() != -1 {
		t.Fatalf("keys %v commit %d", h.keys(), h.lastCommit())
	}
	if h.stat.Memory.Load() != 0 || h.stat.Disk.Load() != 0 {
		t.Fatalf("spools not released: %d %d", h.stat.Memory.Load(), h.stat.Disk.Load())
	}
}

// Upload failures hold the partition (Handle blocks in the retry loop) and
// the commit; nothing is lost.
func TestPartitionUploadFailuresRetried(t *testing.T) {
	h := newHarness(t, nil)
	h.mem.FailPuts = 3
	var paused []float64
	h.up.Sleep = func(ctx context.Context, _ time.Duration) error {
		paused = append(paused, metricValue(t, h.m.Paused))
		return nil
	}
	h.hit(0, "a", t0)
	h.hit(1, "b", t0+wms+60000)
	if !eq(h.ids(key(pipeline.KindHits, t0, 0)), []string{"a"}) || h.lastCommit() != 1 {
		t.Fatalf("keys %v commit %d", h.keys(), h.lastCommit())
	}
	if !eq(paused, []float64{1, 1, 1}) || metricValue(t, h.m.Paused) != 0 {
		t.Fatalf("paused gauge %v then %v", paused, metricValue(t, h.m.Paused))
	}
}

// Cancelling the context during an upload makes Handle return the error and
// leaves the offsets uncommitted.
func TestPartitionCancelDuringUpload(t *testing.T) {
	h := newHarness(t, nil)
	h.mem.FailPuts = 1 << 30
	ctx, cancel := context.WithCancel(context.Background())
	h.up.Sleep = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
	h.ctx = ctx
	h.hit(0, "a", t0)
	err := h.p.Handle(ctx, pipeline.Message{Offset: 1, Time: time.UnixMilli(t0), Value: hit("b", t0+wms+60000)})
	if err == nil {
		t.Fatal("no error")
	}
	if h.lastCommit() != -1 || len(h.keys()) != 0 {
		t.Fatal("committed or uploaded")
	}
	h.p.Close()
}

// --- the key test: crashes at many points, every hit exactly once ---

// crashBucket "kills the process" (cancels the incarnation's context) right
// after chosen successful Puts, before the worker can commit.
type crashBucket struct {
	store.Bucket
	mu      sync.Mutex
	puts    int
	crashAt func(put int) bool
	cancel  context.CancelFunc
}

func (c *crashBucket) Put(ctx context.Context, key string, r io.Reader, size int64, opts store.PutOptions) error {
	err := c.Bucket.Put(ctx, key, r, size, opts)
	if err == nil {
		c.mu.Lock()
		c.puts++
		if c.crashAt != nil && c.crashAt(c.puts) && c.cancel != nil {
			c.cancel()
		}
		c.mu.Unlock()
	}
	return err
}

type crashPlan struct {
	name        string
	everyNthPut int     // crash right after every n-th successful put (0: never)
	recordCrash float64 // probability of a crash after handling a record
	format      string
	comp        encoders.Compression
	maxObject   int64
	maxOpen     int
	seed        uint64
	lateMaxAge  time.Duration // 0: 3m
	badFraction float64       // 0: 0.03
	// dupOK: the plan goes past what the commit metadata can hold; the
	// README allows duplicates then, never a loss.
	dupOK bool
}

func TestPartitionCrashReplayExactlyOnce(t *testing.T) {
	plans := []crashPlan{
		{name: "no crash", format: "ndjson", comp: encoders.None, maxObject: 1 << 30, maxOpen: 16, seed: 1},
		{name: "every put", everyNthPut: 1, format: "ndjson", comp: encoders.None, maxObject: 8 << 10, maxOpen: 4, seed: 2},
		{name: "every 2nd put", everyNthPut: 2, format: "ndjson", comp: encoders.Zstd, maxObject: 8 << 10, maxOpen: 4, seed: 3},
		{name: "every 3rd put", everyNthPut: 3, format: "json", comp: encoders.Gzip, maxObject: 8 << 10, maxOpen: 4, seed: 4},
		{name: "every 5th put", everyNthPut: 5, format: "json", comp: encoders.None, maxObject: 4 << 10, maxOpen: 3, seed: 5},
		{name: "every 7th put", everyNthPut: 7, format: "ndjson", comp: encoders.Gzip, maxObject: 1 << 30, maxOpen: 16, seed: 6},
		{name: "random records", recordCrash: 0.01, format: "ndjson", comp: encoders.None, maxObject: 8 << 10, maxOpen: 4, seed: 7},
		{name: "random records and puts", everyNthPut: 4, recordCrash: 0.005, format: "json", comp: encoders.Zstd, maxObject: 16 << 10, maxOpen: 8, seed: 8},
	}
	// One record per object and the rejected object held open for an hour:
	// hundreds of uploaded spans past the commit point, more than the 4 KB
	// commit metadata holds. Replays may then duplicate, never lose.
	plans = append(plans, crashPlan{name: "metadata overflow", everyNthPut: 5, format: "ndjson", comp: encoders.None,
		maxObject: 700, maxOpen: 4, seed: 10, lateMaxAge: time.Hour, badFraction: 0.004, dupOK: true})
	for _, f := range encoders.Formats() {
		if strings.HasPrefix(f, "ocsf") {
			plans = append(plans, crashPlan{name: "every 3rd put " + f, everyNthPut: 3, format: f, comp: encoders.Gzip, maxObject: 16 << 10, maxOpen: 4, seed: 9})
		}
	}
	for _, plan := range plans {
		t.Run(plan.name, func(t *testing.T) {
			t.Parallel()
			runCrashPlan(t, plan)
		})
	}
}

func runCrashPlan(t *testing.T, plan crashPlan) {
	const count = 1000
	start := time.UnixMilli(t0)
	span := time.Hour
	bad := plan.badFraction
	if bad == 0 {
		bad = 0.03
	}
	recs := gen.Generate(gen.Options{Seed: plan.seed, Count: count, Start: start, Span: span, Jitter: 20 * time.Second,
		LateFraction: 0.03, LateBy: 15 * time.Minute, BadFraction: bad})
	manifest := make([]gen.Expect, len(recs))
	kafkaMs := make([]int64, len(recs))
	for i, r := range recs {
		manifest[i] = r.Expect
		kafkaMs[i] = t0 + int64(i)*span.Milliseconds()/count
	}
	rng := rand.New(rand.NewPCG(plan.seed, 99))

	s := defaultSettings(t)
	s.Layout = pipeline.Layout{Encoder: mustEncoder(t, plan.format), Compression: plan.comp, Window: W}
	s.LateMaxAge = 3 * time.Minute
	if plan.lateMaxAge > 0 {
		s.LateMaxAge = plan.lateMaxAge
	}
	s.MaxObjectBytes = plan.maxObject
	s.MaxOpenObjects = plan.maxOpen
	s.SpoolMemory = 2048 // exercise the disk spool too

	mem := store.NewMemory("bucket")
	cb := &crashBucket{Bucket: store.WithPrefix(mem, "exp/")}
	if plan.everyNthPut > 0 {
		cb.crashAt = func(n int) bool { return n%plan.everyNthPut == 0 }
	}
	com := &fakeCommitter{}
	clk := &fakeClock{t: start}
	stats := &pipeline.SpoolStats{}
	m := pipeline.NewMetrics(nil, stats)
	up := &pipeline.Uploader{Bucket: cb, Schedule: [][]time.Duration{{0}}, Metrics: m,
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}

	var (
		p       *pipeline.Partition
		ctx     context.Context
		cancel  context.CancelFunc
		next    int64
		drift   time.Duration
		crashes int
	)
	restart := func() {
		if p != nil {
			p.Close() // the process is gone: open objects are lost
			cancel()
			crashes++
		}
		ctx, cancel = context.WithCancel(context.Background())
		cb.mu.Lock()
		cb.cancel = cancel
		cb.mu.Unlock()
		off, st := int64(0), pipeline.CommitState{}
		if c, ok := com.last(); ok {
			off, st = c.Offset, c.State
		}
		next = off
		// The wall clock never goes back: a restart happens later.
		if next < count {
			if d := clk.Now().Sub(time.UnixMilli(kafkaMs[next])) + 20*time.Second; d > drift {
				drift = d
			}
		}
		p = pipeline.NewPartition(topic, part, s, pipeline.PartitionDeps{
			Uploader: up, Commit: com.Commit, Metrics: m, Spool: stats, Now: clk.Now,
		}, off, st)
	}
	restart()
	defer func() { p.Close(); cancel() }()

	for steps := 0; ; steps++ {
		if steps > 50*count {
			t.Fatalf("no progress: next %d, crashes %d", next, crashes)
		}
		if next >= count {
			// Drain: a long quiet period closes every window, late and
			// rejected object.
			clk.Advance(2 * time.Hour)
			err := p.Tick(ctx)
			if ctx.Err() != nil {
				restart()
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if c, _ := com.last(); c.Offset == count {
				break
			}
			t.Fatalf("after the drain the commit is %d, want %d", func() int64 { c, _ := com.last(); return c.Offset }(), count)
		}
		i := next
		clk.Set(time.UnixMilli(kafkaMs[i]).Add(drift))
		// Quiet periods now and then: the idle close path.
		if i%400 == 399 {
			clk.Advance(3 * time.Minute)
			if err := p.Tick(ctx); err != nil && ctx.Err() == nil {
				t.Fatal(err)
			}
			if ctx.Err() != nil {
				restart()
				continue
			}
		}
		err := p.Handle(ctx, pipeline.Message{Offset: i, Time: time.UnixMilli(kafkaMs[i]), Key: recs[i].Key, Value: recs[i].Value})
		if ctx.Err() != nil {
			restart()
			continue
		}
		if err != nil {
			t.Fatalf("Handle(%d): %v", i, err)
		}
		next++
		if i%7 == 0 {
			if err := p.Tick(ctx); err != nil && ctx.Err() == nil {
				t.Fatal(err)
			}
			if ctx.Err() != nil {
				restart()
				continue
			}
		}
		if plan.recordCrash > 0 && rng.Float64() < plan.recordCrash {
			restart()
		}
	}
	if (plan.everyNthPut > 0 || plan.recordCrash > 0) && crashes < 3 {
		t.Fatalf("only %d crashes: the plan did not exercise recovery", crashes)
	}
	contents, err := verify.ReadBucket(context.Background(), mem, "exp/")
	if err != nil {
		t.Fatal(err)
	}
	rep := verify.Compare(contents, manifest, W)
	if plan.dupOK {
		if rep.Missing != 0 || rep.RejectedMissing != 0 || rep.WrongWindow != 0 || rep.Unexpected != 0 || rep.RejectedReason != 0 {
			b, _ := json.MarshalIndent(rep, "", " ")
			t.Fatalf("after %d crashes records were lost or misplaced:\n%s", crashes, b)
		}
		t.Logf("%d duplicates (allowed: spans past the metadata cap)", rep.Duplicates)
		if com.maxWanted <= com.maxRanges {
			t.Fatalf("the metadata never overflowed: at most %d spans (%d bytes)", com.maxWanted, com.maxMeta)
		}
	} else if !rep.OK() || rep.HitsInBucket != rep.ProducedValid || rep.RejectedInBucket != rep.ProducedRejected {
		b, _ := json.MarshalIndent(rep, "", " ")
		t.Fatalf("after %d crashes the bucket does not hold every record exactly once:\n%s", crashes, b)
	}
	if rep.ProducedRejected == 0 || rep.ProducedValid < count/2 {
		t.Fatalf("generator gave %d valid, %d rejected", rep.ProducedValid, rep.ProducedRejected)
	}
	if stats.Memory.Load() != 0 || stats.Disk.Load() != 0 {
		t.Fatalf("spool bytes left: %d %d", stats.Memory.Load(), stats.Disk.Load())
	}
	t.Logf("%d crashes, %d objects, %d puts, %d skipped, %d superseded; commit metadata up to %d bytes, %d of %d spans",
		crashes, contents.Objects, cb.puts, int(metricValue(t, m.Skipped)), int(metricValue(t, m.Superseded)),
		com.maxMeta, com.maxRanges, com.maxWanted)
}

// Every format and compression goes through a partition and reads back.
func TestPartitionAllFormatsReadBack(t *testing.T) {
	recs := gen.Generate(gen.Options{Seed: 11, Count: 300, Start: time.UnixMilli(t0), Span: 40 * time.Minute,
		Jitter: 10 * time.Second, LateFraction: 0.05, LateBy: 12 * time.Minute, BadFraction: 0.05})
	var manifest []gen.Expect
	for _, r := range recs {
		manifest = append(manifest, r.Expect)
	}
	for _, f := range encoders.Formats() {
		for _, c := range encoders.Compressions {
			t.Run(f+"/"+string(c), func(t *testing.T) {
				h := newHarness(t, func(s *pipeline.Settings) {
					s.Layout.Encoder = mustEncoder(t, f)
					s.Layout.Compression = c
				})
				for i, r := range recs {
					ms := t0 + int64(i)*8000
					h.clk.Set(time.UnixMilli(ms))
					h.handle(int64(i), r.Value, ms)
				}
				h.clk.Advance(time.Hour)
				h.tick()
				if h.lastCommit() != int64(len(recs)) {
					t.Fatalf("commit %d", h.lastCommit())
				}
				contents, err := verify.ReadBucket(context.Background(), h.mem, "")
				if err != nil {
					t.Fatal(err)
				}
				if rep := verify.Compare(contents, manifest, W); !rep.OK() {
					t.Fatalf("%+v", rep)
				}
				for _, k := range h.keys() {
					md := h.meta(k)
					for _, mk := range []string{pipeline.MetaTopic, pipeline.MetaPartition, pipeline.MetaFirstOffset, pipeline.MetaLastOffset,
						pipeline.MetaRecordCount, pipeline.MetaWindowStart, pipeline.MetaWindowEnd, pipeline.MetaFormat,
						pipeline.MetaCompression, pipeline.MetaEncoderVersion, pipeline.MetaKind} {
						if md[mk] == "" {
							t.Fatalf("%s: metadata %s missing: %v", k, mk, md)
						}
					}
					if md[pipeline.MetaKind] != "rejected" && md[pipeline.MetaFormat] != f {
						t.Fatalf("%s: format %s", k, md[pipeline.MetaFormat])
					}
				}
			})
		}
	}
}

// gatedBucket blocks Puts while armed, to hold a zombie's upload in flight.
type gatedBucket struct {
	store.Bucket
	armed   atomic.Bool
	blocked chan struct{} // receives when a Put is held
	release chan struct{}
}

func (g *gatedBucket) Put(ctx context.Context, key string, r io.Reader, size int64, opts store.PutOptions) error {
	if g.armed.Load() {
		g.blocked <- struct{}{}
		<-g.release
	}
	return g.Bucket.Put(ctx, key, r, size, opts)
}

// zombieRun: the old owner A closes window 0 at a different record than the
// new owner B (A by idleness, B by the watermark, or the reverse), and A's
// upload of it is held until B has written everything. Returns the bucket.
func zombieRun(t *testing.T, zombieIdles bool) (*store.Memory, *fakeCommitter, pipeline.Outcome) {
	t.Helper()
	mem := store.NewMemory("b")
	s := defaultSettings(t)
	newP := func(b store.Bucket, com *fakeCommitter, clk *fakeClock, off int64, st pipeline.CommitState) *pipeline.Partition {
		up := &pipeline.Uploader{Bucket: b, Schedule: [][]time.Duration{{0}}, Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}
		return pipeline.NewPartition(topic, part, s, pipeline.PartitionDeps{Uploader: up, Commit: com.Commit, Now: clk.Now}, off, st)
	}
	msg := func(i int64) pipeline.Message {
		ms := t0 + i*20000 // 30 records per window
		return pipeline.Message{Offset: i, Time: time.UnixMilli(ms), Value: hit(fmt.Sprint("r", i), ms)}
	}
	ctx := context.Background()
	// A: records 0..9 of window 0, then (zombieIdles) a quiet spell closes
	// window 0 by idleness; its upload hangs.
	gate := &gatedBucket{Bucket: mem, blocked: make(chan struct{}), release: make(chan struct{})}
	comA := &fakeCommitter{}
	clkA := &fakeClock{t: time.UnixMilli(t0)}
	a := newP(gate, comA, clkA, 0, pipeline.CommitState{})
	nA := int64(10)
	if !zombieIdles {
		nA = 40 // A sees window 0 close by the watermark: records 0..29
	}
	for i := int64(0); i < nA; i++ {
		clkA.Set(time.UnixMilli(t0 + i*20000))
		if err := a.Handle(ctx, msg(i)); err != nil {
			t.Fatal(err)
		}
		if !zombieIdles && i == 32 { // window 0 closed at record 33 (time >= end + lateness)
			break
		}
	}
	gate.armed.Store(true)
	done := make(chan error, 1)
	go func() {
		if zombieIdles {
			clkA.Advance(time.Hour)
			done <- a.Tick(ctx)
		} else {
			done <- a.Handle(ctx, msg(33))
		}
	}()
	<-gate.blocked // A's upload of window 0 is in flight
	// The generation ends: A can no longer commit.
	comA.mu.Lock()
	comA.fail = true
	comA.mu.Unlock()
	cA, _ := comA.last()
	// B: resumes from A's last commit, reads to 120, drains.
	comB := &fakeCommitter{}
	clkB := &fakeClock{t: time.UnixMilli(t0)}
	b := newP(mem, comB, clkB, cA.Offset, cA.State)
	var driftB time.Duration
	for i := cA.Offset; i < 120; i++ {
		if !zombieIdles && i == 10 {
			// B's turn to see a quiet spell: at wall clock end(window 0) +
			// lateness it closes window 0 by idleness, with records 0..9.
			driftB = 11*time.Minute - 200*time.Second
			clkB.Set(time.UnixMilli(t0 + i*20000).Add(driftB))
			if err := b.Tick(ctx); err != nil {
				t.Fatal(err)
			}
		}
		clkB.Set(time.UnixMilli(t0 + i*20000).Add(driftB))
		if err := b.Handle(ctx, msg(i)); err != nil {
			t.Fatal(err)
		}
	}
	clkB.Advance(3 * time.Hour)
	if err := b.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	// Now A's upload goes through.
	k0 := key(pipeline.KindHits, t0, 0)
	before, _ := mem.Stat(ctx, k0)
	gate.armed.Store(false)
	close(gate.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	a.Close()
	after, _ := mem.Stat(ctx, k0)
	return mem, comB, pipeline.Outcome{Superseded: before.ETag == after.ETag}
}

// The old owner's late upload must not replace the new owner's object that
// holds more records.
func TestPartitionZombieCannotShrinkObject(t *testing.T) {
	mem, comB, out := zombieRun(t, true)
	if !out.Superseded {
		t.Fatal("the zombie's 10-record object replaced the new owner's")
	}
	ctx := context.Background()
	info, err := mem.Stat(ctx, key(pipeline.KindHits, t0, 0))
	if err != nil || info.Metadata[pipeline.MetaRecordCount] != "30" {
		t.Fatalf("window 0 object: %v %v", info.Metadata, err)
	}
	if c, _ := comB.last(); c.Offset != 120 {
		t.Fatalf("new owner committed %d", c.Offset)
	}
	c, err := verify.ReadBucket(ctx, mem, "")
	if err != nil {
		t.Fatal(err)
	}
	var manifest []gen.Expect
	for i := int64(0); i < 120; i++ {
		manifest = append(manifest, gen.Expect{ID: fmt.Sprint("r", i), Valid: true, TimeMillis: t0 + i*20000 - (t0+i*20000)%1000})
	}
	if rep := verify.Compare(c, manifest, W); !rep.OK() {
		t.Fatalf("%+v", rep)
	}
}

// The old owner's late upload holds more records of window 0 than the new
// owner's object under the same key (the new owner closed the window early by
// idleness): it may replace it (a superset) — never a loss.
func TestPartitionZombieSupersetNoLoss(t *testing.T) {
	mem, _, out := zombieRun(t, false)
	ctx := context.Background()
	c, err := verify.ReadBucket(ctx, mem, "")
	if err != nil {
		t.Fatal(err)
	}
	var manifest []gen.Expect
	for i := int64(0); i < 120; i++ {
		manifest = append(manifest, gen.Expect{ID: fmt.Sprint("r", i), Valid: true, TimeMillis: t0 + i*20000 - (t0+i*20000)%1000})
	}
	rep := verify.Compare(c, manifest, W)
	if rep.Missing != 0 || rep.WrongWindow != 0 || rep.Unexpected != 0 {
		t.Fatalf("%+v", rep)
	}
	if out.Superseded {
		t.Fatal("the scenario did not exercise the replacement by a superset")
	}
	t.Logf("zombie superset replaced the object: %v; %d duplicates", !out.Superseded, rep.Duplicates)
}
