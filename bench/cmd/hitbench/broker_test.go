package main

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and a parenthesis; utime 1234, stime 766.
	line := "6547 (java (x) y) S 1 6547 6547 0 -1 4194560 100 0 0 0 1234 766 0 0 20 0 80 0 1000 1 1\n"
	if got := parseStatCPU(line); math.Abs(got-20.0) > 1e-9 {
		t.Fatalf("parseStatCPU = %v, want 20", got)
	}
	if got := parseStatCPU("6547 (java) S 1 2"); got != -1 {
		t.Fatalf("short line: %v, want -1", got)
	}
	if got := procCPU(os.Getpid()); got < 0 {
		t.Fatalf("procCPU of this process: %v", got)
	}
}

const ssSample = `0      0      127.0.0.1:52164 127.0.0.1:9092 users:(("hitexport",pid=11474,fd=9))
	 bbr wscale:1,10 rto:204 bytes_sent:1954 segs_out:30 segs_in:18 data_segs_out:16 data_segs_in:16 app_limited
0      0      127.0.0.1:52180 127.0.0.1:9092 users:(("hitexport",pid=11474,fd=8))
	 bbr wscale:1,10 rto:204 segs_out:38 segs_in:30 data_segs_out:26 data_segs_in:27
0      0      127.0.0.1:52999 127.0.0.1:9092 users:(("java",pid=114740,fd=8))
	 bbr wscale:1,10 rto:204 segs_out:38 segs_in:30 data_segs_out:1000 data_segs_in:27
`

func TestParseSentSegments(t *testing.T) {
	if got := parseSentSegments(ssSample, 11474); got != 42 {
		t.Fatalf("pid 11474: %d, want 42 (16 + 26, not the other pid's)", got)
	}
	if got := parseSentSegments(ssSample, 114740); got != 1000 {
		t.Fatalf("pid 114740: %d, want 1000", got)
	}
	if got := parseSentSegments(ssSample, 1); got != 0 {
		t.Fatalf("pid 1: %d, want 0", got)
	}
}

// A pid file naming a process that is not a kafka.Kafka JVM holding the
// port is not taken.
func TestPidFromFileChecksTheProcess(t *testing.T) {
	pf := filepath.Join(t.TempDir(), "kafka.pid")
	if err := os.WriteFile(pf, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := pidFromFile(pf, map[string]bool{"socket:[1]": true}); got != 0 {
		t.Fatalf("pidFromFile took %d (the test process, not Kafka)", got)
	}
	if got := pidFromFile(filepath.Join(t.TempDir(), "missing"), nil); got != 0 {
		t.Fatalf("missing pid file: %d", got)
	}
}

// The idle phase's CPU is scaled to the phase's length and subtracted.
func TestBrokerMeterNet(t *testing.T) {
	e := &Env{}
	m := brokerMeter{e: e, key: "k", pid: os.Getpid(), start: procCPU(os.Getpid()), at: time.Now().Add(-2 * time.Second),
		idle: 0.5, idleS: 1}
	p, ok := m.end()
	if !ok {
		t.Fatal("not measured")
	}
	if p.Sec < 2 || math.Abs(p.Idle-0.5*p.Sec) > 1e-9 || math.Abs(p.Net-(p.Raw-p.Idle)) > 1e-9 {
		t.Fatalf("phase %+v: idle must be 0.5 CPU s per s of the phase, net raw − idle", p)
	}
	if d := e.idleLength("k", 1_000_000); d < 2*time.Second || d > 3*time.Second {
		t.Fatalf("the next idle phase of k lasts %s, want the phase's length", d)
	}
	if d := (&Env{}).idleLength("k", 100_000); d != 2*time.Second {
		t.Fatalf("first idle phase for 100k hits: %s, want 2s", d)
	}
	if _, ok := (brokerMeter{start: -1}).end(); ok {
		t.Fatal("an unmeasured broker reported a phase")
	}
}

func TestMedianBroker(t *testing.T) {
	rs := []Result{
		{HitsPerSec: 1, CPUPer1M: 5, BrokerCPUPer1M: 0.3, BrokerRawPer1M: 1, BrokerIdlePer1M: 0.7, RequestsPer1M: 100},
		{HitsPerSec: 3, CPUPer1M: 6, BrokerCPUPer1M: notMeasured, RequestsPer1M: -1},
		{HitsPerSec: 2, CPUPer1M: 7, BrokerCPUPer1M: 0.1, BrokerRawPer1M: 2, BrokerIdlePer1M: 1.9, RequestsPer1M: 300},
	}
	m := median(rs)
	if m.HitsPerSec != 2 {
		t.Fatalf("median round: %v", m.HitsPerSec)
	}
	// Two measured rounds: the mean of the two.
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	if !near(m.BrokerCPUPer1M, 0.2) || !near(m.BrokerRawPer1M, 1.5) || !near(m.BrokerIdlePer1M, 1.3) || !near(m.RequestsPer1M, 200) {
		t.Fatalf("broker medians %+v", m)
	}
	if len(m.BrokerNetSamples) != 2 || len(m.CPUSamples) != 3 {
		t.Fatalf("samples: %v %v", m.BrokerNetSamples, m.CPUSamples)
	}
	if midpoint([]float64{3, 1, 2}) != 2 || midpoint(nil) != 0 {
		t.Fatal("midpoint of an odd count")
	}
	lim := &Result{BrokerCPUPer1M: 0.1}
	if v, ok := brokerRatio(&m, lim); !ok || math.Abs(v-2) > 1e-9 {
		t.Fatalf("ratio %v %v", v, ok)
	}
	if _, ok := brokerRatio(&m, &Result{BrokerCPUPer1M: -0.1}); ok {
		t.Fatal("a non-positive plain read must not give a ratio")
	}
	noisy := &Result{BrokerCPUPer1M: 0.4, BrokerNetSamples: []float64{0.9, -0.1, 0.4}}
	if _, ok := brokerRatio(&m, noisy); ok {
		t.Fatal("a round with a negative net figure must not give a ratio")
	}
	w := &Result{CPUSamples: []float64{8, 9, 12}}
	if d := diffMedian(w, &m); d != 3 {
		t.Fatalf("diffMedian %v, want 3 (3, 3, 5)", d)
	}
}

// Every exporter run sets HITEXPORT_LAYOUT explicitly.
func TestExporterVarsLayout(t *testing.T) {
	e := &Env{Brokers: "b:1", IdleTimeout: time.Second}
	v := exporterVars(e, "t", "g", Case{Format: "ndjson", Compression: "zstd"}, "p/")
	if v["HITEXPORT_LAYOUT"] != "partition" {
		t.Fatalf("HITEXPORT_LAYOUT = %q, want partition", v["HITEXPORT_LAYOUT"])
	}
	w := Case{Format: "ndjson", Compression: "zstd", Layout: "window"}
	if v := exporterVars(e, "t", "g", w, "p/"); v["HITEXPORT_LAYOUT"] != "window" {
		t.Fatalf("window case: %q", v["HITEXPORT_LAYOUT"])
	}
	if w.String() != "ndjson/zstd@window" || (Case{Format: "ndjson", Compression: "zstd"}).String() != "ndjson/zstd" {
		t.Fatalf("names %q", w.String())
	}
	t.Setenv("HITEXPORT_LAYOUT", "window")
	for _, kv := range childEnv(v) {
		if kv == "HITEXPORT_LAYOUT=window" {
			t.Fatal("the parent's HITEXPORT_LAYOUT leaked into the child's environment")
		}
	}
}
