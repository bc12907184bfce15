package encoders

import (
	"io"
	"testing"
	"time"

	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/hits"
	"github.com/hitexport/hitexport/internal/benchcpu"
)

// BenchmarkOCSF measures mapping and writing hits as OCSF (go test -bench
// OCSF -run '^$' ./encoders/). Bytes/s are of input hits; the ndjson
// pass-through is the baseline.
func BenchmarkOCSF(b *testing.B) {
	recs := ocsfReadHits(b, ocsfTestdata(b, "hits.ndjson"))
	var in int64
	for _, r := range recs {
		in += int64(len(r.Value))
	}
	for _, format := range []string{"ocsf", "ocsf-json", "ndjson"} {
		b.Run(format, func(b *testing.B) {
			enc, err := New(format)
			if err != nil {
				b.Fatal(err)
			}
			w := enc.NewWriter(io.Discard)
			b.ReportAllocs()
			b.SetBytes(in)
			b.ResetTimer()
			done := benchcpu.Start(b)
			for i := 0; i < b.N; i++ {
				for _, r := range recs {
					if err := w.Write(r); err != nil {
						b.Fatal(err)
					}
				}
			}
			done()
			b.StopTimer()
			_ = w.Close()
			b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "hits/s")
		})
	}
}

// BenchmarkOCSFGen maps and writes generated hits (the load of make bench)
// with the current encoder ("new") and the old one kept in ocsf_ref_test.go
// ("old"), interleaved in one run:
//
//	go test -run '^$' -bench OCSFGen -benchmem -count 6 ./encoders/
func BenchmarkOCSFGen(b *testing.B) {
	var recs []Record
	var in int64
	for _, g := range gen.Generate(gen.Options{Seed: 1, Count: 1000, Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Span: time.Hour}) {
		d, reason := hits.Decode(g.Value, time.Time{}, hits.Limits{})
		if reason != "" {
			b.Fatal(reason)
		}
		recs = append(recs, Record{Value: d.Value, TimeMillis: d.TimeMillis, Topic: "hits", Partition: 3, Offset: int64(len(recs))})
		in += int64(len(d.Value))
	}
	for _, v := range []struct {
		name string
		w    func(io.Writer) RecordWriter
	}{
		{"new", ocsfNDJSON{}.NewWriter},
		{"old", refOcsfNDJSON{}.NewWriter},
	} {
		b.Run(v.name, func(b *testing.B) {
			w := v.w(io.Discard)
			b.ReportAllocs()
			b.SetBytes(in / int64(len(recs)))
			b.ResetTimer()
			done := benchcpu.Start(b)
			for i := 0; i < b.N; i++ {
				if err := w.Write(recs[i%len(recs)]); err != nil {
					b.Fatal(err)
				}
			}
			done()
		})
	}
}
