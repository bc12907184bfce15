//go:build integration

// Package itest holds the integration and fault suites. They run against the
// real Kafka broker and S3 server that scripts/services.sh starts (make test
// starts them); nothing here is mocked.
//
// This file is the suites' one helper kit:
//
//   - TestMain (builds the binary), an env per test (topic, group, bucket) on
//     the shared services or on any Kafka/S3 pair (newEnvOn);
//   - private Kafka and S3 instances (scripts/kafka.sh, scripts/s3.sh on free
//     ports with their own data dirs) for the scenarios that stop a service,
//     so the shared services on the default ports are never disturbed;
//   - exporter processes (start, runX with watchable log lines, runOnce for
//     one-shot commands) and their HTTP endpoints, /metrics parsed, logs;
//   - producing (keyed, or to given partitions with given timestamps) and
//     reading back the topic and the bucket;
//   - a fault-injecting HTTP proxy in front of the real S3 server (s3Proxy):
//     it forwards every request unchanged (Host kept, so SigV4 signatures
//     stay valid) and, when armed, stalls the body of the next object PUT
//     half-way (an upload in flight), holds the next PUT before it reaches
//     the server (a zombie's late write), or holds the server's 200 after the
//     object is stored (uploaded, not yet known to the exporter, hence not
//     committed);
//   - a producer that keeps producing while the scenario runs (feeder);
//   - the fault suite's sizes, seed and result line.
package itest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/hits"
	"github.com/hitexport/hitexport/store"
	"github.com/hitexport/hitexport/verify"
)

var (
	binary    string
	brokers   = envOr("HITEXPORT_IT_KAFKA", "127.0.0.1:9092")
	s3Addr    = envOr("HITEXPORT_IT_S3", "127.0.0.1:9000")
	accessKey = envOr("HITEXPORT_IT_S3_ACCESS_KEY", "minioadmin")
	secretKey = envOr("HITEXPORT_IT_S3_SECRET_KEY", "minioadmin")
	repoRoot  string
)

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

func TestMain(m *testing.M) {
	wd, _ := os.Getwd()
	repoRoot = filepath.Dir(wd)
	dir, err := os.MkdirTemp("", "hitexport-it-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "hitexport")
	build := exec.Command("go", "build", "-o", binary, "./cmd/hitexport")
	build.Dir = repoRoot
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building hitexport:", err)
		os.Exit(1)
	}
	for _, addr := range []string{brokers, s3Addr} {
		c, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err != nil {
			fmt.Fprintf(os.Stderr, "integration tests need the services (make services): %s: %v\n", addr, err)
			os.Exit(1)
		}
		c.Close()
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one test's topic, group and bucket.
type env struct {
	t      *testing.T
	name   string
	topic  string
	group  string
	bucket *store.S3
	client *kafka.Client
	parts  int
}

func newEnv(t *testing.T, partitions int) *env {
	t.Helper()
	return newEnvOn(t, partitions, sharedSvc())
}

func retry(ctx context.Context, f func() error) error {
	var err error
	for i := 0; i < 20; i++ {
		if err = f(); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(500 * time.Millisecond):
		}
	}
	return err
}

// produce writes records to the topic, keyed, hash-partitioned.
func (e *env) produce(recs []gen.Record) {
	e.t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers), Topic: e.topic, Balancer: &kafka.Hash{}, BatchSize: 500,
		BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll, BatchBytes: 32 << 20}
	defer w.Close()
	msgs := make([]kafka.Message, 0, 500)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	flush := func() {
		if len(msgs) == 0 {
			return
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			e.t.Fatalf("produce: %s", tail(err.Error(), 500))
		}
		msgs = msgs[:0]
	}
	for _, r := range recs {
		msgs = append(msgs, kafka.Message{Key: r.Key, Value: r.Value, Time: time.Now()})
		if len(msgs) == cap(msgs) {
			flush()
		}
	}
	flush()
}

// exporter is one hitexport process.
type exporter struct {
	name string // in failure messages
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// baseEnv is the exporter's configuration for this env; extra overrides.
func (e *env) baseEnv(extra map[string]string) []string {
	cfg := map[string]string{
		"HITEXPORT_KAFKA_BROKERS":    brokers,
		"HITEXPORT_KAFKA_TOPIC":      e.topic,
		"HITEXPORT_KAFKA_GROUP":      e.group,
		"HITEXPORT_S3_ENDPOINT":      s3Addr,
		"HITEXPORT_S3_BUCKET":        e.bucket.Name(),
		"HITEXPORT_S3_ACCESS_KEY":    accessKey,
		"HITEXPORT_S3_SECRET_KEY":    secretKey,
		"HITEXPORT_FORMAT":           "ndjson",
		"HITEXPORT_COMPRESSION":      "none",
		"HITEXPORT_WINDOW":           "10m",
		"HITEXPORT_ALLOWED_LATENESS": "1m",
		"HITEXPORT_IDLE_TIMEOUT":     "2s",
		"HITEXPORT_HTTP_ADDR":        "127.0.0.1:0",
		"HITEXPORT_LOG_FORMAT":       "json",
		"HITEXPORT_RETRY_SCHEDULE":   "200ms,500ms,1s;1s,2s",
		// The window layout (the default) merges a window's parts at most
		// this long after every partition closed it: the tests wait for
		// the merges (env.check, itgDeploy.exact poll for them).
		"HITEXPORT_MERGE_INTERVAL": "1s",
	}
	if l := os.Getenv("HITEXPORT_IT_LAYOUT"); l != "" {
		// Run a suite in the other object layout (e.g. the fault suite in
		// the partition layout): HITEXPORT_IT_LAYOUT=partition. A test's
		// own HITEXPORT_LAYOUT (extra) still wins.
		cfg["HITEXPORT_LAYOUT"] = l
	}
	for k, v := range extra {
		cfg[k] = v
	}
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HITEXPORT_") {
			out = append(out, kv)
		}
	}
	for k, v := range cfg {
		out = append(out, k+"="+v)
	}
	return out
}

