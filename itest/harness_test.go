//go:build integration

// Package itest holds the integration and fault suites. They run against the
// real Kafka broker and S3 server that scripts/services.sh starts (make test
// starts them); nothing here is mocked.
package itest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
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
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	name = fmt.Sprintf("%s-%d", name, time.Now().UnixNano()%1e9)
	if len(name) > 60 {
		name = name[len(name)-60:]
	}
	name = strings.Trim(name, "-")
	e := &env{t: t, name: name, topic: "hits-" + name, group: "hitexport-" + name, parts: partitions,
		client: &kafka.Client{Addr: kafka.TCP(brokers), Timeout: 20 * time.Second}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := e.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: e.topic, NumPartitions: partitions, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: "16777216"}},
	}}})
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	for _, err := range resp.Errors {
		if err != nil {
			t.Fatalf("create topic: %v", err)
		}
	}
	bucketName := "b" + strings.ReplaceAll(name, ".", "-")
	if len(bucketName) > 63 {
		bucketName = bucketName[:63]
	}
	bucketName = strings.TrimRight(bucketName, "-")
	b, err := store.NewS3(store.S3Options{Endpoint: s3Addr, Bucket: bucketName, AccessKey: accessKey, SecretKey: secretKey, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := retry(ctx, func() error { return b.MakeBucket(ctx) }); err != nil {
		t.Fatalf("make bucket: %v", err)
	}
	e.bucket = b
	return e
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
	x := &exporter{cmd: exec.Command(binary, args...), out: &syncBuffer{}, done: make(chan error, 1)}
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
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := verify.ReadBucket(ctx, e.bucket, "")
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

var _ = io.Discard
