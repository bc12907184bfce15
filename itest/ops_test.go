//go:build integration

// Operations suite: every metric observed with plausible values, health and
// readiness (with the S3 server stopped and started again), the logs, replay
// for backfill and the offsets command — against the real Kafka and S3.
package itest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/hits"
	"github.com/hitexport/hitexport/pipeline"
	"github.com/hitexport/hitexport/store"
	"github.com/hitexport/hitexport/verify"
)

// ---------------------------------------------------------------- metrics, health, logs

// TestOpsMetrics runs the exporter on hits, late hits, malformed records and
// hits of the current window (which stay open), and checks every metric
// declared in pipeline/metrics.go against the bucket and Kafka; /healthz and
// /readyz; the logs (one line per uploaded object, none per record); and
// the time a SIGTERM takes.
func TestOpsMetrics(t *testing.T) {
	e := newEnv(t, 2)
	opts := pastHour(31, 3000)
	opts.LateFraction, opts.BadFraction = 0.03, 0.03
	recs := gen.Generate(opts)
	msgs := stamped(recs, opts, 2, 3*time.Second)
	// Current window: 20 hits on partition 0 (more than SPOOL_MEMORY: spilled
	// to disk) and 1 on partition 1 (kept in memory). Their event time is 2
	// minutes ahead, so the window stays open for the whole test.
	cur := gen.Generate(gen.Options{Seed: 32, Count: 21, Start: time.Now().Add(2 * time.Minute), Span: time.Second})
	for i, r := range cur {
		p := 0
		if i == len(cur)-1 {
			p = 1
		}
		msgs = append(msgs, stampedMsg{Partition: p, Time: time.Now(), Key: r.Key, Value: r.Value})
	}
	e.produceAt(msgs)
	produced := map[int]int{}
	for _, m := range msgs {
		produced[m.Partition]++
	}

	// The partition layout: every upload is an object of the bucket, with
	// per-object metrics (the window layout's merges: TestExportWindowLayout).
	x := e.start(map[string]string{"HITEXPORT_SPOOL_MEMORY": "4096", "HITEXPORT_IDLE_TIMEOUT": "2s", "HITEXPORT_LOG_LEVEL": "info",
		"HITEXPORT_LAYOUT": "partition"})
	addr := x.httpAddr(t)
	if code, body := mustGet(t, addr, "/healthz"); code != 200 || !strings.Contains(body, `"ok"`) {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	waitFor(t, 60*time.Second, "/readyz 200 after joining", func() bool {
		r := readyz(t, addr)
		return r.Code == 200 && r.Ready && r.Joined
	}, x)

	// Wait until everything but the two open windows is uploaded and
	// committed: every record consumed, both current objects open, and the
	// commit at the first offset of each.
	var m metrics
	waitFor(t, 2*time.Minute, "all records consumed, the past uploaded, two objects open", func() bool {
		m = mustScrape(t, addr)
		if m.sum("hitexport_records_consumed_total") != float64(len(msgs)) || m.sum("hitexport_open_objects") != 2 {
			return false
		}
		c := e.committedOffsets()
		for p := 0; p < 2; p++ {
			if v, _ := m.get("hitexport_committed_offset", "partition", strconv.Itoa(p)); int64(v) != c[p].Committed || c[p].Committed <= 0 {
				return false
			}
			if c[p].End-c[p].Committed != map[int]int64{0: 20, 1: 1}[p] {
				return false
			}
		}
		return true
	}, x)
	time.Sleep(1500 * time.Millisecond) // a tick later: gauges settle
	_ = readyz(t, addr)                 // /readyz refreshes the degraded gauge
	m = mustScrape(t, addr)
	objs := readObjects(t, e.bucket)
	committed := e.committedOffsets()

	// What the bucket holds, by kind and by the format label of the metrics.
	byKind := map[string]int{}
	bytesByFormat := map[string]float64{}
	lateRecords := int64(0)
	for _, o := range objs {
		kind := o.Meta["kind"]
		byKind[kind]++
		format := "ndjson"
		if kind == "rejected" {
			format = "rejected"
		}
		bytesByFormat[format] += float64(o.Size)
		if kind == "late" {
			lateRecords += o.int(t, "record-count")
		}
	}
	reasons := map[string]int{}
	for _, r := range recs {
		if !r.Expect.Valid {
			reasons[r.Expect.Reason]++
		}
	}
	if byKind["hits"] == 0 || byKind["late"] == 0 || byKind["rejected"] == 0 || len(reasons) < 3 {
		t.Fatalf("the data should give hits, late and rejected objects and several reasons: %v %v", byKind, reasons)
	}
	total := float64(len(objs))
	started := time.Now()

	type check func(name string) error
	eq := func(got, want float64, what string) error {
		if got != want {
			return fmt.Errorf("%s: got %v, want %v", what, got, want)
		}
		return nil
	}
	perPartition := func(name string, want func(p int) float64) error {
		for p := 0; p < 2; p++ {
			v, ok := m.get(name, "partition", strconv.Itoa(p))
			if !ok {
				return fmt.Errorf("no sample for partition %d", p)
			}
			if err := eq(v, want(p), "partition "+strconv.Itoa(p)); err != nil {
				return err
			}
		}
		return nil
	}
	checks := map[string]check{
		"hitexport_records_consumed_total": func(n string) error {
			return perPartition(n, func(p int) float64 { return float64(produced[p]) })
		},
		"hitexport_records_rejected_total": func(n string) error {
			for _, r := range hits.Reasons {
				v, ok := m.get(n, "reason", string(r))
				if !ok {
					return fmt.Errorf("no sample for reason %s", r)
				}
				if err := eq(v, float64(reasons[string(r)]), "reason "+string(r)); err != nil {
					return err
				}
			}
			return nil
		},
		"hitexport_records_late_total": func(n string) error {
			if lateRecords == 0 {
				return errors.New("no late records in the bucket")
			}
			return eq(m.sum(n), float64(lateRecords), "late hits vs record-count of late objects")
		},
		"hitexport_records_skipped_total": func(n string) error { return eq(m.sum(n), 0, "first run skips nothing") },
		"hitexport_open_objects": func(n string) error {
			return perPartition(n, func(int) float64 { return 1 })
		},
		"hitexport_oldest_open_object_age_seconds": func(n string) error {
			for p := 0; p < 2; p++ {
				v, ok := m.get(n, "partition", strconv.Itoa(p))
				if !ok || v <= 0 || v > time.Since(started).Seconds()+300 {
					return fmt.Errorf("partition %d: %v (want > 0 and below the test's age)", p, v)
				}
			}
			return nil
		},
		"hitexport_objects_uploaded_total": func(n string) error {
			for kind, want := range byKind {
				format := "ndjson"
				if kind == "rejected" {
					format = "rejected"
				}
				v, _ := m.get(n, "format", format, "kind", kind)
				if err := eq(v, float64(want), "objects of kind "+kind); err != nil {
					return err
				}
			}
			return eq(m.sum(n), total, "all objects")
		},
		"hitexport_bytes_uploaded_total": func(n string) error {
			for f, want := range bytesByFormat {
				v, _ := m.get(n, "format", f)
				if err := eq(v, want, "bytes of format "+f+" vs object sizes"); err != nil {
					return err
				}
			}
			return nil
		},
		"hitexport_upload_duration_seconds": func(n string) error {
			cnt, _ := m.get(n + "_count")
			sum, _ := m.get(n + "_sum")
			inf, _ := m.get(n+"_bucket", "le", "+Inf")
			if cnt != total || inf != total || sum <= 0 || sum > 60*total {
				return fmt.Errorf("count %v, +Inf %v, sum %v (want count = %v objects, plausible sum)", cnt, inf, sum, total)
			}
			prev := -1.0
			bs := m[n+"_bucket"]
			sort.Slice(bs, func(i, j int) bool { return leOf(bs[i]) < leOf(bs[j]) })
			for _, b := range bs {
				if b.Value < prev {
					return fmt.Errorf("buckets not cumulative: %v", bs)
				}
				prev = b.Value
			}
			return nil
		},
		"hitexport_upload_retries_total": func(n string) error { return eq(m.sum(n), 0, "no retries against a healthy S3") },
		"hitexport_upload_failures_total": func(n string) error {
			for _, class := range []string{"retryable", "permanent"} {
				v, ok := m.get(n, "class", class)
				if !ok {
					return fmt.Errorf("no sample for class %s", class)
				}
				if err := eq(v, 0, class); err != nil {
					return err
				}
			}
			return nil
		},
		"hitexport_uploads_superseded_total": func(n string) error { return eq(m.sum(n), 0, "nothing in the bucket before") },
		"hitexport_committed_offset": func(n string) error {
			return perPartition(n, func(p int) float64 { return float64(committed[p].Committed) })
		},
		"hitexport_lag_records": func(n string) error {
			return perPartition(n, func(p int) float64 { return float64(committed[p].End - committed[p].Committed) })
		},
		"hitexport_partition_paused": func(n string) error { return perPartition(n, func(int) float64 { return 0 }) },
		"hitexport_degraded":         func(n string) error { return eq(m.sum(n), 0, "healthy") },
		"hitexport_assigned_partitions": func(n string) error {
			return eq(m.sum(n), 2, "one replica owns both partitions")
		},
		"hitexport_generations_total": func(n string) error {
			if v := m.sum(n); v < 1 {
				return fmt.Errorf("%v generations", v)
			}
			return nil
		},
		"hitexport_commits_total": func(n string) error {
			ok, _ := m.get(n, "result", "ok")
			if ok < 2 {
				return fmt.Errorf("%v successful commits", ok)
			}
			if bad, _ := m.get(n, "result", "error"); bad != 0 {
				return fmt.Errorf("%v failed commits", bad)
			}
			return nil
		},
		"hitexport_spool_bytes": func(n string) error {
			mem, _ := m.get(n, "where", "memory")
			disk, _ := m.get(n, "where", "disk")
			if mem <= 0 || mem > 4096 || disk <= 4096 {
				return fmt.Errorf("memory %v (want the one small open object, ≤ SPOOL_MEMORY), disk %v (want the spilled one, > SPOOL_MEMORY)", mem, disk)
			}
			return nil
		},
	}
	for _, name := range metricNames(t) {
		_, plain := m[name]
		_, hist := m[name+"_count"]
		if !plain && !hist {
			t.Errorf("%s: not on /metrics", name)
			continue
		}
		c, ok := checks[name]
		if !ok {
			t.Errorf("%s: on /metrics, but this test has no plausibility check for it: add one", name)
			continue
		}
		if err := c(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	// Logs: one info line per uploaded object with what an operator needs,
	// and nothing per record at info.
	lines := parseLogs(t, x.out.String())
	uploads, info := 0, 0
	for _, l := range lines {
		if l.str("level") == "INFO" {
			info++
		}
		if l.str("msg") != "object uploaded" {
			continue
		}
		uploads++
		if l.str("level") != "INFO" {
			t.Errorf("upload line at level %s", l.str("level"))
		}
		o, ok := objs[l.str("key")]
		if !ok {
			t.Errorf("upload line names key %q, not in the bucket", l.str("key"))
			continue
		}
		records, _ := l.num("records")
		size, _ := l.num("bytes")
		first, _ := l.num("first_offset")
		last, _ := l.num("last_offset")
		if records != o.int(t, "record-count") || size != o.Size || first != o.int(t, "first-offset") || last != o.int(t, "last-offset") {
			t.Errorf("upload line %v does not match object %s (%v, %d bytes)", l, o.Key, o.Meta, o.Size)
		}
		if d, err := time.ParseDuration(l.str("duration")); err != nil || d <= 0 {
			t.Errorf("upload line duration %q", l.str("duration"))
		}
		if l.str("partition") == "" && l["partition"] == nil {
			t.Errorf("upload line without partition: %v", l)
		}
	}
	if uploads != len(objs) {
		t.Errorf("%d upload lines for %d objects", uploads, len(objs))
	}
	if info > len(objs)+20 {
		t.Errorf("%d info lines for %d objects and %d records: something logs per record", info, len(objs), len(msgs))
	}
	if strings.Contains(x.out.String(), secretKey) {
		t.Errorf("the S3 secret key appears in the logs")
	}

	// SIGTERM: the open objects are left uncommitted for the next owner.
	took := x.stop(t, 40*time.Second)
	t.Logf("shutdown (SIGTERM to exit, 2 objects open, nothing in flight): %s", took)
	if took > 10*time.Second {
		t.Errorf("shutdown took %s", took)
	}
	after := e.committedOffsets()
	for p := 0; p < 2; p++ {
		if after[p].Committed != committed[p].Committed {
			t.Errorf("partition %d: committed %d after shutdown, %d before", p, after[p].Committed, committed[p].Committed)
		}
	}
}

func leOf(s sample) float64 {
	if s.Labels["le"] == "+Inf" {
		return math.Inf(1)
	}
	v, _ := strconv.ParseFloat(s.Labels["le"], 64)
	return v
}

// TestOpsReadiness stops the test's own S3 server under a running exporter:
// /readyz turns 503 once the failures outlast the first retry cycle, the
// partition pauses, nothing is committed past the failed objects; when the
// server returns, uploads resume and /readyz turns 200 at once, reporting
// "degraded" (body and metric) while the failure ratio within FAILURE_WINDOW
// is above FAILURE_THRESHOLD, and no longer once the failures age out of the
// window. Nothing is lost. Last, a SIGTERM during an outage ends the process
// after SHUTDOWN_TIMEOUT with the failed objects uncommitted.
func TestOpsReadiness(t *testing.T) {
	s3 := startPrivateS3(t, accessKey, secretKey)
	e := newEnvOn(t, 2, s3.svc())
	const window = 6 * time.Second
	extra := map[string]string{
		"HITEXPORT_S3_ENDPOINT":       s3.addr,
		"HITEXPORT_RETRY_SCHEDULE":    "100ms,100ms,100ms;300ms",
		"HITEXPORT_FAILURE_WINDOW":    window.String(),
		"HITEXPORT_FAILURE_THRESHOLD": "0.2",
		"HITEXPORT_IDLE_TIMEOUT":      "1s",
		"HITEXPORT_SHUTDOWN_TIMEOUT":  "3s",
	}
	o1 := pastHour(41, 600)
	o1.BadFraction, o1.LateFraction = 0, 0
	batch1 := gen.Generate(o1)
	e.produce(batch1)
	x := e.start(extra)
	addr := x.httpAddr(t)
	e.waitCommitted(time.Minute, x)
	if r := readyz(t, addr); r.Code != 200 || !r.Ready {
		t.Fatalf("/readyz before the outage: %+v", r)
	}
	before := e.committedOffsets()

	s3.stop()
	stopped := time.Now()
	o2 := o1
	o2.Seed = 42
	batch2 := gen.Generate(o2)
	e.produce(batch2)
	var r readyState
	waitFor(t, time.Minute, "/readyz 503: uploads failing past the first retry cycle", func() bool {
		r = readyz(t, addr)
		return r.Code == 503 && r.ConsecutiveFailures > 3 && strings.Contains(r.Reason, "uploads failing")
	}, x)
	t.Logf("not ready %s after the S3 server stopped: %+v", time.Since(stopped).Round(time.Millisecond), r)
	if r.LastError == "" || strings.Contains(r.LastError, secretKey) {
		t.Errorf("last_error %q: want the cause, without secrets", r.LastError)
	}
	if code, _ := mustGet(t, addr, "/healthz"); code != 200 {
		t.Errorf("/healthz during the outage: %d (the process is alive)", code)
	}
	waitFor(t, 30*time.Second, "degraded=1, a paused partition, failures and retries counted", func() bool {
		_ = readyz(t, addr)
		m := mustScrape(t, addr)
		fails, _ := m.get("hitexport_upload_failures_total", "class", "retryable")
		deg, _ := m.get("hitexport_degraded")
		return deg == 1 && m.sum("hitexport_partition_paused") >= 1 && fails > 3 && m.sum("hitexport_upload_retries_total") > 3
	}, x)
	during := e.committedOffsets()
	for p, o := range during {
		if o.Committed != before[p].Committed || o.End <= o.Committed {
			t.Errorf("partition %d during the outage: committed %d (before %d), end %d: nothing may be committed past failed objects", p, o.Committed, before[p].Committed, o.End)
		}
	}

	s3.start()
	restarted := time.Now() // the script returns once the server answers HTTP
	// Ready again as soon as an upload succeeds; degraded (in the body and
	// the metric, not a reason to be unready) until the failures age out of
	// FAILURE_WINDOW.
	var readyAfter, healthyAfter time.Duration
	sawDegraded := false
	waitFor(t, window+30*time.Second, "/readyz 200 and no longer degraded after the S3 server returned", func() bool {
		r = readyz(t, addr)
		if r.Code == 200 && readyAfter == 0 {
			readyAfter = time.Since(restarted)
		}
		if r.Code == 200 && r.Degraded && r.ConsecutiveFailures == 0 && strings.Contains(r.Reason, "degraded") {
			if deg, _ := mustScrape(t, addr).get("hitexport_degraded"); deg == 1 {
				sawDegraded = true
			}
		}
		if r.Code == 200 && !r.Degraded {
			healthyAfter = time.Since(restarted)
			return true
		}
		return false
	}, x)
	t.Logf("after the S3 server returned: ready in %s, degraded until %s (FAILURE_WINDOW %s, FAILURE_THRESHOLD 0.2)",
		readyAfter.Round(time.Millisecond), healthyAfter.Round(time.Millisecond), window)
	if !sawDegraded {
		t.Errorf("after recovery /readyz (200) and the metric should report degraded while the failures within FAILURE_WINDOW are above the threshold")
	}
	if readyAfter > 10*time.Second {
		t.Errorf("ready only %s after recovery", readyAfter)
	}
	if healthyAfter < window/2 || healthyAfter > window+15*time.Second {
		t.Errorf("degraded for %s after recovery; want about FAILURE_WINDOW (%s)", healthyAfter, window)
	}
	m := mustScrape(t, addr)
	if deg, _ := m.get("hitexport_degraded"); deg != 0 || m.sum("hitexport_partition_paused") != 0 {
		t.Errorf("after recovery: degraded %v, paused %v", deg, m.sum("hitexport_partition_paused"))
	}
	e.waitCommitted(time.Minute, x)
	all := append(append([]gen.Record{}, batch1...), batch2...)
	if rep := e.check(all, 10*time.Minute); !rep.OK() || rep.HitsInBucket != rep.ProducedValid {
		t.Fatalf("after the outage: %+v\n%s", rep, tail(x.out.String(), 3000))
	}
	warns := 0
	for _, l := range parseLogs(t, x.out.String()) {
		if strings.HasPrefix(l.str("msg"), "upload failed") {
			warns++
			if l.str("key") == "" || l.str("retry_in") == "" || l.str("error") == "" {
				t.Errorf("upload failure line lacks key, retry_in or error: %v", l)
			}
		}
	}
	if warns == 0 {
		t.Errorf("no upload failure logged")
	}

	// SIGTERM during an outage: the upload in flight is given
	// SHUTDOWN_TIMEOUT, then cancelled; its records stay uncommitted.
	s3.stop()
	o3 := o1
	o3.Seed = 43
	e.produce(gen.Generate(o3))
	waitFor(t, time.Minute, "failing uploads again", func() bool { return readyz(t, addr).Code == 503 }, x)
	pre := e.committedOffsets()
	took := x.stop(t, 40*time.Second)
	t.Logf("shutdown during an S3 outage (SHUTDOWN_TIMEOUT 3s): %s", took)
	if took < 2500*time.Millisecond || took > 15*time.Second {
		t.Errorf("shutdown during an outage took %s; want about SHUTDOWN_TIMEOUT (3s)", took)
	}
	if !strings.Contains(x.out.String(), "shutdown timeout") {
		t.Errorf("no shutdown-timeout line:\n%s", tail(x.out.String(), 2000))
	}
	for p, o := range e.committedOffsets() {
		if o.Committed != pre[p].Committed || o.Committed >= o.End {
			t.Errorf("partition %d: committed %d (before SIGTERM %d, end %d)", p, o.Committed, pre[p].Committed, o.End)
		}
	}
}

// ---------------------------------------------------------------- replay

// opsLiveObject is an object of the live run with the records it holds.
type opsLiveObject struct {
	object
	Partition int
	Kind      pipeline.Kind
	Window    int64 // ms (hits, late)
	Records   []record
}

// opsExpected is what a replay of [S, E) must write for one live object:
// its records in the range, in one object keyed by the first of them.
type opsExpected struct {
	Live      *opsLiveObject
	Key       string
	Kind      pipeline.Kind
	Records   []record
	Identical bool // all of the live object's records are in the range
}

// opsLiveObjects maps the live bucket's objects to the records they hold
// (from the records read back: same partition, offset span and window).
func opsLiveObjects(t *testing.T, objs map[string]object, back map[int][]record, window time.Duration) []*opsLiveObject {
	t.Helper()
	var out []*opsLiveObject
	for _, o := range objs {
		lo := &opsLiveObject{object: o, Kind: pipeline.Kind(o.Meta["kind"])}
		lo.Partition = int(o.int(t, "partition"))
		first, last := o.int(t, "first-offset"), o.int(t, "last-offset")
		ws, err := time.Parse(time.RFC3339, o.Meta["window-start"])
		if err != nil {
			t.Fatalf("%s: window-start %q", o.Key, o.Meta["window-start"])
		}
		lo.Window = ws.UnixMilli()
		for _, r := range back[lo.Partition] {
			if r.Offset < first || r.Offset > last {
				continue
			}
			if lo.Kind == pipeline.KindRejected {
				if !r.Valid {
					lo.Records = append(lo.Records, r)
				}
			} else if r.Valid && pipeline.WindowStart(r.Event, window) == lo.Window {
				lo.Records = append(lo.Records, r)
			}
		}
		if int64(len(lo.Records)) != o.int(t, "record-count") {
			t.Fatalf("model: %s holds %s records, the topic has %d in its span and window", o.Key, o.Meta["record-count"], len(lo.Records))
		}
		out = append(out, lo)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// opsExpect applies the documented replay rule to one live object and the
// partition's range [s, e): the object's records in the range come back in
// one object of the same window, keyed by the first of them; its kind is
// "late" when the records of the range before it already closed the window
// (a hit ALLOWED_LATENESS past its end), else "hits" (a replay starts with
// no watermark). Identical when every record is in the range.
func opsExpect(t *testing.T, l pipeline.Layout, topic string, lo *opsLiveObject, part []record, s, e int64, lateness time.Duration) *opsExpected {
	var in []record
	for _, r := range lo.Records {
		if r.Offset >= s && r.Offset < e {
			in = append(in, r)
		}
	}
	if len(in) == 0 {
		return nil
	}
	x := &opsExpected{Live: lo, Records: in, Kind: lo.Kind, Identical: len(in) == len(lo.Records)}
	window := lo.Window
	if lo.Kind == pipeline.KindRejected {
		window = pipeline.WindowStart(in[0].Time.UnixMilli(), l.Window)
	} else if lo.Kind == pipeline.KindLate {
		var maxEv int64
		for _, r := range part {
			if r.Offset >= s && r.Offset < in[0].Offset && r.Valid && r.Event > maxEv {
				maxEv = r.Event
			}
		}
		if maxEv-lateness.Milliseconds() < lo.Window+l.Window.Milliseconds() {
			x.Kind = pipeline.KindHits
		}
	}
	x.Key = l.Key(x.Kind, window, topic, lo.Partition, in[0].Offset)
	return x
}

// opsCheckReplayed compares the objects a replay wrote with the expectation.
func opsCheckReplayed(t *testing.T, got map[string]object, want []*opsExpected, comp encoders.Compression) (identical, partial int) {
	t.Helper()
	for _, x := range want {
		o, ok := got[x.Key]
		if !ok {
			t.Errorf("replay did not write %s (records %d..%d of %s)", x.Key, x.Records[0].Offset, x.Records[len(x.Records)-1].Offset, x.Live.Key)
			continue
		}
		if x.Identical && x.Kind == x.Live.Kind {
			identical++
			if x.Key != x.Live.Key {
				t.Errorf("%s: replayed under %s", x.Live.Key, x.Key)
			}
			if !bytes.Equal(o.Data, x.Live.Data) {
				t.Errorf("%s: replayed bytes differ from the live run's (%d vs %d bytes)", x.Key, len(o.Data), len(x.Live.Data))
			}
			for k, v := range x.Live.Meta {
				if o.Meta[k] != v {
					t.Errorf("%s: metadata %s=%q, live %q", x.Key, k, o.Meta[k], v)
				}
			}
			continue
		}
		partial++
		if o.int(t, "first-offset") != x.Records[0].Offset || o.int(t, "last-offset") != x.Records[len(x.Records)-1].Offset ||
			o.int(t, "record-count") != int64(len(x.Records)) || o.Meta["kind"] != string(x.Kind) {
			t.Errorf("%s: metadata %v; want kind %s, %d records %d..%d", x.Key, o.Meta, x.Kind, len(x.Records), x.Records[0].Offset, x.Records[len(x.Records)-1].Offset)
		}
		rc, err := comp.NewReader(bytes.NewReader(o.Data))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(rc)
		if err != nil {
			t.Fatalf("%s: %v", x.Key, err)
		}
		if x.Kind == pipeline.KindRejected {
			var offs []int64
			for _, line := range strings.Split(strings.TrimSpace(string(plain)), "\n") {
				var rj pipeline.Rejected
				if err := json.Unmarshal([]byte(line), &rj); err != nil {
					t.Fatalf("%s: %v", x.Key, err)
				}
				offs = append(offs, rj.Offset)
			}
			for i, r := range x.Records {
				if i >= len(offs) || offs[i] != r.Offset {
					t.Errorf("%s: rejected offsets %v, want those of %d records from %d", x.Key, offs, len(x.Records), x.Records[0].Offset)
					break
				}
			}
			continue
		}
		var want bytes.Buffer
		for _, r := range x.Records {
			want.Write(r.Value)
			want.WriteByte('\n')
		}
		if !bytes.Equal(plain, want.Bytes()) {
			t.Errorf("%s: content is not the live object's records %d..%d (NDJSON of the values as produced)", x.Key, x.Records[0].Offset, x.Records[len(x.Records)-1].Offset)
		}
	}
	return identical, partial
}

// opsRanges computes each partition's replay range from the records read
// back (independently of Kafka's time index): the first offset whose
// timestamp is at or after from, and the first at or after to (the end when
// there is none).
func opsRanges(back map[int][]record, from, to time.Time) map[int][2]int64 {
	out := map[int][2]int64{}
	for p, recs := range back {
		end := recs[len(recs)-1].Offset + 1
		s, e := end, end
		for _, r := range recs {
			if s == end && !r.Time.Before(from) {
				s = r.Offset
			}
			if e == end && !r.Time.Before(to) {
				e = r.Offset
			}
		}
		out[p] = [2]int64{s, e}
	}
	return out
}

// TestOpsReplay exports an hour of hits live, then
//
//	A. deletes the objects of two windows from the bucket and replays a range
//	   around them into the same bucket: the objects whose records all lie in
//	   the range come back byte for byte; others come back with the records
//	   of the range only; nothing already in the bucket is written twice;
//	B. replays a range whose edges cut windows into a second, empty bucket:
//	   every live object's records of the range come back in one object,
//	   keyed by the first of them — the rule docs/operations.md states.
//
// Neither replay commits offsets for any group.
func TestOpsReplay(t *testing.T) {
	const parts = 2
	e := newEnv(t, parts)
	opts := pastHour(51, 4000)
	opts.LateFraction, opts.BadFraction = 0.03, 0.01
	recs := gen.Generate(opts)
	const delay = 5 * time.Second
	e.produceAt(stamped(recs, opts, parts, delay))
	// The partition layout's replay rules (the window layout's replay:
	// TestExportWindowLayoutReplay).
	extra := map[string]string{"HITEXPORT_COMPRESSION": "zstd", "HITEXPORT_IDLE_TIMEOUT": "10s", "HITEXPORT_LAYOUT": "partition"}
	x := e.start(extra)
	e.waitCommitted(2*time.Minute, x)
	x.stop(t, 30*time.Second)
	if rep := e.check(recs, 10*time.Minute); !rep.OK() {
		t.Fatalf("live run: %+v", rep)
	}
	back := e.readBack()
	liveObjs := readObjects(t, e.bucket)
	window, lateness := 10*time.Minute, time.Minute
	live := opsLiveObjects(t, liveObjs, back, window)
	l := pipeline.Layout{Encoder: mustEncoder(t, "ndjson"), Compression: encoders.Zstd, Window: window}
	groupBefore := e.committedOffsets()

	// A: delete the windows [F, F+20m) and replay [F-5m, F+25m).
	F := opts.Start.Add(20 * time.Minute)
	deleted := map[string]bool{}
	for _, lo := range live {
		if lo.Kind != pipeline.KindRejected && lo.Window >= F.UnixMilli() && lo.Window < F.Add(20*time.Minute).UnixMilli() {
			if err := e.bucket.Delete(context.Background(), lo.Key); err != nil {
				t.Fatal(err)
			}
			deleted[lo.Key] = true
		}
	}
	if len(deleted) < 2*parts {
		t.Fatalf("only %d objects in the deleted windows", len(deleted))
	}
	fromA, toA := F.Add(-5*time.Minute), F.Add(25*time.Minute)
	stdout, stderr, code := e.runOnce(extra, "replay", "--from", fromA.UTC().Format(time.RFC3339), "--to", strconv.FormatInt(toA.Unix(), 10))
	if code != 0 {
		t.Fatalf("replay A: exit %d\n%s\n%s", code, stdout, tail(stderr, 3000))
	}
	t.Logf("replay A:\n%s", stdout)
	if !regexp.MustCompile(`replay: 100\.0% \(\d+/\d+ offsets\), \d+ records, .*records/s, .*ETA 0s`).MatchString(stderr) {
		t.Errorf("replay A: no final progress line on stderr:\n%s", tail(stderr, 2000))
	}
	rangesA := opsRanges(back, fromA, toA)
	var wantA []*opsExpected
	missing := 0
	for _, lo := range live {
		if !deleted[lo.Key] {
			continue
		}
		r := rangesA[lo.Partition]
		x := opsExpect(t, l, e.topic, lo, back[lo.Partition], r[0], r[1], lateness)
		if x != nil {
			wantA = append(wantA, x)
			missing += len(lo.Records) - len(x.Records)
		} else {
			missing += len(lo.Records)
		}
	}
	afterA := readObjects(t, e.bucket)
	identical, partial := opsCheckReplayed(t, afterA, wantA, encoders.Zstd)
	t.Logf("replay A: %d deleted objects; %d back byte for byte, %d with the records of the range only, %d records outside the range not restored",
		len(deleted), identical, partial, missing)
	if identical < parts || partial < 1 {
		t.Errorf("replay A should restore some objects whole (got %d) and some in part (got %d)", identical, partial)
	}
	wantKeys := map[string]bool{}
	for _, x := range wantA {
		wantKeys[x.Key] = true
	}
	for k, o := range afterA {
		lo, wasLive := liveObjs[k]
		switch {
		case wasLive && !deleted[k] && o.ETag != lo.ETag:
			t.Errorf("%s: an object the replay had no reason to touch was rewritten", k)
		case !wasLive && !wantKeys[k], deleted[k] && !wantKeys[k]:
			t.Errorf("%s: written by the replay, not expected", k)
		}
	}
	rep := e.check(recs, window)
	if rep.Duplicates != 0 || rep.WrongWindow != 0 || rep.Unexpected != 0 || rep.Missing != missing {
		t.Errorf("bucket after replay A: %+v; want no duplicates and exactly the %d records outside the range missing", rep, missing)
	}

	// B: into a second bucket, a range whose edges cut windows.
	b2 := "r2" + e.bucket.Name()
	if len(b2) > 63 {
		b2 = strings.TrimRight(b2[:63], "-")
	}
	bucket2, err := store.NewS3(store.S3Options{Endpoint: s3Addr, Bucket: b2, AccessKey: accessKey, SecretKey: secretKey, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := bucket2.MakeBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	fromB, toB := F.Add(2*time.Minute+17*time.Second), F.Add(15*time.Minute)
	extraB := map[string]string{"HITEXPORT_COMPRESSION": "zstd", "HITEXPORT_S3_BUCKET": b2, "HITEXPORT_KAFKA_GROUP": e.group + "-unused", "HITEXPORT_LAYOUT": "partition"}
	stdout, stderr, code = e.runOnce(extraB, "replay", "--from", strconv.FormatInt(fromB.Unix(), 10), "--to", toB.UTC().Format(time.RFC3339))
	if code != 0 {
		t.Fatalf("replay B: exit %d\n%s\n%s", code, stdout, tail(stderr, 3000))
	}
	rangesB := opsRanges(back, fromB, toB)
	var wantB []*opsExpected
	for _, lo := range live {
		r := rangesB[lo.Partition]
		if x := opsExpect(t, l, e.topic, lo, back[lo.Partition], r[0], r[1], lateness); x != nil {
			wantB = append(wantB, x)
		}
	}
	gotB := readObjects(t, bucket2)
	identical, partial = opsCheckReplayed(t, gotB, wantB, encoders.Zstd)
	t.Logf("replay B: %d objects; %d byte for byte, %d cut by the range edges", len(gotB), identical, partial)
	if len(gotB) != len(wantB) {
		keys := make([]string, 0, len(gotB))
		for k := range gotB {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Errorf("replay B wrote %d objects, want %d: %v", len(gotB), len(wantB), keys)
	}
	straddleFrom, straddleTo := 0, 0
	for _, x := range wantB {
		r := rangesB[x.Live.Partition]
		if x.Live.Records[0].Offset < r[0] {
			straddleFrom++
		}
		if x.Live.Records[len(x.Live.Records)-1].Offset >= r[1] {
			straddleTo++
		}
	}
	if identical < 1 || straddleFrom < 1 || straddleTo < 1 {
		t.Errorf("replay B should show whole objects (%d), windows cut at --from (%d) and at --to (%d)", identical, straddleFrom, straddleTo)
	}

	// No group commits: the live group is where it was, the replay's
	// configured group has none.
	for p, o := range e.committedOffsets() {
		if o.Committed != groupBefore[p].Committed {
			t.Errorf("partition %d: the group's committed offset moved from %d to %d", p, groupBefore[p].Committed, o.Committed)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	offs, err := verify.Offsets(ctx, e.client, e.group+"-unused", e.topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range offs {
		if o.Committed >= 0 {
			t.Errorf("replay committed offset %d of partition %d for its group", o.Committed, o.Partition)
		}
	}

	// A replay over an intact bucket writes nothing.
	stdout, _, code = e.runOnce(extraB, "replay", "--from", strconv.FormatInt(fromB.Unix(), 10), "--to", toB.UTC().Format(time.RFC3339))
	if code != 0 || !strings.Contains(stdout, ": 0 objects written") {
		t.Errorf("second replay B: exit %d, want 0 objects written:\n%s", code, stdout)
	}
	again := readObjects(t, bucket2)
	for k, o := range again {
		if gotB[k].ETag != o.ETag {
			t.Errorf("%s rewritten by a repeated replay", k)
		}
	}
}

func mustEncoder(t *testing.T, format string) encoders.Encoder {
	t.Helper()
	enc, err := encoders.New(format)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// ---------------------------------------------------------------- offsets

type opsOffsetsJSON struct {
	State      string   `json:"state"`
	Members    []string `json:"members"`
	Applied    bool     `json:"applied"`
	Refused    bool     `json:"refused"`
	Partitions []struct {
		Partition int    `json:"partition"`
		Earliest  int64  `json:"earliest"`
		End       int64  `json:"end"`
		Committed int64  `json:"committed"`
		Lag       int64  `json:"lag"`
		Metadata  string `json:"metadata"`
		Resume    *struct {
			MaxEvent     string `json:"max_event_time"`
			ClosedBefore string `json:"windows_closed_before"`
		} `json:"resume"`
		Target *int64 `json:"target"`
	} `json:"partitions"`
}

func (e *env) opsOffsets(args ...string) (opsOffsetsJSON, string, int) {
	e.t.Helper()
	stdout, stderr, code := e.runOnce(nil, append([]string{"offsets", "--json"}, args...)...)
	var o opsOffsetsJSON
	if err := json.Unmarshal([]byte(stdout), &o); err != nil {
		e.t.Fatalf("offsets %v: exit %d, not JSON: %v\n%s\n%s", args, code, err, stdout, stderr)
	}
	return o, stderr, code
}

// TestOpsOffsets: the listing matches Kafka; a reset is a dry run unless
// --apply; --apply is refused while a replica runs; applied resets land
// exactly on the targets (to a time: the first offset at or after it, as
// read back from the topic), and the exporter then reads from there.
func TestOpsOffsets(t *testing.T) {
	const parts = 2
	e := newEnv(t, parts)
	opts := pastHour(61, 2000)
	recs := gen.Generate(opts)
	e.produceAt(stamped(recs, opts, parts, 5*time.Second))
	x := e.start(nil)
	e.waitCommitted(2*time.Minute, x)
	back := e.readBack()

	o, _, code := e.opsOffsets()
	if code != 0 || o.State != "Stable" || len(o.Members) != 1 || len(o.Partitions) != parts {
		t.Fatalf("offsets while running: exit %d, %+v", code, o)
	}
	for _, p := range o.Partitions {
		if p.Committed != p.End || p.Lag != 0 || p.Earliest != 0 || p.End != int64(len(back[p.Partition])) {
			t.Errorf("partition %d: %+v; want committed = end = %d, lag 0", p.Partition, p, len(back[p.Partition]))
		}
		if p.Resume == nil || p.Resume.MaxEvent == "" || p.Resume.ClosedBefore == "" {
			t.Errorf("partition %d: resume state not decoded from %q", p.Partition, p.Metadata)
		}
	}
	text, _, code := e.runOnce(nil, "offsets")
	if code != 0 || !strings.Contains(text, "PARTITION") || !strings.Contains(text, "LAG") || !strings.Contains(text, "1 active member") {
		t.Errorf("offsets table: exit %d\n%s", code, text)
	}

	// --apply while a replica runs: refused, nothing committed.
	refused, stderr, code := e.opsOffsets("--to-earliest", "--apply")
	if code == 0 || !refused.Refused || refused.Applied || !strings.Contains(stderr, "active member") || !strings.Contains(stderr, "stop every hitexport replica") {
		t.Errorf("--apply with a running replica: exit %d, %+v\n%s", code, refused, stderr)
	}
	for p, c := range e.committedOffsets() {
		if c.Committed != c.End {
			t.Errorf("partition %d moved to %d by a refused reset", p, c.Committed)
		}
	}
	x.stop(t, 30*time.Second)

	// To a time: dry run, then applied.
	at := opts.Start.Add(23*time.Minute + 11*time.Second)
	want := opsRanges(back, at, at)
	dry, _, code := e.opsOffsets("--to-time", at.UTC().Format(time.RFC3339))
	if code != 0 || dry.Applied {
		t.Fatalf("dry run: exit %d, %+v", code, dry)
	}
	for _, p := range dry.Partitions {
		if p.Target == nil || *p.Target != want[p.Partition][0] || *p.Target <= 0 || *p.Target >= p.End {
			t.Errorf("partition %d: target %v, want %d (first offset at or after %s)", p.Partition, p.Target, want[p.Partition][0], at)
		}
	}
	for p, c := range e.committedOffsets() {
		if c.Committed != c.End {
			t.Errorf("dry run moved partition %d to %d", p, c.Committed)
		}
	}
	applied, _, code := e.opsOffsets("--to-time", strconv.FormatInt(at.Unix(), 10), "--apply")
	if code != 0 || !applied.Applied {
		t.Fatalf("--apply: exit %d, %+v", code, applied)
	}
	var toRead int64
	for p, c := range e.committedOffsets() {
		if c.Committed != want[p][0] {
			t.Errorf("partition %d: committed %d after the reset, want %d", p, c.Committed, want[p][0])
		}
		toRead += c.End - want[p][0]
	}
	listed, _, _ := e.opsOffsets()
	for _, p := range listed.Partitions {
		if p.Resume != nil || !strings.HasPrefix(p.Metadata, "reset to time") || p.Lag != p.End-want[p.Partition][0] {
			t.Errorf("partition %d after the reset: %+v", p.Partition, p)
		}
	}

	// The exporter reads from the targets: it consumes exactly what lies
	// between them and the end, and loses nothing.
	x = e.start(nil)
	addr := x.httpAddr(t)
	e.waitCommitted(2*time.Minute, x)
	if got := mustScrape(t, addr).sum("hitexport_records_consumed_total"); got != float64(toRead) {
		t.Errorf("after the reset the exporter consumed %v records, want %d", got, toRead)
	}
	x.stop(t, 30*time.Second)
	if rep := e.check(recs, 10*time.Minute); rep.Missing != 0 || rep.RejectedMissing != 0 {
		t.Errorf("after re-reading from a time: %+v", rep)
	}

	// Earliest and latest, and one partition only.
	if o, _, code := e.opsOffsets("--to-earliest", "--partitions", "1", "--apply"); code != 0 || !o.Applied || len(o.Partitions) != 1 {
		t.Fatalf("--to-earliest --partitions 1: exit %d %+v", code, o)
	}
	c := e.committedOffsets()
	if c[1].Committed != 0 || c[0].Committed != c[0].End {
		t.Errorf("after resetting partition 1 to earliest: %+v", c)
	}
	if o, _, code := e.opsOffsets("--to-latest", "--apply"); code != 0 || !o.Applied {
		t.Fatalf("--to-latest: exit %d %+v", code, o)
	}
	for p, c := range e.committedOffsets() {
		if c.Committed != c.End {
			t.Errorf("partition %d: %d after --to-latest, end %d", p, c.Committed, c.End)
		}
	}
	// A time after every record: the end offsets.
	late, _, _ := e.opsOffsets("--to-time", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	for _, p := range late.Partitions {
		if p.Target == nil || *p.Target != p.End {
			t.Errorf("partition %d: target %v for a time after every record, want the end %d", p.Partition, p.Target, p.End)
		}
	}
	// Usage errors exit 2.
	if _, _, code := e.runOnce(nil, "offsets", "--to-earliest", "--to-latest"); code != 2 {
		t.Errorf("two targets: exit %d", code)
	}
	if _, _, code := e.runOnce(nil, "offsets", "--apply"); code != 2 {
		t.Errorf("--apply without target: exit %d", code)
	}
	if _, stderr, code := e.runOnce(nil, "replay", "--from", "yesterday"); code != 2 || !strings.Contains(stderr, "RFC 3339") {
		t.Errorf("bad --from: exit %d %s", code, stderr)
	}
}