func (e *env) start(extra map[string]string, args ...string) *exporter {
	e.t.Helper()
	if len(args) == 0 {
		args = []string{"run"}
	}
	x := &exporter{name: "exporter", cmd: exec.Command(binary, args...), out: &syncBuffer{}, done: make(chan error, 1)}
	x.cmd.Env = e.baseEnv(extra)
	x.cmd.Stdout, x.cmd.Stderr = x.out, x.out
	if err := x.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { x.done <- x.cmd.Wait() }()
	e.t.Cleanup(func() { x.kill() })
	return x
}

func (x *exporter) kill() {
	if x.cmd.ProcessState == nil {
		_ = x.cmd.Process.Signal(syscall.SIGKILL)
		select {
		case <-x.done:
		case <-time.After(10 * time.Second):
		}
	}
}

// stop sends SIGTERM and waits; it returns how long the exit took.
func (x *exporter) stop(t *testing.T, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = x.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-x.done:
		if err != nil {
			t.Errorf("exporter exited with %v; output:\n%s", err, tail(x.out.String(), 3000))
		}
	case <-time.After(limit):
		t.Errorf("exporter did not stop within %s", limit)
		x.kill()
	}
	return time.Since(start)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// waitCommitted waits until the group's committed offsets reach the end
// offsets of every partition.
func (e *env) waitCommitted(timeout time.Duration, x ...*exporter) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var last []verify.PartitionOffsets
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		offs, err := verify.Offsets(ctx, e.client, e.group, e.topic)
		cancel()
		if err == nil {
			last = offs
			done := true
			for _, o := range offs {
				if o.Committed != o.End {
					done = false
				}
			}
			if done {
				return
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	var logs string
	for _, p := range x {
		logs += tail(p.out.String(), 4000)
	}
	e.t.Fatalf("offsets not committed to the end within %s: %+v\nexporter output:\n%s", timeout, last, logs)
}

// check reads the bucket back and compares it with the manifest and offsets.
func (e *env) check(recs []gen.Record, window time.Duration) verify.Report {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, err := verify.ReadBucket(ctx, e.bucket, "")
	// Window layout: merges finish after the commits (late parts wait
	// LATE_MAX_AGE); give them time before judging.
	for deadline := time.Now().Add(2 * time.Minute); err == nil && len(c.Pending) > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Second)
		c, err = verify.ReadBucket(ctx, e.bucket, "")
	}
	if err != nil {
		e.t.Fatalf("read bucket: %v", err)
	}
	manifest := make([]gen.Expect, len(recs))
	for i, r := range recs {
		manifest[i] = r.Expect
	}
	rep := verify.Compare(c, manifest, window)
	offs, err := verify.Offsets(ctx, e.client, e.group, e.topic)
	if err != nil {
		e.t.Fatalf("offsets: %v", err)
	}
	rep.CheckOffsets(offs)
	return rep
}

// objectCount counts the objects in the bucket.
func (e *env) objectCount() int {
	n := 0
	_ = e.bucket.List(context.Background(), "", func(store.ObjectInfo) error { n++; return nil })
	return n
}

// pastHour returns generator options whose windows all end before now minus
// the lateness, so an idle exporter closes every one of them.
func pastHour(seed uint64, n int) gen.Options {
	w := 10 * time.Minute
	end := time.Now().Add(-2 * time.Minute).Truncate(w)
	return gen.Options{Seed: seed, Count: n, Start: end.Add(-time.Hour), Span: time.Hour - time.Minute,
		Jitter: 30 * time.Second, LateFraction: 0.02, LateBy: 15 * time.Minute, BadFraction: 0.01}
}

// ---------------------------------------------------------------- sizes

// faultSize is the scale of the fault suite: FAULT_SIZE=small (CI, default)
// or large (a long run).
type faultSize struct {
	name string
	// TestFaultKill
	killHits, kills, killParts int
	killFeed                   time.Duration
	// TestFaultS3Outage
	outageHits, outageBurst int
	outage                  time.Duration
	// TestFaultKafkaRestart
	kafkaHits int
	kafkaDown time.Duration
	// TestFaultRebalance
	rebalHits int
	rebalFeed time.Duration
	// TestFaultSigterm
	termHits int
}

func sizeOf(t *testing.T) faultSize {
	switch s := os.Getenv("FAULT_SIZE"); s {
	case "", "small":
		return faultSize{name: "small",
			killHits: 24000, kills: 22, killParts: 3, killFeed: 100 * time.Second,
			outageHits: 6000, outageBurst: 20000, outage: 12 * time.Second,
			kafkaHits: 12000, kafkaDown: 10 * time.Second,
			rebalHits: 24000, rebalFeed: 50 * time.Second,
			termHits: 12000}
	case "large":
		return faultSize{name: "large",
			killHits: 120000, kills: 80, killParts: 6, killFeed: 8 * time.Minute,
			outageHits: 20000, outageBurst: 40000, outage: 60 * time.Second,
			kafkaHits: 80000, kafkaDown: 30 * time.Second,
			rebalHits: 100000, rebalFeed: 3 * time.Minute,
			termHits: 40000}
	default:
		t.Fatalf("FAULT_SIZE=%q: accepted small, large", s)
		return faultSize{}
	}
}

