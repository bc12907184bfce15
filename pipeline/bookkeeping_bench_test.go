package pipeline_test

import (
	"testing"
	"time"

	"github.com/hitexport/hitexport/pipeline"
)

// The per-record window and offset bookkeeping of a partition worker, alone.

func BenchmarkWindowStart(b *testing.B) {
	b.ReportAllocs()
	var sink int64
	for i := 0; b.Loop(); i++ {
		sink += pipeline.WindowStart(t0+int64(i)*100, 10*time.Minute)
	}
	_ = sink
}

// BenchmarkWatermarkObserve: increasing event times, 100 ms apart (a window
// closes every 6000 records).
func BenchmarkWatermarkObserve(b *testing.B) {
	w := pipeline.NewWatermark(10*time.Minute, time.Minute)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ms := t0 + int64(i)*100
		w.Observe(ms)
		_ = w.IsClosed(pipeline.WindowStart(ms, 10*time.Minute))
	}
}

// BenchmarkOffsetsPerRecord: what Handle asks the offset tracker for every
// record (Read, Covered) while a restart's resume state holds spans of other
// windows past the commit point (never pruned here: the worst case, Covered
// scans them all), and an object cycle (Open, Uploaded, Committable, Prune)
// every 6000 records.
func BenchmarkOffsetsPerRecord(b *testing.B) {
	for _, ranges := range []int{0, 8, 64} {
		b.Run("ranges="+itoa(ranges), func(b *testing.B) {
			var restored []pipeline.Range
			for i := 0; i < ranges; i++ {
				restored = append(restored, pipeline.Range{Window: t0 - int64(i+1)*600_000, First: int64(i * 10), Last: 1 << 40})
			}
			o := pipeline.NewOffsets(0, restored)
			o.Open(0)
			b.ReportAllocs()
			first := int64(0)
			for i := 0; b.Loop(); i++ {
				off := int64(i)
				o.Read(off)
				_ = o.Covered(t0, off)
				if i%6000 == 5999 {
					o.Uploaded(pipeline.Range{Window: t0, First: first, Last: off})
					first = off + 1
					o.Open(first)
					o.Prune(o.Committable())
				}
			}
		})
	}
}

// BenchmarkCommitState: encoding the resume state for a commit and decoding
// it on the next owner, with 8 uploaded spans.
func BenchmarkCommitState(b *testing.B) {
	st := pipeline.CommitState{MaxEvent: t0 + 3_600_000, ClosedBefore: t0 + 3_000_000}
	for i := 0; i < 8; i++ {
		st.Ranges = append(st.Ranges, pipeline.Range{Window: t0 + int64(i)*600_000, First: int64(i) * 40_000, Last: int64(i)*40_000 + 39_999})
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = st.Encode()
		}
	})
	enc := st.Encode()
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if got := pipeline.DecodeCommitState(enc); len(got.Ranges) != 8 {
				b.Fatal("decode lost spans")
			}
		}
	})
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var d []byte
	for ; n > 0; n /= 10 {
		d = append([]byte{byte('0' + n%10)}, d...)
	}
	return string(d)
}
