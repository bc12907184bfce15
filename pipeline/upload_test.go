package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/pipeline"
	"github.com/hitexport/hitexport/store"
)

// metricValue reads a counter or gauge.
func metricValue(t testing.TB, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	go func() { c.Collect(ch); close(ch) }()
	var sum float64
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		switch {
		case d.Counter != nil:
			sum += d.Counter.GetValue()
		case d.Gauge != nil:
			sum += d.Gauge.GetValue()
		}
	}
	return sum
}

func mustEncoder(t testing.TB, format string) encoders.Encoder {
	t.Helper()
	e, err := encoders.New(format)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestLayoutKey(t *testing.T) {
	const ws = 1687241400000
	tests := []struct {
		format string
		comp   encoders.Compression
		kind   pipeline.Kind
		want   string
	}{
		{"ndjson", encoders.Zstd, pipeline.KindHits, "hitlogs-1687241400-hits-3-42.ndjson.zst"},
		{"ndjson", encoders.None, pipeline.KindHits, "hitlogs-1687241400-hits-3-42.ndjson"},
		{"ndjson", encoders.Gzip, pipeline.KindLate, "hitlogs-1687241400-hits-3-42.ndjson.gz"},
		{"json", encoders.None, pipeline.KindHits, "hitlogs-1687241400-hits-3-42.json"},
		{"json", encoders.Gzip, pipeline.KindHits, "hitlogs-1687241400-hits-3-42.json.gz"},
		{"json", encoders.Zstd, pipeline.KindRejected, "rejected/hitlogs-1687241400-hits-3-42.rejected.ndjson.zst"},
		{"ndjson", encoders.None, pipeline.KindRejected, "rejected/hitlogs-1687241400-hits-3-42.rejected.ndjson"},
		{"ndjson", encoders.Gzip, pipeline.KindRejected, "rejected/hitlogs-1687241400-hits-3-42.rejected.ndjson.gz"},
	}
	for _, tc := range tests {
		l := pipeline.Layout{Encoder: mustEncoder(t, tc.format), Compression: tc.comp, Window: 10 * time.Minute}
		if got := l.Key(tc.kind, ws, "hits", 3, 42); got != tc.want {
			t.Errorf("%s/%s/%s: %q, want %q", tc.format, tc.comp, tc.kind, got, tc.want)
		}
	}
	// The key is determined by window, topic, partition and first offset.
	l := pipeline.Layout{Encoder: mustEncoder(t, "ndjson"), Compression: encoders.None, Window: 10 * time.Minute}
	a := l.Key(pipeline.KindHits, ws, "hits", 3, 42)
	for _, b := range []string{
		l.Key(pipeline.KindHits, ws+600000, "hits", 3, 42),
		l.Key(pipeline.KindHits, ws, "hits2", 3, 42),
		l.Key(pipeline.KindHits, ws, "hits", 4, 42),
		l.Key(pipeline.KindHits, ws, "hits", 3, 43),
	} {
		if a == b {
			t.Errorf("different objects share key %s", a)
		}
	}
	if l.Key(pipeline.KindHits, ws, "t", 0, 1) != l.Key(pipeline.KindHits, ws, "t", 0, 1) {
		t.Error("key not deterministic")
	}
	// Negative window starts (a Kafka timestamp of 0 for rejected) still form a key.
	if k := l.Key(pipeline.KindRejected, 0, "t", 0, 1); k != "rejected/hitlogs-0-t-0-1.rejected.ndjson" {
		t.Errorf("rejected key at epoch: %s", k)
	}
	for _, f := range encoders.Formats() {
		l := pipeline.Layout{Encoder: mustEncoder(t, f), Compression: encoders.Zstd}
		if !strings.HasSuffix(l.Key(pipeline.KindHits, ws, "t", 0, 1), l.Ext()) || !strings.HasSuffix(l.Ext(), ".zst") {
			t.Errorf("%s: key does not end in %s", f, l.Ext())
		}
	}
}

// --- Uploader ---

var testSchedule = [][]time.Duration{
	{1 * time.Second, 3 * time.Second, 5 * time.Second, 10 * time.Second, 10 * time.Second},
	{0, 1 * time.Second, 3 * time.Second, 5 * time.Second, 30 * time.Second},
	{1 * time.Minute, 1 * time.Minute, 3 * time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute},
}

type sleepRecorder struct {
	mu    sync.Mutex
	waits []time.Duration
	hook  func(n int) error // called after recording the n-th wait (1-based)
}

func (s *sleepRecorder) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	n := len(s.waits)
	s.mu.Unlock()
	if s.hook != nil {
		if err := s.hook(n); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func spoolOf(t testing.TB, data []byte) *pipeline.Spool {
	t.Helper()
	s := pipeline.NewSpool(1<<20, t.TempDir(), nil)
	if _, err := s.Write(data); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func upload(t testing.TB, key string, data []byte, first, last int64) pipeline.Upload {
	return pipeline.Upload{
		Key:   key,
		Spool: spoolOf(t, data),
		Opts: store.PutOptions{ContentType: "application/x-ndjson", Metadata: map[string]string{
			pipeline.MetaFirstOffset: strconv.FormatInt(first, 10),
			pipeline.MetaLastOffset:  strconv.FormatInt(last, 10),
		}},
		Range:  pipeline.Range{Window: 1687241400000, First: first, Last: last},
		Kind:   pipeline.KindHits,
		Format: "ndjson",
		Count:  int(last - first + 1),
	}
}

func getObject(t testing.TB, b store.Bucket, key string) []byte {
	t.Helper()
	rc, err := b.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestUploaderRetrySchedule(t *testing.T) {
	mem := store.NewMemory("b")
	const failures = 25
	mem.FailPuts = failures
	rec := &sleepRecorder{}
	m := pipeline.NewMetrics(nil, nil)
	up := &pipeline.Uploader{Bucket: mem, Schedule: testSchedule, Sleep: rec.Sleep, Metrics: m}
	var paused []bool
	u := upload(t, "k", []byte("data\n"), 0, 0)
	u.OnPaused = func(on bool) { paused = append(paused, on) }
	out, err := up.Upload(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	if out.Attempts != failures+1 || out.Superseded {
		t.Fatalf("outcome %+v", out)
	}
	s, m1, m3, m5, m10, m30 := time.Second, time.Minute, 3*time.Minute, 5*time.Minute, 10*time.Minute, 30*time.Minute
	want := []time.Duration{
		1 * s, 3 * s, 5 * s, 10 * s, 10 * s, // first cycle
		0, 1 * s, 3 * s, 5 * s, 30 * s, // second
		m1, m1, m3, m5, m10, m30, // third
		m1, m1, m3, m5, m10, m30, // the last cycle again
		m1, m1, m3, // and again
	}
	if len(rec.waits) != len(want) {
		t.Fatalf("waits %v", rec.waits)
	}
	for i := range want {
		if rec.waits[i] != want[i] {
			t.Fatalf("wait %d = %v, want %v (all: %v)", i, rec.waits[i], want[i], rec.waits)
		}
	}
	if string(getObject(t, mem, "k")) != "data\n" {
		t.Fatal("object content")
	}
	if len(paused) != 2 || !paused[0] || paused[1] {
		t.Fatalf("OnPaused calls %v, want [true false]", paused)
	}
	if got := metricValue(t, m.UploadRetries); got != failures {
		t.Errorf("UploadRetries = %v", got)
	}
	if got := metricValue(t, m.UploadFailures); got != failures {
		t.Errorf("UploadFailures = %v", got)
	}
	if got := metricValue(t, m.Objects); got != 1 {
		t.Errorf("Objects = %v", got)
	}
}

func TestUploaderSuccessAfterFailures(t *testing.T) {
	for _, fails := range []int{0, 1, 4, 5, 6} {
		mem := store.NewMemory("b")
		mem.FailPuts = fails
		rec := &sleepRecorder{}
		up := &pipeline.Uploader{Bucket: mem, Schedule: testSchedule, Sleep: rec.Sleep}
		out, err := up.Upload(context.Background(), upload(t, "k", []byte("x"), 5, 9))
		if err != nil || out.Attempts != fails+1 || len(rec.waits) != fails {
			t.Fatalf("fails=%d: %+v %v waits %v", fails, out, err, rec.waits)
		}
		info, err := mem.Stat(context.Background(), "k")
		if err != nil || info.Metadata[pipeline.MetaLastOffset] != "9" || info.Size != 1 {
			t.Fatalf("fails=%d: stat %+v %v", fails, info, err)
		}
	}
}

func TestUploaderFencing(t *testing.T) {
	tests := []struct {
		name          string
		existingLast  int64
		newLast       int64
		superseded    bool
		wantInBucket  string
		wantExistingL int64
	}{
		{"existing has more records", 20, 15, true, "old", 20},
		{"existing has as many records", 15, 15, true, "old", 15},
		{"existing has fewer records", 12, 15, false, "new", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			mem := store.NewMemory("b")
			up := &pipeline.Uploader{Bucket: mem, Schedule: testSchedule, Sleep: (&sleepRecorder{}).Sleep, Metrics: pipeline.NewMetrics(nil, nil)}
			if _, err := up.Upload(ctx, upload(t, "k", []byte("old"), 10, tc.existingLast)); err != nil {
				t.Fatal(err)
			}
			before, _ := mem.Stat(ctx, "k")
			out, err := up.Upload(ctx, upload(t, "k", []byte("new"), 10, tc.newLast))
			if err != nil {
				t.Fatal(err)
			}
			if out.Superseded != tc.superseded {
				t.Fatalf("Superseded = %v", out.Superseded)
			}
			if got := string(getObject(t, mem, "k")); got != tc.wantInBucket {
				t.Fatalf("bucket holds %q, want %q", got, tc.wantInBucket)
			}
			after, _ := mem.Stat(ctx, "k")
			if tc.superseded {
				if after.ETag != before.ETag {
					t.Fatal("superseded upload rewrote the object")
				}
				if out.Existing != (pipeline.Range{Window: 1687241400000, First: 10, Last: tc.wantExistingL}) {
					t.Fatalf("Existing = %+v", out.Existing)
				}
				if metricValue(t, up.Metrics.Superseded) != 1 {
					t.Fatal("Superseded metric")
				}
			} else if after.Metadata[pipeline.MetaLastOffset] != strconv.FormatInt(tc.newLast, 10) {
				t.Fatalf("metadata not replaced: %v", after.Metadata)
			}
		})
	}
}

// racingBucket lets another writer replace the key between the uploader's
// Stat and its Put, a number of times.
type racingBucket struct {
	*store.Memory
	races   int
	lastOff int64
}

func (r *racingBucket) Put(ctx context.Context, key string, rd io.Reader, size int64, opts store.PutOptions) error {
	if r.races > 0 {
		r.races--
		r.lastOff++
		meta := map[string]string{pipeline.MetaFirstOffset: "10", pipeline.MetaLastOffset: strconv.FormatInt(r.lastOff, 10)}
		if err := r.Memory.Put(ctx, key, strings.NewReader("other"+strconv.FormatInt(r.lastOff, 10)), int64(len("other")+len(strconv.FormatInt(r.lastOff, 10))), store.PutOptions{Metadata: meta}); err != nil {
			return err
		}
	}
	return r.Memory.Put(ctx, key, rd, size, opts)
}

func TestUploaderConditionalRace(t *testing.T) {
	ctx := context.Background()
	// Another writer with fewer records slips in once: our write still wins.
	rb := &racingBucket{Memory: store.NewMemory("b"), races: 1, lastOff: 10}
	up := &pipeline.Uploader{Bucket: rb, Schedule: testSchedule, Sleep: (&sleepRecorder{}).Sleep}
	out, err := up.Upload(ctx, upload(t, "k", []byte("mine"), 10, 50))
	if err != nil || out.Superseded {
		t.Fatalf("%+v %v", out, err)
	}
	if got := string(getObject(t, rb.Memory, "k")); got != "mine" {
		t.Fatalf("bucket holds %q", got)
	}
	// Another writer with more records slips in: ours is superseded, theirs kept.
	rb = &racingBucket{Memory: store.NewMemory("b"), races: 1, lastOff: 99}
	up.Bucket = rb
	out, err = up.Upload(ctx, upload(t, "k", []byte("mine"), 10, 50))
	if err != nil || !out.Superseded || out.Existing.Last != 100 {
		t.Fatalf("%+v %v", out, err)
	}
	if got := string(getObject(t, rb.Memory, "k")); got != "other100" {
		t.Fatalf("bucket holds %q", got)
	}
	// A key that keeps changing fails the attempt; the retry then succeeds.
	rb = &racingBucket{Memory: store.NewMemory("b"), races: 7, lastOff: 0}
	rec := &sleepRecorder{}
	up = &pipeline.Uploader{Bucket: rb, Schedule: testSchedule, Sleep: rec.Sleep}
	out, err = up.Upload(ctx, upload(t, "k", []byte("mine"), 10, 50))
	if err != nil || out.Superseded || out.Attempts != 2 {
		t.Fatalf("%+v %v waits %v", out, err, rec.waits)
	}
	if got := string(getObject(t, rb.Memory, "k")); got != "mine" {
		t.Fatalf("bucket holds %q", got)
	}
}

func TestUploaderContextCancelStopsRetries(t *testing.T) {
	mem := store.NewMemory("b")
	mem.FailPuts = 1 << 30
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := &sleepRecorder{hook: func(n int) error {
		if n == 3 {
			cancel()
		}
		return nil
	}}
	up := &pipeline.Uploader{Bucket: mem, Schedule: testSchedule, Sleep: rec.Sleep}
	out, err := up.Upload(ctx, upload(t, "k", []byte("x"), 0, 0))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if out.Attempts != 3 || len(rec.waits) != 3 {
		t.Fatalf("attempts %d waits %v", out.Attempts, rec.waits)
	}
	if _, err := mem.Stat(context.Background(), "k"); !store.IsNotFound(err) {
		t.Fatal("object written")
	}

	// With the real sleep: a long wait is cut short by the cancel.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	up2 := &pipeline.Uploader{Bucket: mem, Schedule: [][]time.Duration{{time.Hour}}}
	start := time.Now()
	_, err = up2.Upload(ctx2, upload(t, "k", []byte("x"), 0, 0))
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
}

// permanentBucket fails every Stat with a permanent error.
type permanentBucket struct{ *store.Memory }

func (permanentBucket) Stat(context.Context, string) (store.ObjectInfo, error) {
	return store.ObjectInfo{}, &store.PermanentError{Code: "AccessDenied", Err: errors.New("access denied")}
}

func TestUploaderPermanentErrorsStillRetry(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := pipeline.NewMetrics(nil, nil)
	rec := &sleepRecorder{hook: func(n int) error {
		if n == 4 {
			cancel()
		}
		return nil
	}}
	up := &pipeline.Uploader{Bucket: permanentBucket{store.NewMemory("b")}, Schedule: testSchedule, Sleep: rec.Sleep, Metrics: m}
	if _, err := up.Upload(ctx, upload(t, "k", []byte("x"), 0, 0)); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if got := metricValue(t, m.UploadFailures.WithLabelValues("permanent")); got != 4 {
		t.Fatalf("permanent failures %v", got)
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func TestHealthWithUploader(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1687241470, 0)}
	firstCycle := len(testSchedule[0])
	h := pipeline.NewHealth(12*time.Hour, 0.6, firstCycle, clk.Now)
	h.SetJoined(true)
	if s := h.Status(); !s.Ready || s.Degraded {
		t.Fatalf("fresh: %+v", s)
	}
	mem := store.NewMemory("b")
	mem.FailPuts = firstCycle + 2
	var statuses []pipeline.Status
	rec := &sleepRecorder{hook: func(int) error {
		statuses = append(statuses, h.Status())
		clk.Advance(time.Second)
		return nil
	}}
	up := &pipeline.Uploader{Bucket: mem, Schedule: testSchedule, Sleep: rec.Sleep, Health: h}
	if _, err := up.Upload(context.Background(), upload(t, "k", []byte("x"), 0, 0)); err != nil {
		t.Fatal(err)
	}
	for i, s := range statuses {
		failures := i + 1
		if s.ConsecutiveFailures != failures {
			t.Errorf("after %d failures: consecutive %d", failures, s.ConsecutiveFailures)
		}
		// Degraded once the first cycle has failed (ratio 1 >= 0.6); not
		// ready past the first cycle whatever the ratio.
		wantDeg := failures >= firstCycle
		if s.Degraded != wantDeg {
			t.Errorf("after %d failures: degraded %v (ratio %v)", failures, s.Degraded, s.FailureRatio)
		}
		// Degraded alone does not make it unready: only failing past the
		// first cycle (or not being joined) does.
		if wantReady := failures <= firstCycle; s.Ready != wantReady {
			t.Errorf("after %d failures: ready %v (%s)", failures, s.Ready, s.Reason)
		}
		if failures > firstCycle && s.Reason != "uploads failing past the first retry cycle" {
			t.Errorf("after %d failures: reason %q", failures, s.Reason)
		}
		if s.LastError == "" || s.LastErrorAt == "" {
			t.Errorf("after %d failures: no last error", failures)
		}
	}
	s := h.Status()
	if s.ConsecutiveFailures != 0 {
		t.Fatalf("after success: %+v", s)
	}
	// 7 failed, 1 ok: ratio 7/8, still degraded until enough successes, but
	// ready again since uploads succeed.
	if !s.Degraded || !s.Ready || s.FailureRatio != 7.0/8 || s.Attempts != 8 {
		t.Fatalf("ratio: %+v", s)
	}
	for i := 0; i < 4; i++ {
		h.SuccessOf("k")
	}
	if s := h.Status(); s.FailureRatio != 7.0/12 || s.Degraded || !s.Ready {
		t.Fatalf("7/12 below 0.6: %+v", s)
	}
	// Outside the failure window everything is forgotten but the last error.
	clk.Advance(13 * time.Hour)
	if s := h.Status(); s.Attempts != 0 || s.FailureRatio != 0 || s.Degraded || !s.Ready {
		t.Fatalf("after the window: %+v", s)
	}
	h.SetJoined(false)
	if s := h.Status(); s.Ready || s.Reason == "" {
		t.Fatalf("not joined: %+v", s)
	}
}

func TestHealthDegradedNeedsFirstCycle(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	h := pipeline.NewHealth(time.Hour, 0.6, 5, clk.Now)
	h.SetJoined(true)
	// 4 failures of 4 attempts: ratio 1 but fewer than the first cycle.
	for i := 0; i < 4; i++ {
		h.FailureOf("k", errors.New("boom"))
	}
	if s := h.Status(); s.Degraded || !s.Ready || s.FailureRatio != 1 {
		t.Fatalf("%+v", s)
	}
	h.FailureOf("k", errors.New("boom"))
	if s := h.Status(); !s.Degraded || !s.Ready || !strings.Contains(s.Reason, "degraded") {
		t.Fatalf("5 of 5 failed (5 = first cycle: degraded, still ready): %+v", s)
	}
	h.FailureOf("k", errors.New("boom"))
	if s := h.Status(); !s.Degraded || s.Ready {
		t.Fatalf("6 of 6 failed (past the first cycle): %+v", s)
	}
	h.SuccessOf("k")
	if s := h.Status(); s.ConsecutiveFailures != 0 || !s.Degraded {
		t.Fatalf("6 of 7 failed: %+v", s)
	}
	h.FailureOf("k", errors.New("boom"))
	if s := h.Status(); !strings.Contains(s.Reason, "upload failure ratio above threshold") || s.LastError != "boom" {
		t.Fatalf("%+v", s)
	}
}

func TestUploaderBytesAreTheSpool(t *testing.T) {
	// Large object through a spilled spool: the bucket holds exactly its bytes.
	mem := store.NewMemory("b")
	data := bytes.Repeat([]byte("0123456789"), 300000)
	sp := pipeline.NewSpool(1024, t.TempDir(), nil)
	defer sp.Close()
	if _, err := sp.Write(data); err != nil {
		t.Fatal(err)
	}
	u := upload(t, "big", nil, 0, 0)
	u.Spool = sp
	mem.FailPuts = 2 // the retries re-read the spool from the start
	up := &pipeline.Uploader{Bucket: mem, Schedule: testSchedule, Sleep: (&sleepRecorder{}).Sleep}
	if _, err := up.Upload(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(getObject(t, mem, "big"), data) {
		t.Fatal("bytes differ")
	}
}

// The degraded gauge follows the health state on every attempt, without
// anyone polling /readyz.
func TestUploaderDegradedGauge(t *testing.T) {
	mem := store.NewMemory("b")
	mem.FailPuts = 6
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	h := pipeline.NewHealth(time.Hour, 0.6, 5, clk.Now)
	h.SetJoined(true)
	m := pipeline.NewMetrics(nil, nil)
	rec := &sleepRecorder{}
	up := &pipeline.Uploader{Bucket: mem, Schedule: testSchedule, Sleep: rec.Sleep, Health: h, Metrics: m}
	if _, err := up.Upload(context.Background(), upload(t, "k", []byte("x"), 0, 0)); err != nil {
		t.Fatal(err)
	}
	// 6 failures and 1 success: ratio 6/7 ≥ 0.6 → degraded.
	if got := testutil.ToFloat64(m.Degraded); got != 1 {
		t.Fatalf("degraded gauge %v after 6 of 7 attempts failed", got)
	}
	for i := 0; i < 10; i++ {
		if _, err := up.Upload(context.Background(), upload(t, fmt.Sprintf("k%d", i), []byte("x"), 0, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if got := testutil.ToFloat64(m.Degraded); got != 0 {
		t.Fatalf("degraded gauge %v after 10 successes (6 of 17 failed)", got)
	}
}

// Readiness counts the failed attempts of each upload on its own: two
// partitions failing three times each (six failures) are still within a
// first cycle of five; an abandoned upload no longer counts.
func TestHealthPerUpload(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	h := pipeline.NewHealth(time.Hour, 0.6, 5, clk.Now)
	h.SetJoined(true)
	for i := 0; i < 3; i++ {
		h.FailureOf("p0", errors.New("down"))
		h.FailureOf("p1", errors.New("down"))
	}
	if s := h.Status(); !s.Ready || s.ConsecutiveFailures != 3 {
		t.Fatalf("3+3 failures: %+v", s)
	}
	for i := 0; i < 3; i++ {
		h.FailureOf("p1", errors.New("down"))
	}
	if s := h.Status(); s.Ready || s.ConsecutiveFailures != 6 {
		t.Fatalf("p1 failed 6 times: %+v", s)
	}
	h.Abandon("p1")
	if s := h.Status(); !s.Ready || s.ConsecutiveFailures != 3 {
		t.Fatalf("p1 abandoned: %+v", s)
	}
	h.SuccessOf("p0")
	if s := h.Status(); s.ConsecutiveFailures != 0 {
		t.Fatalf("p0 succeeded: %+v", s)
	}
}

// TestUploaderBefore: Before (the window layout's offsets index) runs in the
// attempt right before the object is written: its failure fails the
// attempt (retried on the schedule, the object not written meanwhile), and
// it does not run when the key already holds as many records.
func TestUploaderBefore(t *testing.T) {
	mem := store.NewMemory("b")
	rec := &sleepRecorder{}
	up := &pipeline.Uploader{Bucket: mem, Schedule: testSchedule, Sleep: rec.Sleep}
	calls, failures := 0, 2
	u := upload(t, "k", []byte("x"), 5, 9)
	u.Before = func(ctx context.Context) error {
		calls++
		if _, err := mem.Stat(ctx, "k"); err == nil {
			t.Error("the object was written before Before succeeded")
		}
		if calls <= failures {
			return errors.New("index write failed")
		}
		return nil
	}
	out, err := up.Upload(context.Background(), u)
	if err != nil || out.Attempts != 3 || calls != 3 || len(rec.waits) != 2 {
		t.Fatalf("upload %+v %v, Before calls %d, waits %v", out, err, calls, rec.waits)
	}
	if _, err := mem.Stat(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	calls, failures = 0, 0
	out, err = up.Upload(context.Background(), u) // the same records again: superseded
	if err != nil || !out.Superseded || calls != 0 {
		t.Fatalf("superseded upload %+v %v, Before calls %d", out, err, calls)
	}
}