// faultSeed is the seed of the random choices (FAULT_SEED overrides it, to
// replay a run); it is logged.
func faultSeed(t *testing.T) uint64 {
	if s := os.Getenv("FAULT_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("FAULT_SEED=%q: %v", s, err)
		}
		return v
	}
	return uint64(time.Now().UnixNano())
}

// faultParallel runs the scenario in parallel with the others (they mostly
// wait for timeouts); FAULT_SERIAL=1 runs them one by one.
func faultParallel(t *testing.T) {
	if os.Getenv("FAULT_SERIAL") == "" {
		t.Parallel()
	}
}

// ---------------------------------------------------------------- services

// svc is where a test and its exporters reach Kafka and S3.
type svc struct {
	kafka, s3, ak, sk string
}

func sharedSvc() svc { return svc{kafka: brokers, s3: s3Addr, ak: accessKey, sk: secretKey} }

// env returns the exporter settings pointing at these services.
func (s svc) env() map[string]string {
	return map[string]string{
		"HITEXPORT_KAFKA_BROKERS": s.kafka, "HITEXPORT_S3_ENDPOINT": s.s3,
		"HITEXPORT_S3_ACCESS_KEY": s.ak, "HITEXPORT_S3_SECRET_KEY": s.sk,
	}
}

// private is a service of the test's own, started and stopped with one of
// the service scripts under its own environment (ports, data and pid dirs).
// It is stopped when the test ends.
type private struct {
	t      *testing.T
	addr   string
	script string
	envv   []string
	// how long the script may take to start and to stop the service
	startLimit, stopLimit time.Duration
}

func (p *private) launch() {
	p.t.Helper()
	p.t.Cleanup(func() { _, _ = runScript(p.t, p.stopLimit, p.envv, p.script, "stop") })
	p.start()
}

func (p *private) start() {
	p.t.Helper()
	if _, err := runScript(p.t, p.startLimit, p.envv, p.script, "start"); err != nil {
		p.t.Fatal(err)
	}
}

func (p *private) stop() {
	p.t.Helper()
	if _, err := runScript(p.t, p.stopLimit, p.envv, p.script, "stop"); err != nil {
		p.t.Fatal(err)
	}
}

// privateS3 is a versitygw of the test's own (scripts/s3.sh).
type privateS3 struct {
	private
	ak, sk string
}

// startPrivateS3 starts one with these keys; extra is more environment of
// scripts/s3.sh (e.g. S3_TLS_CERT, S3_TLS_KEY).
func startPrivateS3(t *testing.T, ak, sk string, extra ...string) *privateS3 {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	s := &privateS3{ak: ak, sk: sk, private: private{t: t, addr: fmt.Sprintf("127.0.0.1:%d", port), script: "s3.sh",
		startLimit: 3 * time.Minute, stopLimit: time.Minute,
		envv: append([]string{"S3_PORT=" + strconv.Itoa(port), "S3_DATA_DIR=" + filepath.Join(dir, "data"),
			"S3_DIR=" + filepath.Join(dir, "run"), "S3_ACCESS_KEY=" + ak, "S3_SECRET_KEY=" + sk}, extra...)}}
	s.launch()
	return s
}

func (s *privateS3) svc() svc { return svc{kafka: brokers, s3: s.addr, ak: s.ak, sk: s.sk} }

// privateKafka is a single-node Kafka of the test's own (scripts/kafka.sh;
// the jars are shared).
type privateKafka struct{ private }

func startPrivateKafka(t *testing.T) *privateKafka {
	t.Helper()
	dir := t.TempDir()
	port, cport := freePort(t), freePort(t)
	for cport == port {
		cport = freePort(t)
	}
	k := &privateKafka{private{t: t, addr: fmt.Sprintf("127.0.0.1:%d", port), script: "kafka.sh",
		startLimit: 5 * time.Minute, stopLimit: 2 * time.Minute,
		envv: []string{"KAFKA_PORT=" + strconv.Itoa(port), "KAFKA_CONTROLLER_PORT=" + strconv.Itoa(cport),
			"KAFKA_DIR=" + filepath.Join(dir, "kafka"), "KAFKA_HEAP_OPTS=-Xms128m -Xmx512m", "KAFKA_START_TIMEOUT=240"}}}
	k.launch()
	return k
}

// ---------------------------------------------------------------- env

