// Command hitbench is the driver behind `make bench` (scripts/bench.sh): it
// loads a Kafka topic once with realistic hits (gen.Generate) and measures, in
// one run and against the real services,
//
//   - the limit: reading the topic with kafka-go alone (one Reader per
//     partition, the exporter's fetch settings, records dropped);
//   - the exporter end to end: bin/hitexport as a subprocess, its own consumer
//     group, until every offset is committed, for each format × compression;
//   - the peer: Kafka Connect standalone with an S3 sink writing JSON lines of
//     the same topic to the same S3 server, until its group's offsets reach
//     the end;
//   - optionally (BENCH_SCALE=1, or `hitbench scale`) the exporter with 1, 4
//     and 16 partitions and windows of 10k, 100k and 1M hits;
//
// and prints a table (hits/s, MB/s, CPU seconds per million hits, peak RSS,
// ratios) and writes it as JSON under .local/bench/. See docs/performance.md.
//
//	hitbench run     everything above (what make bench runs)
//	hitbench scale   only the scaling grid
//	hitbench limit   (internal) the kafka-go reader, run as a child process
//	hitbench produce only load the topic
//	hitbench profile FORMAT/COMPRESSION OUT.pprof   the exporter in process, with a CPU profile
//	hitbench requests FORMAT/COMPRESSION   the Kafka requests of the plain read and of the exporter, by kind (requests.go)
//	hitbench integrations  only the integrations benchmark (integrations.go; part of run unless BENCH_INTEGRATIONS=0)
//	hitbench intexporter OUT.pprof  (internal) "hitexport run" in process under a CPU profile
//
// Settings come from the environment (BENCH_*; the services from
// HITEXPORT_KAFKA_BROKERS, HITEXPORT_S3_ENDPOINT, HITEXPORT_S3_ACCESS_KEY,
// HITEXPORT_S3_SECRET_KEY with the local defaults).
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: hitbench run|scale|produce|limit")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = cmdRun(loadEnv())
	case "scale":
		err = cmdScale(loadEnv())
	case "produce":
		_, err = ensureTopic(loadEnv(), mainLoad(loadEnv()))
	case "profile":
		err = cmdProfile(loadEnv(), os.Args[2:])
	case "limit":
		err = cmdLimit(os.Args[2:])
	case "requests":
		err = cmdRequests(loadEnv(), os.Args[2:])
	case "integrations":
		err = cmdIntegrations(loadEnv())
	case "intexporter":
		err = cmdIntExporter(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hitbench:", err)
		os.Exit(1)
	}
}

// Env is the benchmark's configuration.
type Env struct {
	// brokerPID: the Kafka process's pid, found on first use (-1: none).
	brokerPID int
	// BrokerPIDFile: where scripts/kafka.sh recorded the broker's pid
	// (BENCH_BROKER_PIDFILE; default .local/kafka/kafka.pid).
	BrokerPIDFile string
	// phaseLen: the length of the last measured phase of each kind (the
	// broker's idle phase before the next one lasts as long).
	phaseLen map[string]time.Duration
	// Window: the exporter case also measured in the window layout
	// (BENCH_WINDOW_CASE, default ndjson/zstd; "0" or "none": not measured).
	Window *Case
	// OtelBin is the OpenTelemetry Collector peer (bench/otelcol, built by
	// scripts/bench.sh); empty or missing: the peer is skipped.
	OtelBin string
	// Otel: measure the OpenTelemetry Collector peer (BENCH_OTEL, default 1).
	Otel        bool
	Root        string // repository root
	Out         string // results directory
	Brokers     string
	S3Endpoint  string
	AccessKey   string
	SecretKey   string
	Bucket      string
	Exporter    string // path of bin/hitexport
	Hits        int
	Partitions  int
	Seed        uint64
	Span        time.Duration
	Late        float64
	Bad         float64
	Cases       []Case
	Repeat      int
	// Warmup: unrecorded rounds (limit and every case) before the measured
	// ones, so the broker's JIT and the page cache are warm in round 1 too.
	Warmup int
	Peer        bool
	PeerComp    string
	ConnectLibs string
	AivenLib    string
	FlushMs     int
	Scale       bool
	ScaleHits   []int
	ScaleParts  []int
	ScaleCase   Case
	IdleTimeout time.Duration
	Keep        bool
	RunID       string
	Timeout     time.Duration
}

// Case is one exporter configuration. Layout is the object layout
// (HITEXPORT_LAYOUT): "" or "partition", or "window".
type Case struct{ Format, Compression, Layout string }

func (c Case) String() string {
	if c.layout() != "partition" {
		return c.Format + "/" + c.Compression + "@" + c.Layout
	}
	return c.Format + "/" + c.Compression
}

// layout is HITEXPORT_LAYOUT for c: every run sets it explicitly.
func (c Case) layout() string {
	if c.Layout == "" {
		return "partition"
	}
	return c.Layout
}

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func atoi(k string, def int) int {
	v, err := strconv.Atoi(strings.ReplaceAll(getenv(k, strconv.Itoa(def)), "_", ""))
	if err != nil {
		fail("%s: not a whole number", k)
	}
	return v
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "hitbench: "+format+"\n", args...)
	os.Exit(2)
}

