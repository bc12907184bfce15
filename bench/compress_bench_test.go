// Package bench holds hitexport's Go micro-benchmarks that are not tied to
// one package's internals (the end-to-end driver is bench/cmd/hitbench):
// each compressor as the exporter configures it, the zstd settings it could
// use instead, and the spool. Run them with
//
//	go test -run '^$' -bench . -benchmem ./bench/
package bench

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/internal/benchcpu"
	"github.com/hitexport/hitexport/pipeline"
)

// lines are realistic NDJSON lines (the generator's hits), as an object's
// compressor receives them: one Write per hit.
func lines(b *testing.B, n int) ([][]byte, int64) {
	b.Helper()
	recs := gen.Generate(gen.Options{Seed: 7, Count: n, Start: time.Unix(1_700_000_000, 0), Span: time.Hour})
	out := make([][]byte, n)
	var total int64
	for i, r := range recs {
		out[i] = append(append([]byte(nil), r.Value...), '\n')
		total += int64(len(out[i]))
	}
	return out, total / int64(n)
}

// countDiscard counts what it is given (the compressed size).
type countDiscard struct{ n int64 }

func (c *countDiscard) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func benchWriter(b *testing.B, mk func(io.Writer) (io.WriteCloser, error)) {
	// More distinct hits (about 18 MB) than any window tried holds, so that
	// no setting compresses the repetition of the sample.
	ls, avg := lines(b, 1<<15)
	dst := &countDiscard{}
	w, err := mk(dst)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(avg)
	var in int64
	for i := 0; b.Loop(); i++ {
		l := ls[i&(1<<15-1)]
		in += int64(len(l))
		if _, err := w.Write(l); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(dst.n)/float64(in), "ratio")
}

// BenchmarkCompressor: the exporter's compressors (encoders.Compression), one
// hit per Write, one object for the whole run.
func BenchmarkCompressor(b *testing.B) {
	for _, c := range encoders.Compressions {
		b.Run(string(c), func(b *testing.B) { benchWriter(b, c.NewWriter) })
	}
}

// BenchmarkCompressorInterleaved: k objects open at once, as a partition
// worker with k windows open (or k workers on one core) feeds them, one hit
// to each in turn: the compressors' state competes for the CPU caches. ns/op
// and cpu-ns/op are per hit; ratio is compressed ÷ uncompressed bytes.
func BenchmarkCompressorInterleaved(b *testing.B) {
	for _, c := range []encoders.Compression{encoders.Zstd, encoders.Gzip} {
		for _, k := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("%s/objects=%d", c, k), func(b *testing.B) {
				ls, avg := lines(b, 1<<15)
				dst := make([]countDiscard, k)
				ws := make([]io.WriteCloser, k)
				for j := range ws {
					var err error
					if ws[j], err = c.NewWriter(&dst[j]); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportAllocs()
				b.SetBytes(avg)
				var in int64
				done := benchcpu.Start(b)
				for i := 0; b.Loop(); i++ {
					l := ls[i&(1<<15-1)]
					in += int64(len(l))
					if _, err := ws[i%k].Write(l); err != nil {
						b.Fatal(err)
					}
				}
				var out int64
				for j, w := range ws {
					if err := w.Close(); err != nil {
						b.Fatal(err)
					}
					out += dst[j].n
				}
				done()
				b.ReportMetric(float64(out)/float64(in), "ratio")
			})
		}
	}
}

// BenchmarkZstdSettings compares zstd encoder settings on the same stream
// (all single-goroutine, as the exporter runs one encoder per object).
func BenchmarkZstdSettings(b *testing.B) {
	cases := []struct {
		name string
		opts []zstd.EOption
	}{
		{"default-1MiB-lowmem", []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithWindowSize(1 << 20), zstd.WithLowerEncoderMem(true)}},
		{"default-1MiB", []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithWindowSize(1 << 20)}},
		{"default-8MiB", []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithWindowSize(8 << 20)}},
		{"fastest-1MiB-lowmem", []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithWindowSize(1 << 20), zstd.WithLowerEncoderMem(true)}},
		{"fastest-1MiB", []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithWindowSize(1 << 20)}},
		{"fastest-512KiB-lowmem", []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithWindowSize(512 << 10), zstd.WithLowerEncoderMem(true)}},
		{"fastest-256KiB-lowmem", []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithWindowSize(256 << 10), zstd.WithLowerEncoderMem(true)}},
		{"fastest-128KiB-lowmem", []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithWindowSize(128 << 10), zstd.WithLowerEncoderMem(true)}},
		{"better-1MiB", []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedBetterCompression), zstd.WithWindowSize(1 << 20)}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			benchWriter(b, func(w io.Writer) (io.WriteCloser, error) {
				return zstd.NewWriter(w, append([]zstd.EOption{zstd.WithEncoderConcurrency(1)}, tc.opts...)...)
			})
		})
	}
}

// BenchmarkSpool: appending encoded bytes to a spool that spills to a file
// past its memory limit (the exporter's default 4 MiB), then closing it, per
// object of 50k hits (about 27 MB: mostly on disk).
func BenchmarkSpool(b *testing.B) {
	ls, avg := lines(b, 4096)
	dir := b.TempDir()
	stats := &pipeline.SpoolStats{}
	b.ReportAllocs()
	b.SetBytes(avg)
	s := pipeline.NewSpool(4<<20, dir, stats)
	for i := 0; b.Loop(); i++ {
		if _, err := s.Write(ls[i&4095]); err != nil {
			b.Fatal(err)
		}
		if i%50000 == 49999 {
			s.Close()
			s = pipeline.NewSpool(4<<20, dir, stats)
		}
	}
	s.Close()
}