// newEnvOn is newEnv on the given services: a fresh topic, group and bucket.
func newEnvOn(t *testing.T, partitions int, s svc) *env {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	name = fmt.Sprintf("%s-%d", name, time.Now().UnixNano()%1e9)
	if len(name) > 60 {
		name = name[len(name)-60:]
	}
	name = strings.Trim(name, "-")
	e := &env{t: t, name: name, topic: "hits-" + name, group: "hitexport-" + name, parts: partitions,
		client: &kafka.Client{Addr: kafka.TCP(s.kafka), Timeout: 20 * time.Second}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := retry(ctx, func() error {
		resp, err := e.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
			Topic: e.topic, NumPartitions: partitions, ReplicationFactor: 1,
			ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: "16777216"}},
		}}})
		if err != nil {
			return err
		}
		for _, err := range resp.Errors {
			if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	bucketName := "b" + strings.ReplaceAll(name, ".", "-")
	if len(bucketName) > 63 {
		bucketName = bucketName[:63]
	}
	bucketName = strings.TrimRight(bucketName, "-")
	b, err := store.NewS3(store.S3Options{Endpoint: s.s3, Bucket: bucketName, AccessKey: s.ak, SecretKey: s.sk, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := retry(ctx, func() error { return b.MakeBucket(ctx) }); err != nil {
		t.Fatalf("make bucket: %v", err)
	}
	e.bucket = b
	return e
}

// ---------------------------------------------------------------- exporter processes

// xproc is an exporter process whose output lines can be watched.
type xproc struct {
	*exporter
	hub *lineHub
}

// lineHub splits the exporter's output into lines and hands them to waiters.
type lineHub struct {
	mu      sync.Mutex
	partial []byte
	waiters []*lineWaiter
	count   map[string]int // by "msg"
}

type lineWaiter struct {
	substr string
	ch     chan string
}

var msgRe = regexp.MustCompile(`"msg":"((?:[^"\\]|\\.)*)"`)

func (h *lineHub) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.partial = append(h.partial, p...)
	for {
		i := bytes.IndexByte(h.partial, '\n')
		if i < 0 {
			break
		}
		line := string(h.partial[:i])
		h.partial = h.partial[i+1:]
		if m := msgRe.FindStringSubmatch(line); m != nil {
			if h.count == nil {
				h.count = map[string]int{}
			}
			h.count[m[1]]++
		}
		kept := h.waiters[:0]
		for _, w := range h.waiters {
			if strings.Contains(line, w.substr) {
				w.ch <- line
				continue
			}
			kept = append(kept, w)
		}
		h.waiters = kept
	}
	return len(p), nil
}

// next returns a channel that receives the next line containing substr.
func (h *lineHub) next(substr string) <-chan string {
	h.mu.Lock()
	defer h.mu.Unlock()
	w := &lineWaiter{substr: substr, ch: make(chan string, 1)}
	h.waiters = append(h.waiters, w)
	return w.ch
}

// msgs is how many lines with each "msg" were written so far.
func (h *lineHub) msgs(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count[msg]
}

// runX starts `hitexport <args>` (run by default) on e with the services s and
// the settings extra.
func (e *env) runX(name string, s svc, extra map[string]string, args ...string) *xproc {
	e.t.Helper()
	if len(args) == 0 {
		args = []string{"run"}
	}
	cfg := s.env()
	for k, v := range extra {
		cfg[k] = v
	}
	x := &xproc{exporter: &exporter{name: name, cmd: exec.Command(binary, args...), out: &syncBuffer{}, done: make(chan error, 1)},
		hub: &lineHub{}}
	x.cmd.Env = e.baseEnv(cfg)
	w := io.MultiWriter(x.out, x.hub)
	x.cmd.Stdout, x.cmd.Stderr = w, w
	if err := x.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { x.done <- x.cmd.Wait() }()
	e.t.Cleanup(func() {
		_ = x.cmd.Process.Signal(syscall.SIGCONT)
		x.kill()
		if e.t.Failed() {
			// The whole log, for the post-mortem (tests show only tails).
			path := filepath.Join(os.TempDir(), "hitexport-"+e.name+"-"+name+".log")
			if os.WriteFile(path, []byte(x.out.String()), 0o644) == nil {
				e.t.Logf("%s: full log in %s", name, path)
			}
		}
	})
	return x
}

var httpAddrRe = regexp.MustCompile(`"http_addr":"([^"]+)"`)

// httpAddr is the address the exporter's HTTP server listens on (from its
// start-up line).
func (x *exporter) httpAddr(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		// The start-up line holds the configured address (…:0) in "config"
		// and the one listened on after it.
		for _, m := range httpAddrRe.FindAllStringSubmatch(x.out.String(), -1) {
			if !strings.HasSuffix(m[1], ":0") {
				return m[1]
			}
		}
		select {
		case err := <-x.done:
			x.done <- err
			t.Fatalf("%s exited before listening: %v\n%s", x.name, err, tail(x.out.String(), 2000))
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("%s: no http_addr in its log", x.name)
	return ""
}

// exited reports whether the process has ended.
func (x *exporter) exited() bool {
	select {
	case err := <-x.done:
		x.done <- err
		return true
	default:
		return false
	}
}

func (x *xproc) signal(s syscall.Signal) { _ = x.cmd.Process.Signal(s) }

// rssKiB is the process's resident set size (VmRSS), in KiB.
func (x *xproc) rssKiB() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", x.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				v, _ := strconv.ParseInt(f[1], 10, 64)
				return v
			}
		}
	}
	return -1
}

// ---------------------------------------------------------------- S3 fault proxy

// s3Proxy forwards HTTP to an S3 server and injects faults into object PUTs.
type s3Proxy struct {
	t        *testing.T
	upstream string
	addr     string
	srv      *http.Server
	rp       *httputil.ReverseProxy

	mu      sync.Mutex
	arm     proxyArm
	release chan struct{}
	events  chan proxyEvent
	status  map[int]int // status of object PUTs forwarded
	puts    int
	delay   time.Duration // every object PUT waits this long before it is forwarded
}

type proxyArm int

const (
	armNone         proxyArm = iota
	armStallBody             // next object PUT: pass half the body, then wait for release
	armHoldRequest           // next object PUT: do not forward it until released
	armHoldResponse          // next object PUT stored by the server: hold the 2xx until released
)

type proxyEvent struct {
	kind string // "stalled", "held-request", "held-response"
	key  string
	hdr  http.Header // the PUT's headers (x-amz-meta-*, If-Match, If-None-Match)
}

type ctxKey int

