package pipeline_test

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/hits"
	"github.com/hitexport/hitexport/pipeline"
	"github.com/hitexport/hitexport/store"
)

// benchHits are realistic hits (the generator's) for the benchmarks.
func benchHits(b *testing.B, n int) [][]byte {
	b.Helper()
	recs := gen.Generate(gen.Options{Seed: 42, Count: n, Start: time.UnixMilli(t0), Span: time.Hour})
	out := make([][]byte, 0, n)
	for _, r := range recs {
		out = append(out, r.Value)
	}
	return out
}

func avgLen(vs [][]byte) int64 {
	var n int
	for _, v := range vs {
		n += len(v)
	}
	return int64(n / len(vs))
}

func BenchmarkDecode(b *testing.B) {
	vals := benchHits(b, 1024)
	lim := hits.Limits{MaxBytes: 1 << 20, MaxFuture: time.Hour}
	kt := time.UnixMilli(t0 + 2*3600*1000)
	b.Run("generated", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(avgLen(vals))
		for i := 0; b.Loop(); i++ {
			if _, r := hits.Decode(vals[i&1023], kt, lim); r != "" {
				b.Fatal(r)
			}
		}
	})
	b.Run("seed", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(hits.Sample)))
		for b.Loop() {
			if _, r := hits.Decode(hits.Sample, time.Time{}, lim); r != "" {
				b.Fatal(r)
			}
		}
	})
	pretty := []byte("{\n  \"time\": \"1687241470\",\n  \"request_id\": \"x\",\n  \"tags\": {\"a\": 1}\n}")
	b.Run("pretty", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(pretty)))
		for b.Loop() {
			if _, r := hits.Decode(pretty, time.Time{}, lim); r != "" {
				b.Fatal(r)
			}
		}
	})
}

// benchEncode streams records through format and compression into
// io.Discard, one object for the whole run.
func benchEncode(b *testing.B, format string) {
	vals := benchHits(b, 1024)
	enc := mustEncoder(b, format)
	for _, c := range encoders.Compressions {
		b.Run(string(c), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(avgLen(vals))
			cw, err := c.NewWriter(io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			w := enc.NewWriter(cw)
			rec := encoders.Record{Topic: "hits", Partition: 0}
			for i := 0; b.Loop(); i++ {
				rec.Value = vals[i&1023]
				rec.TimeMillis = t0 + int64(i)
				rec.Offset = int64(i)
				if err := w.Write(rec); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			if err := cw.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

func BenchmarkEncodeNDJSON(b *testing.B) { benchEncode(b, "ndjson") }
func BenchmarkEncodeJSON(b *testing.B)   { benchEncode(b, "json") }

func BenchmarkEncodeOCSF(b *testing.B) {
	if _, err := encoders.New("ocsf"); err != nil {
		b.Skip("no ocsf format")
	}
	benchEncode(b, "ocsf")
}

// discardBucket uploads into nothing (the benchmark measures the worker, and
// a Memory bucket would keep every byte).
type discardBucket struct {
	store.Memory
	puts, bytes atomic.Int64
}

func (d *discardBucket) Put(_ context.Context, _ string, r io.Reader, size int64, _ store.PutOptions) error {
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		return err
	}
	if n != size {
		return io.ErrShortWrite
	}
	d.puts.Add(1)
	d.bytes.Add(n)
	return nil
}

func (d *discardBucket) Stat(context.Context, string) (store.ObjectInfo, error) {
	return store.ObjectInfo{}, store.ErrNotFound
}

// BenchmarkPartitionHandle: records through a Partition (decode, window,
// encode, compress, spool) with windows closing by watermark and objects
// uploaded to a discarding bucket; 100 ms of event time per record, so a
// 10-minute window closes every 6000 records.
func BenchmarkPartitionHandle(b *testing.B) {
	tmpl := benchHits(b, 1024)
	// The hits without their leading time field: the benchmark writes a
	// fresh, increasing time in front of each.
	rests := make([][]byte, len(tmpl))
	for i, v := range tmpl {
		j := bytes.IndexByte(v, ',')
		rests[i] = v[j:]
	}
	cases := []struct{ format, comp string }{{"ndjson", "none"}, {"ndjson", "zstd"}, {"json", "gzip"}, {"ocsf", "zstd"}}
	for _, tc := range cases {
		if _, err := encoders.New(tc.format); err != nil {
			continue
		}
		b.Run(tc.format+"/"+tc.comp, func(b *testing.B) {
			s := defaultSettings(b)
			s.Layout.Encoder = mustEncoder(b, tc.format)
			s.Layout.Compression = encoders.Compression(tc.comp)
			s.MaxObjectBytes = 64 << 20
			s.SpoolMemory = 8 << 20
			bucket := &discardBucket{}
			clk := &fakeClock{t: time.UnixMilli(t0)}
			com := &fakeCommitter{}
			up := &pipeline.Uploader{Bucket: bucket, Schedule: [][]time.Duration{{0}}}
			p := pipeline.NewPartition(topic, part, s, pipeline.PartitionDeps{Uploader: up, Commit: com.Commit, Now: clk.Now}, 0, pipeline.CommitState{})
			defer p.Close()
			ctx := context.Background()
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			b.SetBytes(avgLen(tmpl))
			for i := 0; b.Loop(); i++ {
				ms := t0 + int64(i)*100
				buf = append(buf[:0], `{"time":"`...)
				buf = strconv.AppendInt(buf, ms/1000, 10)
				buf = append(buf, '"')
				buf = append(buf, rests[i&1023]...)
				if err := p.Handle(ctx, pipeline.Message{Offset: int64(i), Time: time.UnixMilli(ms), Value: buf}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hits/s")
			b.ReportMetric(float64(bucket.puts.Load()), "objects")
		})
	}
}
