package pipeline_test

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/pipeline"
)

// BenchmarkPartitionRun: records through Partition.Run from a channel, as
// pipeline.ReadPartition feeds it (one producer goroutine, a buffered channel
// of the default FETCH_BUFFER), ndjson without compression so that the
// per-record overhead of the loop (channel, select, metrics) shows.
func BenchmarkPartitionRun(b *testing.B) {
	tmpl := benchHits(b, 1024)
	rests := make([][]byte, len(tmpl))
	for i, v := range tmpl {
		rests[i] = v[bytes.IndexByte(v, ','):]
	}
	s := defaultSettings(b)
	s.Layout.Encoder = mustEncoder(b, "ndjson")
	s.Layout.Compression = encoders.None
	s.MaxObjectBytes = 64 << 20
	s.SpoolMemory = 8 << 20
	s.Tick = time.Hour
	bucket := &discardBucket{}
	clk := &fakeClock{t: time.UnixMilli(t0)}
	com := &fakeCommitter{}
	up := &pipeline.Uploader{Bucket: bucket, Schedule: [][]time.Duration{{0}}}
	p := pipeline.NewPartition(topic, part, s, pipeline.PartitionDeps{Uploader: up, Commit: com.Commit, Now: clk.Now}, 0, pipeline.CommitState{})
	// Values are prepared up front (the producer must not be the bottleneck).
	vals := make([][]byte, 1<<14)
	for i := range vals {
		ms := t0 + int64(i)*100
		v := append([]byte(`{"time":"`), strconv.AppendInt(nil, ms/1000, 10)...)
		v = append(append(v, '"'), rests[i&1023]...)
		vals[i] = v
	}
	msgs := make(chan pipeline.Message, 1000)
	b.ReportAllocs()
	b.SetBytes(avgLen(tmpl))
	n := b.N
	go func() {
		for i := 0; i < n; i++ {
			// Event time keeps increasing past the prepared values' span so
			// windows keep closing as in a replay.
			msgs <- pipeline.Message{Offset: int64(i), Time: time.UnixMilli(t0 + int64(i)*100), Value: vals[i&(1<<14-1)]}
		}
		close(msgs)
	}()
	b.ResetTimer()
	if err := p.Run(context.Background(), make(chan struct{}), msgs); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hits/s")
}