const (
	ctxObjectPut ctxKey = iota
	ctxHoldResponse
)

func newS3Proxy(t *testing.T, upstream string) *s3Proxy {
	t.Helper()
	p := &s3Proxy{t: t, upstream: upstream, events: make(chan proxyEvent, 16), status: map[int]int{}, release: make(chan struct{})}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = p.upstream
			pr.Out.Host = pr.In.Host // the request is signed for this Host
		},
		Transport:      &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 32, IdleConnTimeout: 30 * time.Second},
		ModifyResponse: p.modifyResponse,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			w.WriteHeader(http.StatusBadGateway)
		},
		ErrorLog: nil,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.srv = &http.Server{Handler: p, ErrorLog: nil}
	go func() { _ = p.srv.Serve(ln) }()
	t.Cleanup(func() {
		p.releaseAll()
		_ = p.srv.Close()
	})
	return p
}

func objectPutKey(r *http.Request) (string, bool) {
	// Objects of records: hitlogs-… (both layouts) and the window layout's
	// staged parts (progress markers and manifests are not).
	isObject := strings.Contains(r.URL.Path, "hitlogs-") || strings.Contains(r.URL.Path, "/_hitexport/staging")
	if r.Method != http.MethodPut || !isObject || strings.Contains(r.URL.Path, "hitexport-check") {
		return "", false
	}
	path := strings.TrimPrefix(r.URL.Path, "/")
	if i := strings.IndexByte(path, '/'); i >= 0 {
		return path[i+1:], true
	}
	return path, true
}

func (p *s3Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, ok := objectPutKey(r)
	if !ok {
		p.rp.ServeHTTP(w, r)
		return
	}
	p.mu.Lock()
	arm, rel, delay := p.arm, p.release, p.delay
	p.arm = armNone
	p.puts++
	p.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	ctx := context.WithValue(r.Context(), ctxObjectPut, key)
	switch arm {
	case armHoldRequest:
		// Take the whole request first, so that once released it reaches
		// the server complete even if its sender is frozen or gone: the
		// late write of a zombie.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		p.emit(proxyEvent{"held-request", key, r.Header.Clone()})
		<-rel
		ctx = context.WithoutCancel(ctx)
	case armStallBody:
		r.Body = &stallBody{ReadCloser: r.Body, half: r.ContentLength / 2, rel: rel, ctx: r.Context(),
			onStall: func() { p.emit(proxyEvent{"stalled", key, nil}) }}
	case armHoldResponse:
		ctx = context.WithValue(ctx, ctxHoldResponse, rel)
	}
	p.rp.ServeHTTP(w, r.WithContext(ctx))
}

func (p *s3Proxy) modifyResponse(resp *http.Response) error {
	ctx := resp.Request.Context()
	key, ok := ctx.Value(ctxObjectPut).(string)
	if !ok {
		return nil
	}
	p.mu.Lock()
	p.status[resp.StatusCode]++
	p.mu.Unlock()
	if rel, ok := ctx.Value(ctxHoldResponse).(chan struct{}); ok {
		if resp.StatusCode/100 == 2 {
			p.emit(proxyEvent{"held-response", key, nil})
			select {
			case <-rel:
			case <-ctx.Done():
			}
		} else {
			// Not stored: arm again for the next PUT.
			p.mu.Lock()
			if p.arm == armNone {
				p.arm = armHoldResponse
			}
			p.mu.Unlock()
		}
	}
	return nil
}

func (p *s3Proxy) emit(ev proxyEvent) {
	select {
	case p.events <- ev:
	default:
	}
}

// set arms the proxy for the next object PUT (and drops stale events).
func (p *s3Proxy) set(a proxyArm) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.arm = a
	for {
		select {
		case <-p.events:
			continue
		default:
		}
		break
	}
}

// slow makes every object PUT wait d before it is forwarded (0: off).
func (p *s3Proxy) slow(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// wait returns the next event of kind, or false after timeout.
func (p *s3Proxy) wait(kind string, timeout time.Duration) (proxyEvent, bool) {
	deadline := time.After(timeout)
	for {
		select {
		case ev := <-p.events:
			if ev.kind == kind {
				return ev, true
			}
		case <-deadline:
			return proxyEvent{}, false
		}
	}
}

// releaseAll lets every held or stalled request go on, and disarms.
func (p *s3Proxy) releaseAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.arm = armNone
	close(p.release)
	p.release = make(chan struct{})
}

// statusCount is how many object PUTs the server answered with code.
func (p *s3Proxy) statusCount(code int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status[code]
}

// stallBody passes the first half bytes, then blocks until released.
type stallBody struct {
	io.ReadCloser
	half    int64
	n       int64
	stalled bool
	rel     chan struct{}
	ctx     context.Context
	onStall func()
}

func (s *stallBody) Read(b []byte) (int, error) {
	if !s.stalled && s.n >= s.half {
		s.stalled = true
		s.onStall()
		select {
		case <-s.rel:
		case <-s.ctx.Done():
			return 0, s.ctx.Err()
		}
	}
	if !s.stalled && s.n+int64(len(b)) > s.half && s.half > s.n {
		b = b[:s.half-s.n]
	}
	n, err := s.ReadCloser.Read(b)
	s.n += int64(n)
	return n, err
}

// ---------------------------------------------------------------- producer

// feeder produces records in order, a chunk at a time, over a duration,
// while the scenario runs. It can be paused (e.g. while the broker is down).
type feeder struct {
	t       *testing.T
	recs    []gen.Record
	w       *kafka.Writer
	mu      sync.Mutex
	cond    *sync.Cond
	n       int // records produced
	paused  bool
	busy    bool
	stopped bool
	err     error
	done    chan struct{}
}

