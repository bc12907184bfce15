package pipeline

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hitexport/hitexport/internal/benchcpu"
	"github.com/hitexport/hitexport/store"
)

// fastFetcher hands out prepared records as fast as they are asked for.
type fastFetcher struct {
	vals [][]byte
	next int64
}

func (f *fastFetcher) Read(ctx context.Context, buf []Message) (int, error) {
	for i := range buf {
		o := f.next + int64(i)
		buf[i] = Message{Offset: o, Time: time.UnixMilli(benchT0 + o*100), Value: f.vals[o&(1<<12-1)]}
	}
	f.next += int64(len(buf))
	return len(buf), ctx.Err()
}
func (f *fastFetcher) Offset() int64        { return f.next }
func (f *fastFetcher) HighWatermark() int64 { return f.next }
func (f *fastFetcher) Close() error         { return nil }

const benchT0 = 1_700_000_000_000

func benchValues() [][]byte {
	pad := strings.Repeat("x", 480)
	vals := make([][]byte, 1<<12)
	for i := range vals {
		ms := benchT0 + int64(i)*100
		vals[i] = []byte(`{"time":"` + strconv.FormatInt(ms/1000, 10) + `","request_id":"r` + strconv.Itoa(i) + `","uri":"/` + pad + `"}`)
	}
	return vals
}

// BenchmarkReadHandOff: the hand-off from the fetching goroutine to the
// partition worker, per record, ndjson without compression so that it shows:
// "chunks" is ReadPartition's (chunks of 256 records over one channel,
// runChunks); "records" is one record per channel operation into the test
// helper Run (export_test.go), which groups what is queued into chunks for
// runChunks: the cost of a per-record producer in front of the chunked loop.
func BenchmarkReadHandOff(b *testing.B) {
	vals := benchValues()
	mk := func(b *testing.B) *Partition {
		s := regressSettings(b)
		s.MaxObjectBytes, s.SpoolMemory = 64<<20, 8<<20
		up := &Uploader{Bucket: store.NewMemory("b"), Schedule: [][]time.Duration{{0}}}
		return NewPartition("t", 0, s, PartitionDeps{Uploader: up}, 0, CommitState{})
	}
	b.Run("chunks", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(vals[0])))
		done := benchcpu.StartProcess(b)
		err := readPartition(context.Background(), nil, &fastFetcher{vals: vals}, 1000, ReadOptions{Start: 0, End: int64(b.N)},
			slog.New(slog.DiscardHandler), func(func() int64) *Partition { return mk(b) })
		done()
		if err != nil {
			b.Fatal(err)
		}
	})
	b.Run("records", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(vals[0])))
		p := mk(b)
		msgs := make(chan Message, 1000)
		n := b.N
		go func() {
			for i := 0; i < n; i++ {
				msgs <- Message{Offset: int64(i), Time: time.UnixMilli(benchT0 + int64(i)*100), Value: vals[i&(1<<12-1)]}
			}
			close(msgs)
		}()
		done := benchcpu.StartProcess(b)
		err := p.Run(context.Background(), make(chan struct{}), msgs)
		done()
		if err != nil {
			b.Fatal(err)
		}
	})
}
