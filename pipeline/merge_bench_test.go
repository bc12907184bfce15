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
// bytes it reads back (read-B/hit). ns/op is the wall time of one window's
// merge with the in-memory bucket (no network).
//
// The staged parts are what the partition workers write: in the final
// compression (staged=final: the partition layout's objects, and the
// window layout before S2 staging) or in S2 (staged=s2, the default of a
// compressed window layout). stage-cpu-ns/hit is the CPU of encoding and
// compressing the parts and staged-B/hit their size, so that
// stage-cpu-ns/hit + cpu-ns/hit is what a hit costs the window layout
// beyond reading it.
func BenchmarkMerge(b *testing.B) {
	for _, tc := range []struct {
		format string
		comp   encoders.Compression
		staged encoders.Compression
	}{
		{"ndjson", encoders.Gzip, ""}, {"ndjson", encoders.Gzip, encoders.S2},
		{"ndjson", encoders.Zstd, ""}, {"ndjson", encoders.Zstd, encoders.S2},
		{"ndjson", encoders.None, ""},
		{"ocsf", encoders.Gzip, ""}, {"ocsf", encoders.Gzip, encoders.S2},
	} {
		name := tc.format + "-" + string(tc.comp) + "/staged=final"
		if tc.staged != "" {
			name = tc.format + "-" + string(tc.comp) + "/staged=" + string(tc.staged)
		}
		b.Run(name, func(b *testing.B) {
			const parts, hitsPerPart = 16, 1250
			enc, _ := encoders.New(tc.format)
			l := Layout{Encoder: enc, Compression: tc.comp, Window: mW}
			codec := tc.comp
			if tc.staged != "" {
				codec = tc.staged
			}
			recs := gen.Generate(gen.Options{Seed: 9, Count: parts * hitsPerPart * 11 / 10, Start: time.UnixMilli(mW0), Span: mW})
			type staged struct {
				key  string
				data []byte
				meta map[string]string
			}
			dir := b.TempDir()
			// stage encodes and compresses the parts as the partition
			// workers do.
			stage := func() []staged {
				var src []staged
				i := 0
				for p := 0; p < parts; p++ {
					o, err := newObjectIn(KindHits, mW0, mW0, 0, time.Now(), l, codec, NewSpool(64<<20, dir, nil))
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
					sp := StagedPart{Window: mW0, Topic: mTopic, Partition: p, Ext: l.Ext()}
					if codec != tc.comp {
						sp.Codec = codec
					}
					src = append(src, staged{StagedKey(sp), buf.Bytes(), o.metadata(l, mTopic, p)})
				}
				return src
			}
			ctx := context.Background()
			var cpu, stageCPU time.Duration
			var written, read, stagedBytes int64
			b.ResetTimer()
			for it := 0; it < b.N; it++ {
				b.StopTimer()
				c0 := cpuTime()
				src := stage()
				stageCPU += cpuTime() - c0
				mem := store.NewMemory("bench")
				for _, s := range src {
					stagedBytes += int64(len(s.data))
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
				c0 = cpuTime()
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
			b.ReportMetric(float64(stageCPU.Nanoseconds())/hits, "stage-cpu-ns/hit")
			b.ReportMetric(float64(written)/hits, "extra-B/hit")
			b.ReportMetric(float64(read)/hits, "read-B/hit")
			b.ReportMetric(float64(stagedBytes)/hits, "staged-B/hit")
		})
	}
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