// feed starts producing recs to e's topic on the broker at addr, evenly over d.
func (e *env) feed(addr string, recs []gen.Record, d time.Duration) *feeder {
	f := &feeder{t: e.t, recs: recs, done: make(chan struct{}),
		w: &kafka.Writer{Addr: kafka.TCP(addr), Topic: e.topic, Balancer: &kafka.Hash{}, BatchSize: 1000,
			BatchTimeout: 2 * time.Millisecond, RequiredAcks: kafka.RequireAll, BatchBytes: 32 << 20, MaxAttempts: 3}}
	f.cond = sync.NewCond(&f.mu)
	const tick = 100 * time.Millisecond
	steps := int(d / tick)
	if steps < 1 {
		steps = 1
	}
	chunk := (len(recs) + steps - 1) / steps
	go func() {
		defer close(f.done)
		defer f.w.Close()
		next := time.Now()
		for {
			f.mu.Lock()
			for f.paused && !f.stopped {
				f.cond.Wait()
			}
			if f.stopped || f.n >= len(recs) {
				f.mu.Unlock()
				return
			}
			lo, hi := f.n, min(f.n+chunk, len(recs))
			f.busy = true
			f.mu.Unlock()
			err := f.write(recs[lo:hi])
			f.mu.Lock()
			f.busy = false
			if err == nil {
				f.n = hi
			} else {
				f.err = err
				f.stopped = true
			}
			f.cond.Broadcast()
			f.mu.Unlock()
			next = next.Add(tick)
			if s := time.Until(next); s > 0 {
				time.Sleep(s)
			}
		}
	}()
	e.t.Cleanup(f.stop)
	return f
}

func (f *feeder) write(recs []gen.Record) error {
	msgs := make([]kafka.Message, len(recs))
	now := time.Now()
	for i, r := range recs {
		msgs[i] = kafka.Message{Key: r.Key, Value: r.Value, Time: now}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return f.w.WriteMessages(ctx, msgs...)
}

// pause waits for the write in flight and stops producing.
func (f *feeder) pause() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paused = true
	for f.busy {
		f.cond.Wait()
	}
}

func (f *feeder) resume() {
	f.mu.Lock()
	f.paused = false
	f.cond.Broadcast()
	f.mu.Unlock()
}

// stop ends producing (what was produced stays produced).
func (f *feeder) stop() {
	f.mu.Lock()
	f.stopped = true
	f.cond.Broadcast()
	f.mu.Unlock()
	<-f.done
}

// finish waits until every record is produced and fails the test on a
// produce error.
func (f *feeder) finish(timeout time.Duration) {
	f.t.Helper()
	select {
	case <-f.done:
	case <-time.After(timeout):
		f.t.Fatalf("producer did not finish within %s (%d of %d produced)", timeout, f.count(), len(f.recs))
	}
	if f.err != nil {
		f.t.Fatalf("produce: %s", tail(f.err.Error(), 500))
	}
}

func (f *feeder) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// produced is what was produced so far (the manifest of the run).
func (f *feeder) produced() []gen.Record {
	return f.recs[:f.count()]
}

// ---------------------------------------------------------------- data

// minuteData makes n records whose event times run in order (5 s of
// disorder, 1% late by 3 minutes, 0.5% malformed) over span, ending three
// minutes before now: with 1-minute windows every window closes once the
// exporter goes idle, and a replay closes windows by event time as it goes.
func minuteData(seed uint64, n int, span time.Duration, payload int) []gen.Record {
	end := time.Now().Add(-3 * time.Minute).Truncate(time.Minute)
	return gen.Generate(gen.Options{Seed: seed, Count: n, Start: end.Add(-span), Span: span,
		Jitter: 5 * time.Second, LateFraction: 0.01, LateBy: 3 * time.Minute, BadFraction: 0.005, PayloadBytes: payload})
}

// faultExtra are the exporter settings every fault scenario starts from:
// 1-minute windows, short session timeout (a killed member's partitions move
// after 6 s, the broker's minimum), small objects, quick retries.
func faultExtra(more map[string]string) map[string]string {
	m := map[string]string{
		"HITEXPORT_WINDOW":                "1m",
		"HITEXPORT_ALLOWED_LATENESS":      "1m",
		"HITEXPORT_IDLE_TIMEOUT":          "2s",
		"HITEXPORT_LATE_MAX_AGE":          "20s",
		"HITEXPORT_MAX_OBJECT_BYTES":      "1048576",
		"HITEXPORT_KAFKA_SESSION_TIMEOUT": "6s",
		"HITEXPORT_RETRY_SCHEDULE":        "200ms,500ms,1s;1s,2s",
		"HITEXPORT_SHUTDOWN_TIMEOUT":      "10s",
	}
	for k, v := range more {
		m[k] = v
	}
	return m
}

// ---------------------------------------------------------------- results

