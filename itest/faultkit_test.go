//go:build integration

package itest

// Shared tools of the fault, hostile-input and secrets suites:
//
//   - private Kafka and S3 instances (scripts/kafka.sh, scripts/s3.sh on free
//     ports with their own data dirs) for the scenarios that stop a service,
//     so the shared services on the default ports are never disturbed;
//   - an env on any Kafka/S3 pair (newEnvOn) and exporter processes whose log
//     lines can be watched (runX);
//   - a fault-injecting HTTP proxy in front of the real S3 server (s3Proxy):
//     it forwards every request unchanged (Host kept, so SigV4 signatures
//     stay valid) and, when armed, stalls the body of the next object PUT
//     half-way (an upload in flight), holds the next PUT before it reaches
//     the server (a zombie's late write), or holds the server's 200 after the
//     object is stored (uploaded, not yet known to the exporter, hence not
//     committed);
//   - a producer that keeps producing while the scenario runs (feeder);
//   - /metrics, /readyz and RSS sampling; the result line of each scenario.

import (
	"bufio"
	"bytes"
	"context"
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
	"github.com/hitexport/hitexport/store"
	"github.com/hitexport/hitexport/verify"
)

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

func fkFreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// fkScript runs one of the service scripts with extra environment; its
// output is shown only when it fails.
func fkScript(t *testing.T, timeout time.Duration, env []string, script string, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot, "scripts", script), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", script, strings.Join(args, " "), err, tail(string(out), 3000))
	}
	return nil
}

// privateS3 is a versitygw of the test's own (scripts/s3.sh with its own
// port, data and pid dirs), which the test may stop and start.
type privateS3 struct {
	t    *testing.T
	addr string
	ak   string
	sk   string
	envv []string
}

func startPrivateS3(t *testing.T, ak, sk string) *privateS3 {
	t.Helper()
	dir := t.TempDir()
	port := fkFreePort(t)
	s := &privateS3{t: t, addr: fmt.Sprintf("127.0.0.1:%d", port), ak: ak, sk: sk,
		envv: []string{"S3_PORT=" + strconv.Itoa(port), "S3_DATA_DIR=" + filepath.Join(dir, "data"),
			"S3_DIR=" + filepath.Join(dir, "run"), "S3_ACCESS_KEY=" + ak, "S3_SECRET_KEY=" + sk}}
	t.Cleanup(func() { _ = fkScript(t, time.Minute, s.envv, "s3.sh", "stop") })
	s.start()
	return s
}

func (s *privateS3) start() {
	s.t.Helper()
	if err := fkScript(s.t, 3*time.Minute, s.envv, "s3.sh", "start"); err != nil {
		s.t.Fatal(err)
	}
}

func (s *privateS3) stop() {
	s.t.Helper()
	if err := fkScript(s.t, time.Minute, s.envv, "s3.sh", "stop"); err != nil {
		s.t.Fatal(err)
	}
}

func (s *privateS3) svc() svc { return svc{kafka: brokers, s3: s.addr, ak: s.ak, sk: s.sk} }

// privateKafka is a single-node Kafka of the test's own (scripts/kafka.sh
// with its own ports and data dir; the jars are shared).
type privateKafka struct {
	t    *testing.T
	addr string
	envv []string
}

func startPrivateKafka(t *testing.T) *privateKafka {
	t.Helper()
	dir := t.TempDir()
	port, cport := fkFreePort(t), fkFreePort(t)
	for cport == port {
		cport = fkFreePort(t)
	}
	k := &privateKafka{t: t, addr: fmt.Sprintf("127.0.0.1:%d", port),
		envv: []string{"KAFKA_PORT=" + strconv.Itoa(port), "KAFKA_CONTROLLER_PORT=" + strconv.Itoa(cport),
			"KAFKA_DIR=" + filepath.Join(dir, "kafka"), "KAFKA_HEAP_OPTS=-Xms128m -Xmx512m", "KAFKA_START_TIMEOUT=240"}}
	t.Cleanup(func() { _ = fkScript(t, 2*time.Minute, k.envv, "kafka.sh", "stop") })
	k.start()
	return k
}

func (k *privateKafka) start() {
	k.t.Helper()
	if err := fkScript(k.t, 5*time.Minute, k.envv, "kafka.sh", "start"); err != nil {
		k.t.Fatal(err)
	}
}

func (k *privateKafka) stop() {
	k.t.Helper()
	if err := fkScript(k.t, 2*time.Minute, k.envv, "kafka.sh", "stop"); err != nil {
		k.t.Fatal(err)
	}
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
	name string
	hub  *lineHub
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
	x := &xproc{exporter: &exporter{cmd: exec.Command(binary, args...), out: &syncBuffer{}, done: make(chan error, 1)},
		name: name, hub: &lineHub{}}
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
func (x *xproc) httpAddr(t *testing.T) string {
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
func (x *xproc) exited() bool {
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

// ---------------------------------------------------------------- HTTP endpoints

var fkHTTP = &http.Client{Timeout: 5 * time.Second}

// httpGet returns the status and body of http://addr/path.
func httpGet(addr, path string) (int, string, error) {
	resp, err := fkHTTP.Get("http://" + addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// metrics is one scrape of /metrics: series (name plus labels, as written) to
// value.
type metrics map[string]float64

func scrape(addr string) (metrics, string, error) {
	code, body, err := httpGet(addr, "/metrics")
	if err != nil {
		return nil, "", err
	}
	if code != 200 {
		return nil, body, fmt.Errorf("/metrics: status %d", code)
	}
	m := metrics{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			continue
		}
		m[l[:i]] = v
	}
	return m, body, nil
}

// sum adds every series of the metric name.
func (m metrics) sum(name string) float64 {
	var s float64
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			s += v
		}
	}
	return s
}

// get is the value of the series with exactly these labels (e.g.
// `reason="too_large"`).
func (m metrics) get(name, labels string) float64 { return m[name+"{"+labels+"}"] }

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
	if r.Method != http.MethodPut || !strings.Contains(r.URL.Path, "hitlogs-") || strings.Contains(r.URL.Path, "hitexport-check") {
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
