package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/store"
)

// BenchmarkMerge measures what the window layout adds to the partition
// layout: merging one window's staged parts (16 partitions, 20,000 hits)
// into its final object. Reported per hit: CPU time of the merge
// (cpu-ns/hit, user+system from getrusage), bytes the merge writes on top
// of the parts (final object, manifest and done record: extra-B/hit) and
// bytes it reads back (read-B/hit). The staged parts themselves are what
// the partition layout writes anyway. ns/op is the wall time of one
// window's merge with the in-memory bucket (no network).
func BenchmarkMerge(b *testing.B) {
	for _, tc := range []struct {
		format string
		comp   encoders.Compression
	}{{"ndjson", encoders.Gzip}, {"ndjson", encoders.Zstd}, {"ndjson", encoders.None}, {"ocsf", encoders.Gzip}} {
		b.Run(tc.format+"-"+string(tc.comp), func(b *testing.B) {
			const parts, hitsPerPart = 16, 1250
			enc, _ := encoders.New(tc.format)
			l := Layout{Encoder: enc, Compression: tc.comp, Window: mW}
			recs := gen.Generate(gen.Options{Seed: 9, Count: parts * hitsPerPart * 11 / 10, Start: time.UnixMilli(mW0), Span: mW})
			type staged struct {
				key  string
				data []byte
				meta map[string]string
			}
			var src []staged
			i := 0
			for p := 0; p < parts; p++ {
				o, err := newObject(KindHits, mW0, mW0, 0, time.Now(), l, NewSpool(64<<20, b.TempDir(), nil))
				if err != nil {
					b.Fatal(err)
				}
				for n := 0; n < hitsPerPart; i++ {
					if !recs[i].Expect.Valid {
						continue
					}
					if err := o.add(encoders.Record{Value: recs[i].Value, TimeMillis: recs[i].Expect.TimeMillis, Topic: mTopic, Partition: p, Offset: int64(n)}); err != nil {
						b.Fatal(err)
					}
					n++
				}
				if err := o.finish(); err != nil {
					b.Fatal(err)
				}
				var buf bytes.Buffer
				if _, err := buf.ReadFrom(o.spool.Reader()); err != nil {
					b.Fatal(err)
				}
				o.spool.Close()
				src = append(src, staged{StagedKey(StagedPart{Window: mW0, Topic: mTopic, Partition: p, Ext: l.Ext()}), buf.Bytes(), o.metadata(l, mTopic, p)})
			}
			var stagedBytes int64
			for _, s := range src {
				stagedBytes += int64(len(s.data))
			}
			ctx := context.Background()
			var cpu time.Duration
			var written, read int64
			b.ResetTimer()
			for it := 0; it < b.N; it++ {
				b.StopTimer()
				mem := store.NewMemory("bench")
				for _, s := range src {
					if err := mem.Put(ctx, s.key, bytes.NewReader(s.data), int64(len(s.data)), store.PutOptions{Metadata: s.meta}); err != nil {
						b.Fatal(err)
					}
				}
				for p := 0; p < parts; p++ {
					pr := []byte(fmt.Sprintf(`{"closed_before":%d}`, mW0+mW.Milliseconds()))
					_ = mem.Put(ctx, progressKey(mTopic, p), bytes.NewReader(pr), int64(len(pr)), store.PutOptions{})
				}
				m := &Merger{Bucket: mem, Layout: l, Topic: mTopic, MaxObjectBytes: 512 << 20, SpoolMemory: 64 << 20,
					Partitions: func(context.Context) (int, error) { return parts, nil }}
				c0 := cpuTime()
				b.StartTimer()
				if err := m.Sweep(ctx); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				cpu += cpuTime() - c0
				if m.Stats.Records.Load() != parts*hitsPerPart {
					b.Fatalf("merged %d records", m.Stats.Records.Load())
				}
				written += m.Stats.BytesWritten.Load()
				read += m.Stats.BytesRead.Load()
				b.StartTimer()
			}
			hits := float64(b.N) * parts * hitsPerPart
			b.ReportMetric(float64(cpu.Nanoseconds())/hits, "cpu-ns/hit")
			b.ReportMetric(float64(written)/hits, "extra-B/hit")
			b.ReportMetric(float64(read)/hits, "read-B/hit")
			b.ReportMetric(float64(stagedBytes)/(parts*hitsPerPart), "staged-B/hit")
		})
	}
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