// faultResult logs the scenario's result line and, when FAULT_RESULTS names
// a file, appends it there as a Markdown table row (docs/faults.md is made
// from one run).
func faultResult(t *testing.T, scenario string, rep verify.Report, wall time.Duration, notes string) {
	t.Helper()
	line := fmt.Sprintf("RESULT scenario=%s produced=%d (valid %d, malformed %d) hits_in_bucket=%d rejected_in_bucket=%d duplicates=%d missing=%d rejected_missing=%d wrong_window=%d objects=%d wall=%s | %s",
		scenario, rep.Produced, rep.ProducedValid, rep.ProducedRejected, rep.HitsInBucket, rep.RejectedInBucket,
		rep.Duplicates, rep.Missing, rep.RejectedMissing, rep.WrongWindow, rep.Objects, wall.Round(time.Second), notes)
	t.Log(line)
	if path := os.Getenv("FAULT_RESULTS"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(f, "| %s | %d | %d | %d | %d | %d | %d | %s | %s |\n", scenario, rep.ProducedValid, rep.HitsInBucket,
				rep.ProducedRejected, rep.RejectedInBucket, rep.Duplicates, rep.Missing, wall.Round(time.Second), notes)
			f.Close()
		}
	}
}

// mustOK fails the test when the checker found a violation.
func mustOK(t *testing.T, rep verify.Report, logs ...*xproc) {
	t.Helper()
	if rep.OK() && rep.HitsInBucket == rep.ProducedValid && rep.RejectedInBucket == rep.ProducedRejected {
		return
	}
	var out string
	for _, x := range logs {
		out += "---- " + x.name + "\n" + tail(x.out.String(), 3000)
	}
	t.Fatalf("invariants violated: %+v\n%s", rep, out)
}

// rng is the scenario's random source.
func rng(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d)) }

// sortedKeys is for stable log lines.
func sortedKeys(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// ---------------------------------------------------------------- one-shot commands, HTTP, metrics, logs, read-back

// runOnce runs `hitexport <args>` to its end with the env's configuration
// plus extra, and returns stdout, stderr and the exit code.
func (e *env) runOnce(extra map[string]string, args ...string) (string, string, int) {
	e.t.Helper()
	var stdout, stderr bytes.Buffer
	code := e.runTo(&stdout, &stderr, extra, args...)
	return stdout.String(), stderr.String(), code
}

// runCombined is runOnce with stdout and stderr in one stream, in the order
// they were written.
func (e *env) runCombined(extra map[string]string, args ...string) (string, int) {
	e.t.Helper()
	var out bytes.Buffer
	code := e.runTo(&out, &out, extra, args...)
	return out.String(), code
}

func (e *env) runTo(stdout, stderr io.Writer, extra map[string]string, args ...string) int {
	e.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = e.baseEnv(extra)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		e.t.Fatalf("%s %v: %v", binary, args, err)
	}
	return 0
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// httpGet returns the status and body of http://addr/path.
func httpGet(addr, path string) (int, string, error) {
	resp, err := httpClient.Get("http://" + addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// mustGet is httpGet; an error fails the test.
func mustGet(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	code, body, err := httpGet(addr, path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return code, body
}

// readyState is /readyz decoded.
type readyState struct {
	Code                int
	Ready               bool    `json:"ready"`
	Joined              bool    `json:"group_joined"`
	Degraded            bool    `json:"degraded"`
	ConsecutiveFailures int     `json:"consecutive_upload_failures"`
	FailureRatio        float64 `json:"failure_ratio"`
	Attempts            int     `json:"attempts_in_window"`
	LastError           string  `json:"last_error"`
	Reason              string  `json:"reason"`
}

func readyz(t *testing.T, addr string) readyState {
	t.Helper()
	code, body := mustGet(t, addr, "/readyz")
	var r readyState
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("/readyz body %q: %v", body, err)
	}
	r.Code = code
	return r
}

// sample is one sample of the Prometheus text format.
type sample struct {
	Labels map[string]string
	Value  float64
}

type metrics map[string][]sample

var metricLineRe = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
var metricLabelRe = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// scrape reads /metrics; it returns the body too (for messages).
func scrape(addr string) (metrics, string, error) {
	code, body, err := httpGet(addr, "/metrics")
	if err != nil {
		return nil, "", err
	}
	if code != 200 {
		return nil, body, fmt.Errorf("/metrics: status %d", code)
	}
	m := metrics{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		g := metricLineRe.FindStringSubmatch(line)
		if g == nil {
			return nil, body, fmt.Errorf("/metrics: unparsable line %q", line)
		}
		v, err := strconv.ParseFloat(g[3], 64)
		if err != nil {
			return nil, body, fmt.Errorf("/metrics: value of %q: %v", line, err)
		}
		s := sample{Labels: map[string]string{}, Value: v}
		for _, l := range metricLabelRe.FindAllStringSubmatch(g[2], -1) {
			s.Labels[l[1]] = l[2]
		}
		m[g[1]] = append(m[g[1]], s)
	}
	return m, body, nil
}

// mustScrape is scrape; an error fails the test.
func mustScrape(t *testing.T, addr string) metrics {
	t.Helper()
	m, _, err := scrape(addr)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// get returns the value of the sample of name whose labels include the given
// pairs, and whether there is one.
func (m metrics) get(name string, kv ...string) (float64, bool) {
	for _, s := range m[name] {
		match := true
		for i := 0; i+1 < len(kv); i += 2 {
			if s.Labels[kv[i]] != kv[i+1] {
				match = false
			}
		}
		if match {
			return s.Value, true
		}
	}
	return 0, false
}

// val is get's value (0 when there is no such sample).
func (m metrics) val(name string, kv ...string) float64 {
	v, _ := m.get(name, kv...)
	return v
}

// sum adds every sample of the metric name.
func (m metrics) sum(name string) float64 {
	total := 0.0
	for _, s := range m[name] {
		total += s.Value
	}
	return total
}

// metricNames reads every metric name declared in pipeline/metrics.go, so
// a metric added there without a check here fails the test.
func metricNames(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot, "pipeline", "metrics.go"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var names []string
	for _, g := range regexp.MustCompile(`Name:\s*"([a-z0-9_]+)"`).FindAllStringSubmatch(string(src), -1) {
		if n := "hitexport_" + g[1]; !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	if len(names) < 15 {
		t.Fatalf("found only %d metric names in pipeline/metrics.go: %v", len(names), names)
	}
	return names
}

// stampedMsg is a record to produce with its partition and Kafka timestamp.
type stampedMsg struct {
	Partition int
	Time      time.Time
	Key       []byte
	Value     []byte
}

// produceAt writes messages to the partitions they name with their
// timestamps, in order.
func (e *env) produceAt(msgs []stampedMsg) {
	e.t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers), Topic: e.topic, BatchSize: 500, BatchTimeout: 5 * time.Millisecond,
		RequiredAcks: kafka.RequireAll, BatchBytes: 32 << 20,
		Balancer: kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.Partition })}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	batch := make([]kafka.Message, 0, 500)
	flush := func() {
		if len(batch) > 0 {
			if err := w.WriteMessages(ctx, batch...); err != nil {
				e.t.Fatalf("produce: %s", tail(err.Error(), 500))
			}
			batch = batch[:0]
		}
	}
	for _, m := range msgs {
		batch = append(batch, kafka.Message{Partition: m.Partition, Time: m.Time, Key: m.Key, Value: m.Value})
		if len(batch) == cap(batch) {
			flush()
		}
	}
	flush()
}

// stamped spreads generated records over the partitions (by index) with
// Kafka timestamps that follow their place in the stream — a producer that
// sends each hit a few seconds after it happened: start + span*i/n + delay.
func stamped(recs []gen.Record, o gen.Options, parts int, delay time.Duration) []stampedMsg {
	out := make([]stampedMsg, len(recs))
	for i, r := range recs {
		at := o.Start.Add(time.Duration(float64(o.Span) * float64(i) / float64(len(recs)))).Add(delay)
		out[i] = stampedMsg{Partition: i % parts, Time: at, Key: r.Key, Value: r.Value}
	}
	return out
}

// record is one record read back from the topic.
type record struct {
	Offset int64
	Time   time.Time // Kafka timestamp
	Value  []byte
	Valid  bool
	Event  int64 // event time, Unix ms (valid hits)
}

// readBack reads every record of every partition of the topic.
func (e *env) readBack() map[int][]record {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	offs, err := verify.Offsets(ctx, e.client, e.group, e.topic)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[int][]record{}
	for _, po := range offs {
		if po.End == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{brokers}, Topic: e.topic, Partition: po.Partition, MaxWait: 200 * time.Millisecond})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				e.t.Fatalf("read back partition %d: %v", po.Partition, err)
			}
			rec := record{Offset: m.Offset, Time: m.Time, Value: m.Value}
			if d, reason := hits.Decode(m.Value, m.Time, hits.Limits{MaxBytes: 1 << 20, MaxFuture: time.Hour}); reason == "" {
				rec.Valid, rec.Event = true, d.TimeMillis
			}
			out[po.Partition] = append(out[po.Partition], rec)
			if m.Offset+1 >= po.End {
				break
			}
		}
		r.Close()
	}
	return out
}

