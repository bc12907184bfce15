package encoders

import (
	"io"
	"testing"

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
