package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/pipeline"
	"github.com/hitexport/hitexport/store"
	"github.com/hitexport/hitexport/verify"
)

// Result is one measurement (the median of its repeats).
type Result struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"` // limit | exporter | peer
	Format      string `json:"format,omitempty"`
	Compression string `json:"compression,omitempty"`
	Topic       string `json:"topic"`
	Partitions  int    `json:"partitions"`
	Hits        int    `json:"hits"`
	InputBytes  int64  `json:"input_bytes"`
	// WallSec: process start to every offset committed (limit: to the last
	// record read). ActiveSec: from the moment consumption could start (the
	// consumer group is Stable; limit: readers created) to the same end.
	WallSec    float64 `json:"wall_seconds"`
	ActiveSec  float64 `json:"active_seconds"`
	HitsPerSec float64 `json:"hits_per_second"`
	MBPerSec   float64 `json:"mb_per_second"`
	CPUSec     float64 `json:"cpu_seconds"`
	CPUPer1M   float64 `json:"cpu_seconds_per_million_hits"`
	// BrokerCPUPer1M: the Kafka broker process's net CPU seconds during the
	// measurement (the exporter: until its last record was read) per million
	// hits: raw − the idle phase's just before, scaled to the same length
	// (-1e9: not measured). In a median result each broker figure (and the
	// requests) is the median over rounds of its own (midpoint).
	BrokerCPUPer1M  float64 `json:"broker_cpu_seconds_per_million_hits"`
	BrokerRawPer1M  float64 `json:"broker_raw_cpu_seconds_per_million_hits"`
	BrokerIdlePer1M float64 `json:"broker_idle_cpu_seconds_per_million_hits"`
	// Broker: this round's phase; BrokerNetSamples: the net figure of every
	// round (per million hits), in round order.
	Broker           *BrokerPhase `json:"broker_phase,omitempty"`
	BrokerNetSamples []float64    `json:"broker_net_samples_per_million_hits,omitempty"`
	// RequestsPer1M: TCP data segments the client sent to the broker while
	// it read (≈ its requests: sentSegments) per million hits; FetchesPer1M:
	// fetch requests counted by kafka-go (the limit's Readers). -1: unknown.
	RequestsPer1M float64 `json:"requests_per_million_hits"`
	FetchesPer1M  float64 `json:"fetches_per_million_hits,omitempty"`
	// CommitsPer1M: the exporter's offset commits (hitexport_commits_total)
	// until its last record read, per million hits (0: not an exporter).
	CommitsPer1M float64 `json:"commits_per_million_hits,omitempty"`
	// CPUSamples: CPU s/1M of every round, in round order.
	CPUSamples []float64 `json:"cpu_samples_seconds_per_million_hits,omitempty"`
	// Window layout: bytes of the staged parts uploaded (the pipeline's
	// hitexport_bytes_uploaded_total at the last commit), of the merger's
	// records left in the bucket (done records, progress markers), and the
	// final objects (OutBytes).
	StagedBytes   int64 `json:"staged_bytes,omitempty"`
	InternalBytes int64 `json:"internal_bytes,omitempty"`
	// MergeSec: from the last commit to the process's exit (the stop and
	// the merger's last sweep).
	MergeSec   float64 `json:"after_commit_seconds,omitempty"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	// TailSec: from the last record read to every offset committed.
	TailSec  float64 `json:"tail_seconds,omitempty"`
	Objects  int     `json:"objects,omitempty"`
	OutBytes int64   `json:"output_bytes,omitempty"`
	Checked  string  `json:"checked,omitempty"`
	// Samples are the hits/s of every repeat.
	Samples []float64 `json:"samples_hits_per_second,omitempty"`
	Note    string    `json:"note,omitempty"`
	// Window (scaling run): hits per window per partition.
	WindowHits int `json:"window_hits_per_partition,omitempty"`
}

func (r *Result) finish(hits int, bytes int64, cpu float64, maxrssKiB int64) {
	r.Hits, r.InputBytes = hits, bytes
	if r.ActiveSec > 0 {
		r.HitsPerSec = float64(hits) / r.ActiveSec
		r.MBPerSec = float64(bytes) / 1e6 / r.ActiveSec
	}
	r.CPUSec = cpu
	r.CPUPer1M = cpu / float64(hits) * 1e6
	r.PeakRSSMiB = float64(maxrssKiB) / 1024
}

// median picks the repeat with the median hits/s and records every sample,
// in round order.
func median(rs []Result) Result {
	var samples []float64
	for _, r := range rs {
		samples = append(samples, round(r.HitsPerSec, 0))
	}
	sorted := append([]Result(nil), rs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].HitsPerSec < sorted[j].HitsPerSec })
	m := sorted[len(sorted)/2]
	m.Samples = samples
	m.CPUSamples = nil
	var net, raw, idle, req, fetch, commits []float64
	for _, r := range rs {
		m.CPUSamples = append(m.CPUSamples, round(r.CPUPer1M, 3))
		if r.BrokerCPUPer1M > notMeasured {
			net = append(net, r.BrokerCPUPer1M)
			raw = append(raw, r.BrokerRawPer1M)
			idle = append(idle, r.BrokerIdlePer1M)
			m.BrokerNetSamples = append(m.BrokerNetSamples, round(r.BrokerCPUPer1M, 3))
		}
		if r.RequestsPer1M >= 0 {
			req = append(req, r.RequestsPer1M)
		}
		if r.FetchesPer1M > 0 {
			fetch = append(fetch, r.FetchesPer1M)
		}
		if r.CommitsPer1M > 0 {
			commits = append(commits, r.CommitsPer1M)
		}
	}
	m.BrokerCPUPer1M, m.BrokerRawPer1M, m.BrokerIdlePer1M = notMeasured, notMeasured, notMeasured
	if len(net) > 0 {
		m.BrokerCPUPer1M, m.BrokerRawPer1M, m.BrokerIdlePer1M = midpoint(net), midpoint(raw), midpoint(idle)
	}
	m.RequestsPer1M = -1
	if len(req) > 0 {
		m.RequestsPer1M = midpoint(req)
	}
	if len(fetch) > 0 {
		m.FetchesPer1M = midpoint(fetch)
	}
	if len(commits) > 0 {
		m.CommitsPer1M = midpoint(commits)
	}
	return m
}

// midpoint is the median of v, the mean of the middle two for an even
// count (0 for none).
func midpoint(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[n/2]
}

// setBroker records a broker phase over hits (ok false: not measured).
func (r *Result) setBroker(p BrokerPhase, ok bool, hits int) {
	r.BrokerCPUPer1M, r.BrokerRawPer1M, r.BrokerIdlePer1M = notMeasured, notMeasured, notMeasured
	if !ok {
		return
	}
	per := 1e6 / float64(hits)
	r.Broker = &p
	r.BrokerCPUPer1M, r.BrokerRawPer1M, r.BrokerIdlePer1M = p.Net*per, p.Raw*per, p.Idle*per
}

// perMillion is n per million hits, or -1 when n is unknown (< 0).
func perMillion(n int64, hits int) float64 {
	if n < 0 {
		return -1
	}
	return float64(n) / float64(hits) * 1e6
}

// ratio is the median over rounds of a's hits/s over b's in the same round
// (the conditions of a round are the closest there are), or the ratio of
// the medians when the rounds do not pair up.
func ratio(a, b *Result) float64 {
	if len(a.Samples) < 2 || len(a.Samples) != len(b.Samples) {
		return a.HitsPerSec / b.HitsPerSec
	}
	var rs []float64
	for i := range a.Samples {
		if b.Samples[i] > 0 {
			rs = append(rs, a.Samples[i]/b.Samples[i])
		}
	}
	if len(rs) == 0 {
		return a.HitsPerSec / b.HitsPerSec
	}
	sort.Float64s(rs)
	return rs[len(rs)/2]
}

func round(v float64, digits int) float64 {
	p, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', digits, 64), 64)
	return p
}

// proc is a measured child process.
type proc struct {
	cmd   *exec.Cmd
	start time.Time
	done  chan error
	log   *os.File
	hwm   int64 // highest VmHWM seen, KiB
}

// sampleHWM reads the child's peak resident set (VmHWM) from /proc. The
// rusage of a child is no good for this in Go: os/exec starts children with
// vfork semantics, and Linux carries the parent's peak RSS into the child's
// ru_maxrss at exec.
func (p *proc) sampleHWM() {
	if p.cmd.Process == nil {
		return
	}
	if kb := vmHWM(p.cmd.Process.Pid); kb > p.hwm {
		p.hwm = kb
	}
}

func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb
			}
		}
	}
	return 0
}

func startProc(cmd *exec.Cmd, logPath string) (*proc, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	if cmd.Stdout == nil {
		cmd.Stdout = f
	}
	cmd.Stderr = f
	p := &proc{cmd: cmd, done: make(chan error, 1), log: f}
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	go func() { p.done <- cmd.Wait() }()
	return p, nil
}

// stop sends SIGTERM (SIGKILL after grace) and returns the child's CPU
// seconds (user+system, from its rusage) and peak RSS (KiB, the highest
// VmHWM sampled while it ran and just before the signal).
func (p *proc) stop(grace time.Duration) (cpu float64, maxrss int64, err error) {
	p.sampleHWM()
	select {
	case err = <-p.done:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err = <-p.done:
		case <-time.After(grace):
			_ = p.cmd.Process.Kill()
			err = <-p.done
		}
	}
	p.log.Close()
	ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, 0, errors.New("no rusage")
	}
	cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	return cpu, p.hwm, err
}

// exited reports whether the child is gone (and why).
func (p *proc) exited() (bool, error) {
	select {
	case err := <-p.done:
		p.done <- err
		return true, err
	default:
		return false, nil
	}
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitCommitted polls until group has committed the end offset of every
// partition of topic. It returns when the group was first seen Stable (the
// start of consumption) and when it finished.
//
// When metricsURL is set (the exporter's /metrics), it also notes when the
// last record was consumed (hitexport_records_consumed_total reaching hits),
// calls atLastRead then (if set), and asks Kafka for the group's offsets only
// from then on: while the exporter reads, the broker serves it alone (the
// group's state is polled until Stable, no more).
func waitCommitted(ctx context.Context, e *Env, p *proc, group, topic, metricsURL string, hits int, atLastRead func()) (stable, lastRead, done time.Time, err error) {
	w := newWatch(ctx, e, p, group)
	err = w.run(func(now time.Time) (bool, error) {
		if metricsURL != "" && lastRead.IsZero() && consumed(metricsURL) >= int64(hits) {
			lastRead = now
			if atLastRead != nil {
				atLastRead()
			}
		}
		if metricsURL != "" && lastRead.IsZero() && !w.stable.IsZero() {
			return false, nil
		}
		offs, err := verify.Offsets(ctx, w.client, group, topic)
		if err != nil {
			return false, nil
		}
		all := len(offs) > 0
		for _, o := range offs {
			if o.Committed != o.End && !(o.End == 0 && o.Committed < 0) {
				all = false
			}
		}
		if all && lastRead.IsZero() {
			lastRead = now
		}
		return all, nil
	})
	return w.stable, lastRead, time.Now(), err
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 18080
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (e *Env) bucket() (*store.S3, error) {
	b, err := store.NewS3(store.S3Options{Endpoint: e.S3Endpoint, Bucket: e.Bucket, AccessKey: e.AccessKey,
		SecretKey: e.SecretKey, Region: "us-east-1"})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return b, b.MakeBucket(ctx)
}

// runLimit measures the kafka-go read limit in a child process.
func runLimit(e *Env, l Load) (Result, error) {
	self, err := os.Executable()
	if err != nil {
		return Result{}, err
	}
	var out bytes.Buffer
	cmd := exec.Command(self, "limit", "-brokers", e.Brokers, "-topic", l.Topic)
	cmd.Stdout = &out
	logPath := filepath.Join(e.Out, "logs", e.RunID+"-limit.log")
	p, bm, err := startMeasured(e, cmd, logPath, "limit", l.Hits)
	if err != nil {
		return Result{}, err
	}
	var werr error
	select {
	case werr = <-p.done:
		p.done <- werr
	case <-time.After(e.Timeout):
	}
	bp, bok := bm.end()
	cpu, rss, err := p.stop(5 * time.Second)
	if err != nil || werr != nil {
		return Result{}, fmt.Errorf("limit reader: %v %v\n%s", err, werr, tail(logPath, 20))
	}
	var lr limitResult
	if err := json.Unmarshal(out.Bytes(), &lr); err != nil {
		return Result{}, fmt.Errorf("limit reader output: %w", err)
	}
	if lr.Records != int64(l.Hits) {
		return Result{}, fmt.Errorf("limit reader read %d records, the topic holds %d", lr.Records, l.Hits)
	}
	if lr.HWMKiB > rss {
		rss = lr.HWMKiB
	}
	r := Result{Name: "kafka-go read (limit)", Kind: "limit", Topic: l.Topic, Partitions: l.Partitions,
		WallSec:       time.Duration(lr.DoneNs - p.start.UnixNano()).Seconds(),
		ActiveSec:     time.Duration(lr.DoneNs - lr.StartNs).Seconds(),
		Checked:       fmt.Sprintf("%d records read", lr.Records),
		RequestsPer1M: perMillion(lr.Segments, l.Hits), FetchesPer1M: perMillion(lr.Fetches, l.Hits)}
	r.setBroker(bp, bok, l.Hits)
	r.finish(l.Hits, lr.Bytes, cpu, rss)
	return r, nil
}

// exporterRun is one run of bin/hitexport until its group has committed
// every offset (and, in the window layout, until it has exited after its
// last merge sweep).
type exporterRun struct {
	name, prefix, group, logPath, metrics string
	p                                     *proc
	stable, lastRead, committed, done     time.Time
	bp                                    BrokerPhase
	bok                                   bool
	segments                              int64 // sent to the broker until the last record read
	commits                               int64 // offset commits until then
	staged                                int64 // window layout: hitexport_bytes_uploaded_total at the end
	cpu                                   float64
	rss                                   int64
}

// execExporter runs bin/hitexport for case c over l, measuring the broker
// while it reads, and stops it once the group has committed the end offsets.
func execExporter(e *Env, l Load, c Case, tag string) (*exporterRun, error) {
	name := fmt.Sprintf("%s-%s-%s-%s", e.RunID, tag, c.Format, c.Compression)
	if c.layout() != "partition" {
		name += "-" + c.layout()
	}
	x := &exporterRun{name: name, prefix: "hitbench/" + name + "/", group: "hitbench-" + name,
		logPath: filepath.Join(e.Out, "logs", name+".log")}
	addr := "127.0.0.1:" + strconv.Itoa(freePort())
	x.metrics = "http://" + addr + "/metrics"
	vars := exporterVars(e, l.Topic, x.group, c, x.prefix)
	vars["HITEXPORT_HTTP_ADDR"] = addr
	cmd := exec.Command(e.Exporter, "run")
	cmd.Env = childEnv(vars)
	p, bm, err := startMeasured(e, cmd, x.logPath, "exporter "+c.String(), l.Hits)
	if err != nil {
		return nil, err
	}
	x.p = p
	ctx, cancel := context.WithTimeout(context.Background(), e.Timeout)
	defer cancel()
	// The broker's CPU while the exporter reads: up to its last record
	// (its commits and the idle wait after are not reading).
	taken := false
	atLastRead := func() {
		x.bp, x.bok, x.segments = endBroker(e, bm, p)
		x.commits = metricSum(x.metrics, "hitexport_commits_total")
		taken = true
	}
	var werr error
	x.stable, x.lastRead, x.committed, werr = waitCommitted(ctx, e, p, x.group, l.Topic, x.metrics, l.Hits, atLastRead)
	x.done = x.committed
	if !taken {
		atLastRead()
	}
	if werr == nil && c.layout() == "window" {
		// The staged parts are all uploaded once their records are
		// committed; the merges of the late parts run on stop (the last
		// sweep), so the run ends when the process has exited.
		x.staged = metricSum(x.metrics, "hitexport_bytes_uploaded_total")
	}
	x.cpu, x.rss, _ = p.stop(60 * time.Second)
	if c.layout() == "window" {
		x.done = time.Now()
	}
	if werr != nil {
		return nil, fmt.Errorf("exporter %s: %v\n%s", c, werr, tail(x.logPath, 20))
	}
	return x, nil
}

// result is the run's Result (before the bucket is checked).
func (x *exporterRun) result(e *Env, l Load, c Case) Result {
	r := Result{Name: "hitexport " + c.String(), Kind: "exporter", Format: c.Format, Compression: c.Compression,
		Topic: l.Topic, Partitions: l.Partitions,
		WallSec: x.done.Sub(x.p.start).Seconds(), ActiveSec: activeSpan(x.stable, x.lastRead, x.done, e.IdleTimeout).Seconds(),
		TailSec: x.done.Sub(x.lastRead).Seconds(), RequestsPer1M: perMillion(x.segments, l.Hits),
		CommitsPer1M: max(perMillion(x.commits, l.Hits), 0)}
	r.setBroker(x.bp, x.bok, l.Hits)
	r.finish(l.Hits, l.Bytes, x.cpu, x.rss)
	return r
}

// runExporter measures bin/hitexport end to end for one case (partition
// layout, set explicitly).
func runExporter(e *Env, l Load, c Case, tag string) (Result, error) {
	c.Layout = "partition"
	x, err := execExporter(e, l, c, tag)
	if err != nil {
		return Result{}, err
	}
	r := x.result(e, l, c)
	if err := checkExporter(e, x.prefix, l, &r); err != nil {
		return r, err
	}
	return r, nil
}

// runWindow measures bin/hitexport end to end in the window layout: from
// the start to the final objects written — the group's last commit, then
// SIGTERM and the merger's last sweep (late parts are merged there without
// waiting LATE_MAX_AGE), until the process exits. The bucket must then hold
// no staged part or manifest and final objects with every hit.
func runWindow(e *Env, l Load, c Case, tag string) (Result, error) {
	c.Layout = "window"
	x, err := execExporter(e, l, c, tag)
	if err != nil {
		return Result{}, err
	}
	r := x.result(e, l, c)
	r.Kind = "window"
	r.Name = fmt.Sprintf("hitexport %s/%s, window layout", c.Format, c.Compression)
	r.StagedBytes = x.staged
	r.MergeSec = x.done.Sub(x.committed).Seconds()
	if err := checkWindow(e, x.prefix, l, &r); err != nil {
		return r, err
	}
	return r, nil
}

// checkExporter sums the record counts of the objects written (x-amz-meta-
// record-count) and compares them with the valid hits produced; then deletes
// the objects unless BENCH_KEEP=1.
func checkExporter(e *Env, prefix string, l Load, r *Result) error {
	b, objs, err := listPrefix(e, prefix)
	if err != nil {
		return err
	}
	keys, err := countRecords(b, objs, r, l)
	if err != nil {
		return err
	}
	return e.cleanup(b, keys)
}

// countRecords adds the objects to r (objects, bytes, Checked) and checks
// their record-count metadata against l.
func countRecords(b *store.S3, objs []store.ObjectInfo, r *Result, l Load) ([]string, error) {
	var keys []string
	var n, rejected int
	for _, o := range objs {
		keys = append(keys, o.Key)
		r.Objects++
		r.OutBytes += o.Size
		info, err := b.Stat(context.Background(), o.Key)
		if err != nil {
			return nil, err
		}
		c, _ := strconv.Atoi(info.Metadata["record-count"])
		if info.Metadata["kind"] == "rejected" {
			rejected += c
		} else {
			n += c
		}
	}
	r.Checked = fmt.Sprintf("%d hits + %d rejected in %d objects", n, rejected, len(keys))
	if n != l.Valid || n+rejected != l.Hits {
		return nil, fmt.Errorf("%s: the bucket holds %d hits and %d rejected records; produced %d valid of %d", r.Name, n, rejected, l.Valid, l.Hits)
	}
	return keys, nil
}

// checkWindow checks a window-layout run's bucket: nothing pending (staged
// parts, manifests), the final objects hold every hit (record-count), and
// the merger's own records (done records, progress markers) are counted
// apart; then everything is deleted unless BENCH_KEEP=1.
func checkWindow(e *Env, prefix string, l Load, r *Result) error {
	b, objs, err := listPrefix(e, prefix)
	if err != nil {
		return err
	}
	var finals []store.ObjectInfo
	var all []string
	var pending []string
	for _, o := range objs {
		all = append(all, o.Key)
		rel := strings.TrimPrefix(o.Key, prefix)
		switch {
		case pipeline.IsPendingKey(rel):
			pending = append(pending, o.Key)
		case strings.HasPrefix(rel, pipeline.InternalDir):
			r.InternalBytes += o.Size
		default:
			finals = append(finals, o)
		}
	}
	if len(pending) > 0 {
		return fmt.Errorf("%s: %d staged parts or manifests left after the last sweep, e.g. %s", r.Name, len(pending), pending[0])
	}
	if _, err := countRecords(b, finals, r, l); err != nil {
		return err
	}
	return e.cleanup(b, all)
}

func (e *Env) cleanup(b store.Bucket, keys []string) error {
	if e.Keep {
		return nil
	}
	for _, k := range keys {
		if err := b.Delete(context.Background(), k); err != nil {
			return err
		}
	}
	return nil
}

// countLines reads every object under prefix back (decompressing by
// extension) and counts its lines.
func countLines(e *Env, prefix string) (lines int, objects int, size int64, keys []string, err error) {
	b, err := e.bucket()
	if err != nil {
		return 0, 0, 0, nil, err
	}
	ctx := context.Background()
	err = b.List(ctx, prefix, func(o store.ObjectInfo) error {
		keys = append(keys, o.Key)
		size += o.Size
		return nil
	})
	if err != nil {
		return
	}
	for _, k := range keys {
		comp := encoders.None
		switch {
		case strings.HasSuffix(k, ".gz"):
			comp = encoders.Gzip
		case strings.HasSuffix(k, ".zst"):
			comp = encoders.Zstd
		}
		rc, gerr := b.Get(ctx, k)
		if gerr != nil {
			return 0, 0, 0, nil, gerr
		}
		dr, derr := comp.NewReader(rc)
		if derr != nil {
			rc.Close()
			return 0, 0, 0, nil, derr
		}
		br := bufio.NewReaderSize(dr, 1<<20)
		for {
			chunk, rerr := br.ReadSlice('\n')
			if len(chunk) > 0 && chunk[len(chunk)-1] == '\n' {
				lines++
			}
			if rerr == bufio.ErrBufferFull {
				continue
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				dr.Close()
				rc.Close()
				return 0, 0, 0, nil, fmt.Errorf("%s: %w", k, rerr)
			}
		}
		dr.Close()
		rc.Close()
	}
	return lines, len(keys), size, keys, nil
}
