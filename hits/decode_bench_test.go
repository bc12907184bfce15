package hits_test

import (
	"testing"
	"time"

	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/hits"
	"github.com/hitexport/hitexport/internal/benchcpu"
)

// BenchmarkDecode measures Decode on generated hits, the seed sample and a
// pretty-printed hit (the compacting path).
//
//	go test -run x -bench Decode -benchmem ./hits/
func BenchmarkDecode(b *testing.B) {
	const t0 = 1_700_000_000_000
	var vals [][]byte
	var total int
	for _, r := range gen.Generate(gen.Options{Seed: 42, Count: 1024, Start: time.UnixMilli(t0), Span: time.Hour}) {
		vals = append(vals, r.Value)
		total += len(r.Value)
	}
	lim := hits.Limits{MaxBytes: 1 << 20, MaxFuture: time.Hour}
	kt := time.UnixMilli(t0 + 2*3600*1000)
	b.Run("generated", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(total / len(vals)))
		done := benchcpu.Start(b)
		for i := 0; b.Loop(); i++ {
			if _, r := hits.Decode(vals[i&1023], kt, lim); r != "" {
				b.Fatal(r)
			}
		}
		done()
	})
	b.Run("seed", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(hits.Sample)))
		done := benchcpu.Start(b)
		for b.Loop() {
			if _, r := hits.Decode(hits.Sample, time.Time{}, lim); r != "" {
				b.Fatal(r)
			}
		}
		done()
	})
	pretty := []byte("{\n  \"time\": \"1687241470\",\n  \"request_id\": \"x\",\n  \"tags\": {\"a\": 1}\n}")
	b.Run("pretty", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(pretty)))
		done := benchcpu.Start(b)
		for b.Loop() {
			if _, r := hits.Decode(pretty, time.Time{}, lim); r != "" {
				b.Fatal(r)
			}
		}
		done()
	})
}

// Decode of a single-line hit allocates nothing: it runs once per record.
func TestDecodeDoesNotAllocate(t *testing.T) {
	lim := hits.Limits{MaxBytes: 1 << 20, MaxFuture: time.Hour}
	escaped := []byte(`{"ti\u006de":"\u0031687241470","a":"\"x\""}`)
	if _, r := hits.Decode(escaped, time.Time{}, lim); r != "" {
		t.Fatal(r)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, r := hits.Decode(hits.Sample, time.Time{}, lim); r != "" {
			t.Fatal(r)
		}
	}); n != 0 {
		t.Fatalf("Decode(Sample) allocates %v times per call", n)
	}
}