func parseCases(s string) []Case {
	if s == "all" {
		var out []Case
		for _, f := range []string{"ndjson", "json", "ocsf"} {
			for _, c := range []string{"none", "gzip", "zstd"} {
				out = append(out, Case{Format: f, Compression: c})
			}
		}
		return out
	}
	var out []Case
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		f, c, ok := strings.Cut(p, "/")
		if !ok {
			fail("BENCH_CASES: %q is not format/compression", p)
		}
		out = append(out, Case{Format: f, Compression: c})
	}
	return out
}

func ints(k, def string) []int {
	var out []int
	for _, p := range strings.Split(getenv(k, def), ",") {
		n, err := strconv.Atoi(strings.ReplaceAll(strings.TrimSpace(p), "_", ""))
		if err != nil {
			fail("%s: %q is not a whole number", k, p)
		}
		out = append(out, n)
	}
	return out
}

func loadEnv() *Env {
	wd, _ := os.Getwd()
	root := getenv("BENCH_ROOT", wd)
	e := &Env{
		Root:          root,
		Out:           getenv("BENCH_OUT", filepath.Join(root, ".local", "bench")),
		Brokers:       getenv("HITEXPORT_KAFKA_BROKERS", "127.0.0.1:9092"),
		S3Endpoint:    getenv("HITEXPORT_S3_ENDPOINT", "127.0.0.1:9000"),
		AccessKey:     getenv("HITEXPORT_S3_ACCESS_KEY", "minioadmin"),
		SecretKey:     getenv("HITEXPORT_S3_SECRET_KEY", "minioadmin"),
		Bucket:        getenv("BENCH_BUCKET", "hitbench"),
		Exporter:      getenv("BENCH_EXPORTER", filepath.Join(root, "bin", "hitexport")),
		Hits:          atoi("BENCH_HITS", 1_000_000),
		Partitions:    atoi("BENCH_PARTITIONS", 4),
		Seed:          uint64(atoi("BENCH_SEED", 1)),
		Cases:         parseCases(getenv("BENCH_CASES", "all")),
		Repeat:        atoi("BENCH_REPEAT", 1),
		Warmup:        atoi("BENCH_WARMUP", 1),
		Peer:          getenv("BENCH_PEER", "1") != "0",
		OtelBin:       getenv("BENCH_OTELCOL", filepath.Join(root, "bin", "otelcol-peer")),
		Otel:          getenv("BENCH_OTEL", "1") != "0",
		PeerComp:      getenv("BENCH_PEER_COMPRESSION", "zstd"),
		ConnectLibs:   getenv("BENCH_CONNECT_LIBS", filepath.Join(root, ".local", "bench", "connect", "libs")),
		AivenLib:      os.Getenv("BENCH_AIVEN_LIB"),
		FlushMs:       atoi("BENCH_CONNECT_FLUSH_MS", 5000),
		Scale:         getenv("BENCH_SCALE", "0") != "0",
		ScaleHits:     ints("BENCH_SCALE_HITS", "10000,100000,1000000"),
		ScaleParts:    ints("BENCH_SCALE_PARTITIONS", "1,4,16"),
		Keep:          getenv("BENCH_KEEP", "0") != "0",
		BrokerPIDFile: getenv("BENCH_BROKER_PIDFILE", filepath.Join(root, ".local", "kafka", "kafka.pid")),
		RunID:         time.Now().UTC().Format("20060102t150405"),
		Timeout:       time.Duration(atoi("BENCH_TIMEOUT_S", 900)) * time.Second,
	}
	var err error
	if e.Span, err = time.ParseDuration(getenv("BENCH_SPAN", "1h")); err != nil {
		fail("BENCH_SPAN: %v", err)
	}
	if e.Late, err = strconv.ParseFloat(getenv("BENCH_LATE", "0.02"), 64); err != nil {
		fail("BENCH_LATE: %v", err)
	}
	if e.Bad, err = strconv.ParseFloat(getenv("BENCH_BAD", "0"), 64); err != nil {
		fail("BENCH_BAD: %v", err)
	}
	if e.IdleTimeout, err = time.ParseDuration(getenv("BENCH_IDLE_TIMEOUT", "2s")); err != nil {
		fail("BENCH_IDLE_TIMEOUT: %v", err)
	}
	sc := parseCases(getenv("BENCH_SCALE_CASE", "ndjson/zstd"))
	if len(sc) != 1 {
		fail("BENCH_SCALE_CASE: one format/compression")
	}
	e.ScaleCase = sc[0]
	if w := getenv("BENCH_WINDOW_CASE", "ndjson/zstd"); w != "0" && w != "none" {
		wc := parseCases(w)
		if len(wc) != 1 {
			fail("BENCH_WINDOW_CASE: one format/compression")
		}
		wc[0].Layout = "window"
		e.Window = &wc[0]
	}
	if e.Warmup < 0 {
		fail("BENCH_WARMUP must be 0 or more")
	}
	if e.Hits < 1 || e.Partitions < 1 || e.Repeat < 1 {
		fail("BENCH_HITS, BENCH_PARTITIONS and BENCH_REPEAT must be at least 1")
	}
	return e
}

// Machine describes where the numbers were taken.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	MemoryMiB int64  `json:"memory_mib"`
	Kernel    string `json:"kernel"`
	Go        string `json:"go"`
	Load1     string `json:"load_avg_at_start"`
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				_, v, _ := strings.Cut(l, ":")
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "MemTotal:") {
				f := strings.Fields(l)
				if len(f) >= 2 {
					kb, _ := strconv.ParseInt(f[1], 10, 64)
					m.MemoryMiB = kb / 1024
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.Load1 = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return m
}
