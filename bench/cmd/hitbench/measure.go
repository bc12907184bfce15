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
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/hitexport/hitexport/encoders"
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
	// BrokerCPUPer1M: the Kafka broker process's CPU seconds during the
	// measurement (the exporter: until its last record was read), less the
	// broker's background rate, per million hits (-1e9: not measured).
	BrokerCPUPer1M float64 `json:"broker_cpu_seconds_per_million_hits"`
	// BrokerBackground: the broker's CPU seconds per second just before.
	BrokerBackground float64 `json:"broker_background_cpu_per_second"`
	PeakRSSMiB     float64 `json:"peak_rss_mib"`
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
	return m
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
	client := kafkaClient(e)
	client.Timeout = 10 * time.Second
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return stable, lastRead, done, fmt.Errorf("not done in time: %w", ctx.Err())
		case <-tick.C:
		}
		if gone, werr := p.exited(); gone {
			return stable, lastRead, done, fmt.Errorf("process exited early: %v", werr)
		}
		p.sampleHWM()
		now := time.Now()
		if metricsURL != "" && lastRead.IsZero() && consumed(metricsURL) >= int64(hits) {
			lastRead = now
			if atLastRead != nil {
				atLastRead()
			}
		}
		if stable.IsZero() {
			resp, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
			if err == nil && len(resp.Groups) == 1 && resp.Groups[0].GroupState == "Stable" {
				stable = now
			}
		}
		if metricsURL != "" && lastRead.IsZero() && !stable.IsZero() {
			continue
		}
		offs, err := verify.Offsets(ctx, client, group, topic)
		if err != nil {
			continue
		}
		all := len(offs) > 0
		for _, o := range offs {
			if o.Committed != o.End && !(o.End == 0 && o.Committed < 0) {
				all = false
			}
		}
		if all {
			if stable.IsZero() {
				stable = p.start
			}
			if lastRead.IsZero() {
				lastRead = now
			}
			return stable, lastRead, time.Now(), nil
		}
	}
}

// consumed sums hitexport_records_consumed_total over partitions.
func consumed(url string) int64 {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var n float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "hitexport_records_consumed_total{") {
			f := strings.Fields(l)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			n += v
		}
	}
	return int64(n)
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
	bm := startBroker(e)
	p, err := startProc(cmd, logPath)
	if err != nil {
		return Result{}, err
	}
	var werr error
	select {
	case werr = <-p.done:
		p.done <- werr
	case <-time.After(e.Timeout):
	}
	brokerCPU := bm.per1M(l.Hits)
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
		WallSec:   time.Duration(lr.DoneNs - p.start.UnixNano()).Seconds(),
		ActiveSec: time.Duration(lr.DoneNs - lr.StartNs).Seconds(),
		Checked:   fmt.Sprintf("%d records read", lr.Records), BrokerCPUPer1M: brokerCPU, BrokerBackground: bm.background}
	r.finish(l.Hits, lr.Bytes, cpu, rss)
	return r, nil
}

// runExporter measures bin/hitexport end to end for one case.
func runExporter(e *Env, l Load, c Case, tag string) (Result, error) {
	name := fmt.Sprintf("%s-%s-%s-%s", e.RunID, tag, c.Format, c.Compression)
	prefix := "hitbench/" + name + "/"
	group := "hitbench-" + name
	logPath := filepath.Join(e.Out, "logs", name+".log")
	addr := "127.0.0.1:" + strconv.Itoa(freePort())
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HITEXPORT_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"HITEXPORT_KAFKA_BROKERS="+e.Brokers, "HITEXPORT_KAFKA_TOPIC="+l.Topic, "HITEXPORT_KAFKA_GROUP="+group,
		"HITEXPORT_S3_ENDPOINT="+e.S3Endpoint, "HITEXPORT_S3_BUCKET="+e.Bucket,
		"HITEXPORT_S3_ACCESS_KEY="+e.AccessKey, "HITEXPORT_S3_SECRET_KEY="+e.SecretKey,
		"HITEXPORT_FORMAT="+c.Format, "HITEXPORT_COMPRESSION="+c.Compression, "HITEXPORT_KEY_PREFIX="+prefix,
		"HITEXPORT_IDLE_TIMEOUT="+e.IdleTimeout.String(), "HITEXPORT_HTTP_ADDR="+addr,
		// The perf targets are measured in the partition layout (no merge).
		"HITEXPORT_LAYOUT=partition")
	if d := os.Getenv("BENCH_SPOOL_DIR"); d != "" {
		env = append(env, "HITEXPORT_SPOOL_DIR="+d)
	}
	cmd := exec.Command(e.Exporter, "run")
	cmd.Env = env
	bm := startBroker(e)
	p, err := startProc(cmd, logPath)
	if err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.Timeout)
	defer cancel()
	// The broker's CPU while the exporter reads: up to its last record
	// (its commits and the idle wait after are not reading).
	brokerCPU, taken := 0.0, false
	stable, lastRead, done, werr := waitCommitted(ctx, e, p, group, l.Topic, "http://"+addr+"/metrics", l.Hits,
		func() { brokerCPU, taken = bm.per1M(l.Hits), true })
	if !taken {
		brokerCPU = bm.per1M(l.Hits)
	}
	cpu, rss, _ := p.stop(60 * time.Second)
	if werr != nil {
		return Result{}, fmt.Errorf("exporter %s: %v\n%s", c, werr, tail(logPath, 20))
	}
	// The exporter closes the last window of a replay only after the
	// partition has been idle for IDLE_TIMEOUT: a wait by design, not work;
	// it is taken out of the active time (the upload and commit after it
	// stay in).
	active := done.Sub(stable)
	if tailWait := done.Sub(lastRead); tailWait > e.IdleTimeout {
		active -= e.IdleTimeout
	} else {
		active -= tailWait
	}
	r := Result{Name: "hitexport " + c.String(), Kind: "exporter", Format: c.Format, Compression: c.Compression,
		Topic: l.Topic, Partitions: l.Partitions,
		WallSec: done.Sub(p.start).Seconds(), ActiveSec: active.Seconds(),
		TailSec: done.Sub(lastRead).Seconds(), BrokerCPUPer1M: brokerCPU, BrokerBackground: bm.background}
	r.finish(l.Hits, l.Bytes, cpu, rss)
	if err := checkExporter(e, prefix, l, &r); err != nil {
		return r, err
	}
	return r, nil
}

// checkExporter sums the record counts of the objects written (x-amz-meta-
// record-count) and compares them with the valid hits produced; then deletes
// the objects unless BENCH_KEEP=1.
func checkExporter(e *Env, prefix string, l Load, r *Result) error {
	b, err := e.bucket()
	if err != nil {
		return err
	}
	ctx := context.Background()
	var keys []string
	if err := b.List(ctx, prefix, func(o store.ObjectInfo) error {
		keys = append(keys, o.Key)
		r.Objects++
		r.OutBytes += o.Size
		return nil
	}); err != nil {
		return err
	}
	var n, rejected int
	for _, k := range keys {
		info, err := b.Stat(ctx, k)
		if err != nil {
			return err
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
		return fmt.Errorf("%s: the bucket holds %d hits and %d rejected records; produced %d valid of %d", r.Name, n, rejected, l.Valid, l.Hits)
	}
	return e.cleanup(b, keys)
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
