package encoders

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/internal/benchcpu"
)

// streamZstd is the zstd writer before the frames (kept here to measure
// against): one streaming encoder per open object, a single frame per
// object, encoders of closed objects reused through a pool.
type streamZstd struct {
	e    *zstd.Encoder
	pool *sync.Pool
}

func newStreamZstd(pool *sync.Pool, w io.Writer) (io.WriteCloser, error) {
	if e, ok := pool.Get().(*zstd.Encoder); ok {
		e.Reset(w)
		return &streamZstd{e, pool}, nil
	}
	e, err := zstd.NewWriter(w, zstdOptions...)
	if err != nil {
		return nil, err
	}
	return &streamZstd{e, pool}, nil
}

func (s *streamZstd) Write(p []byte) (int, error) {
	if s.e == nil {
		return 0, errors.New("zstd: write after close")
	}
	return s.e.Write(p)
}

func (s *streamZstd) Close() error {
	if s.e == nil {
		return nil
	}
	err := s.e.Close()
	if err == nil {
		s.e.Reset(nil)
		s.pool.Put(s.e)
	}
	s.e = nil
	return err
}

// zstdVariant makes an object's compressor.
type zstdVariant struct {
	name string
	mk   func(io.Writer) (io.WriteCloser, error)
}

func zstdVariants() []zstdVariant {
	var pool sync.Pool
	vs := []zstdVariant{{"stream", func(w io.Writer) (io.WriteCloser, error) { return newStreamZstd(&pool, w) }}}
	for _, kb := range []int{64, 128, 256, 512} {
		z := newZstdFrames(kb<<10, zstdOptions...)
		vs = append(vs, zstdVariant{fmt.Sprintf("frames%dK", kb), func(w io.Writer) (io.WriteCloser, error) { return z.newWriter(w), nil }})
	}
	nocrc := newZstdFrames(zstdBlockSize, append(append([]zstd.EOption(nil), zstdOptions...), zstd.WithEncoderCRC(false))...)
	vs = append(vs, zstdVariant{"frames-nocrc", func(w io.Writer) (io.WriteCloser, error) { return nocrc.newWriter(w), nil }})
	dflt := newZstdFrames(zstdBlockSize, append(append([]zstd.EOption(nil), zstdOptions...), zstd.WithEncoderLevel(zstd.SpeedDefault))...)
	vs = append(vs, zstdVariant{"frames-default", func(w io.Writer) (io.WriteCloser, error) { return dflt.newWriter(w), nil }})
	return vs
}

// benchHits are realistic hits from the project's generator: more distinct
// bytes (about 18 MB) than any window or block tried holds.
func benchHits(tb testing.TB, n int) []Record {
	tb.Helper()
	recs := gen.Generate(gen.Options{Seed: 7, Count: n, Start: time.Unix(1_700_000_000, 0), Span: time.Hour})
	out := make([]Record, n)
	for i, r := range recs {
		out[i] = Record{Value: r.Value, Offset: int64(i)}
	}
	return out
}

type countSink struct{ n int64 }

func (c *countSink) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// openObject is what pipeline's object is on the write path: the NDJSON
// record writer over a byte counter over the compressor over the spool.
type openObject struct {
	sink countSink
	comp io.WriteCloser
	rw   RecordWriter
	raw  countSink
	hits int
}

type teeCount struct {
	w io.Writer
	c *countSink
}

func (t teeCount) Write(p []byte) (int, error) { t.c.n += int64(len(p)); return t.w.Write(p) }

func (o *openObject) open(mk func(io.Writer) (io.WriteCloser, error)) error {
	o.sink, o.raw, o.hits = countSink{}, countSink{}, 0
	var err error
	if o.comp, err = mk(&o.sink); err != nil {
		return err
	}
	o.rw = ndjson{}.NewWriter(teeCount{o.comp, &o.raw})
	return nil
}

// BenchmarkZstdObjects reproduces the exporter's pattern: k objects open at
// once (a worker with k windows or targets open, or k workers on a core),
// fed one realistic hit each in turn through the NDJSON writer; an object is
// closed and a new one opened after objectHits hits. Per hit (op): ns,
// cpu-ns (this thread), B and allocs; ratio = compressed ÷ NDJSON bytes;
// B/object = bytes allocated per object over the run.
func BenchmarkZstdObjects(b *testing.B) {
	const nHits = 1 << 15
	const objectHits = 8192 // about 4.5 MB of NDJSON per object
	hs := benchHits(b, nHits)
	for _, v := range zstdVariants() {
		for _, k := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("%s/objects=%d", v.name, k), func(b *testing.B) {
				objs := make([]openObject, k)
				var in, out, objects int64
				for j := range objs {
					if err := objs[j].open(v.mk); err != nil {
						b.Fatal(err)
					}
				}
				closeObj := func(o *openObject) {
					if err := o.rw.Close(); err != nil {
						b.Fatal(err)
					}
					if err := o.comp.Close(); err != nil {
						b.Fatal(err)
					}
					in += o.raw.n
					out += o.sink.n
					objects++
				}
				var ms0, ms1 runtime.MemStats
				runtime.ReadMemStats(&ms0)
				b.ReportAllocs()
				done := benchcpu.Start(b)
				for i := 0; b.Loop(); i++ {
					o := &objs[i%k]
					if err := o.rw.Write(hs[i&(nHits-1)]); err != nil {
						b.Fatal(err)
					}
					if o.hits++; o.hits == objectHits {
						closeObj(o)
						if err := o.open(v.mk); err != nil {
							b.Fatal(err)
						}
					}
				}
				for j := range objs {
					closeObj(&objs[j])
				}
				done()
				runtime.ReadMemStats(&ms1)
				b.ReportMetric(float64(out)/float64(in), "ratio")
				b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(objects), "B/object")
			})
		}
	}
}