// object is one object of a bucket with its bytes and metadata.
type object struct {
	Key  string
	ETag string
	Size int64
	Meta map[string]string
	Data []byte
}

func readObjects(t *testing.T, b store.Bucket) map[string]object {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := map[string]object{}
	err := b.List(ctx, "", func(oi store.ObjectInfo) error {
		if strings.Contains(oi.Key, "hitexport-check/") {
			return nil
		}
		st, err := b.Stat(ctx, oi.Key)
		if err != nil {
			return err
		}
		rc, err := b.Get(ctx, oi.Key)
		if err != nil {
			return err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		out[oi.Key] = object{Key: oi.Key, ETag: st.ETag, Size: oi.Size, Meta: st.Metadata, Data: data}
		return nil
	})
	if err != nil {
		t.Fatalf("read bucket: %v", err)
	}
	return out
}

func (o object) int(t *testing.T, key string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(o.Meta[key], 10, 64)
	if err != nil {
		t.Fatalf("%s: metadata %s=%q", o.Key, key, o.Meta[key])
	}
	return v
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// runScript runs one of the service scripts with extra environment; its
// output is in the error when it fails.
func runScript(t *testing.T, timeout time.Duration, env []string, script string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot, "scripts", script), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v\n%s", script, strings.Join(args, " "), err, tail(string(out), 3000))
	}
	return string(out), nil
}

// waitFor polls cond until it holds; past timeout it fails the test with
// the tails of the logs.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool, logs ...*exporter) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	var out string
	for _, x := range logs {
		out += tail(x.out.String(), 4000)
	}
	t.Fatalf("timed out after %s waiting for %s\n%s", timeout, what, out)
}

func (e *env) committedOffsets() map[int]verify.PartitionOffsets {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	offs, err := verify.Offsets(ctx, e.client, e.group, e.topic)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[int]verify.PartitionOffsets{}
	for _, o := range offs {
		out[o.Partition] = o
	}
	return out
}

// logLine is one JSON log line of the exporter.
type logLine map[string]any

func parseLogs(t *testing.T, out string) []logLine {
	t.Helper()
	var lines []logLine
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		lines = append(lines, l)
	}
	return lines
}

func (l logLine) str(k string) string { s, _ := l[k].(string); return s }
func (l logLine) num(k string) (int64, bool) {
	f, ok := l[k].(float64)
	return int64(f), ok
}
