package main

import (
	"math"
	"strings"
	"testing"
)

const tracesSample = `File: hitbench
Type: cpu
Duration: 4.93s, Total samples = 100ms (2%)
-----------+-------------------------------------------------------
      10ms   runtime.mallocgc
             compress/flate.NewWriter
             github.com/prometheus/common/expfmt.MetricFamilyToText
             github.com/prometheus/client_golang/prometheus/promhttp.HandlerForTransactional.func1
-----------+-------------------------------------------------------
      30ms   syscall.Syscall
             net.(*conn).Read
             github.com/segmentio/kafka-go.(*Conn).ReadBatchWith
             github.com/hitexport/hitexport/pipeline.(*kafkaRecordReader).Fetch
             github.com/segmentio/kafka-go.(*Generation).Start.func1
-----------+-------------------------------------------------------
      20ms   github.com/klauspost/compress/zstd.(*Encoder).Write
             github.com/hitexport/hitexport/pipeline.(*object).add
             github.com/hitexport/hitexport/pipeline.(*Partition).HandleDecoded
-----------+-------------------------------------------------------
      10ms   runtime.mallocgc
             github.com/segmentio/kafka-go/protocol.RoundTrip
             github.com/segmentio/kafka-go.(*Client).OffsetCommit
             github.com/hitexport/hitexport/pipeline.commitOffsets
-----------+-------------------------------------------------------
      10ms   runtime.gcBgMarkWorker
-----------+-------------------------------------------------------
      20ms   runtime.chansend
             github.com/hitexport/hitexport/pipeline.(*fanout).send
-----------+-------------------------------------------------------
`

func TestParseTraces(t *testing.T) {
	got, total, err := parseTraces(strings.NewReader(tracesSample))
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(total-0.1) > 1e-9 {
		t.Errorf("sampled %.3fs, want 0.100s", total)
	}
	want := map[string]float64{"scrape": 0.1, "read": 0.3, "encode+compress": 0.2, "offsets": 0.1, "runtime": 0.1, "pipeline": 0.2}
	for k, v := range want {
		if math.Abs(got[k]-v) > 1e-9 {
			t.Errorf("%s: %.3f, want %.3f (all: %v)", k, got[k], v, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("parts %v, want %v", got, want)
	}
	if _, _, err := parseTraces(strings.NewReader("File: x\n")); err == nil {
		t.Error("an empty profile parsed")
	}
}

func TestIntApps(t *testing.T) {
	seen := map[int]int{}
	for i := 0; i < 10; i++ {
		ids := intApps(intCase{N: 10}, 100, i)
		if len(ids) != 10 {
			t.Fatalf("integration %d selects %d ids, want 10", i, len(ids))
		}
		for _, id := range ids {
			seen[id]++
		}
	}
	if len(seen) != 100 {
		t.Fatalf("%d ids covered, want 100", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("id %d selected by %d integrations", id, n)
		}
	}
	if intApps(intCase{N: 10, All: true}, 100, 3) != nil {
		t.Fatal("allN selects a subset")
	}
}
