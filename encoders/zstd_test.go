package encoders

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func hitsNDJSON(tb testing.TB, n int) []byte {
	var buf bytes.Buffer
	for _, r := range benchHits(tb, n) {
		buf.Write(r.Value)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

func zstdCompress(t *testing.T, data []byte, chunk int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := Zstd.NewWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(data); i += chunk {
		if n, err := w.Write(data[i:min(i+chunk, len(data))]); err != nil || n != min(chunk, len(data)-i) {
			t.Fatalf("write: %d, %v", n, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func zstdDecompress(t *testing.T, b []byte) []byte {
	t.Helper()
	d, err := zstd.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got, err := io.ReadAll(d)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// The frames fall at fixed offsets of the input: the bytes of an object
// do not depend on how its input was cut into writes, and they decompress
// to the input — around and across block boundaries.
func TestZstdFramesChunking(t *testing.T) {
	data := hitsNDJSON(t, 4000) // about 4 blocks
	for _, n := range []int{zstdBlockSize - 1, zstdBlockSize, zstdBlockSize + 1, 3 * zstdBlockSize, len(data)} {
		in := data[:n]
		ref := zstdCompress(t, in, len(in))
		if got := zstdDecompress(t, ref); !bytes.Equal(got, in) {
			t.Fatalf("%d bytes: decompressed %d bytes that differ", n, len(got))
		}
		for _, chunk := range []int{1, 7, 546, 4096, zstdSmallMax + 3, zstdBlockSize + 5} {
			if got := zstdCompress(t, in, chunk); !bytes.Equal(got, ref) {
				t.Fatalf("%d bytes in writes of %d: %d compressed bytes, not the %d of one write", n, chunk, len(got), len(ref))
			}
		}
	}
}

// An object with no input is one empty frame, byte for byte what the
// streaming encoder wrote before.
func TestZstdEmptyObject(t *testing.T) {
	var old bytes.Buffer
	e, err := zstd.NewWriter(&old, zstdOptions...)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	got := zstdCompress(t, nil, 1)
	if len(got) == 0 || !bytes.Equal(got, old.Bytes()) {
		t.Fatalf("empty object: % x, streaming encoder: % x", got, old.Bytes())
	}
	if d := zstdDecompress(t, got); len(d) != 0 {
		t.Fatalf("empty object decompressed to %d bytes", len(d))
	}
}

type failWriter struct{ calls int }

func (f *failWriter) Write(p []byte) (int, error) { f.calls++; return 0, errors.New("disk full") }

// A failed write of a frame sticks: later writes and Close return it, and
// nothing more is written.
func TestZstdWriteError(t *testing.T) {
	fw := &failWriter{}
	w, err := Zstd.NewWriter(fw)
	if err != nil {
		t.Fatal(err)
	}
	data := hitsNDJSON(t, 1200)
	if _, err := w.Write(data); err == nil {
		t.Fatal("write of more than a block: no error from the failing writer")
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("write after a failed write: no error")
	}
	if err := w.Close(); err == nil {
		t.Fatal("close after a failed write: no error")
	}
	if fw.calls != 1 {
		t.Fatalf("%d writes to the failing writer, want 1", fw.calls)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("write after close: no error")
	}
}

// heapAfter is the live heap after fill, with everything fill returns
// still reachable.
func heapAfter(fill func() any) (uint64, any) {
	runtime.GC()
	runtime.GC() // and the pools' victims
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	keep := fill()
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m1)
	return m1.HeapAlloc - min(m0.HeapAlloc, m1.HeapAlloc), keep
}

// Many open objects (64 integrations × 4 partitions) hold a bounded
// memory: each its pending input, at most one block; the encoders are
// shared. The streaming encoder per object it replaces is measured too,
// for the log (docs/performance.md quotes both).
func TestZstdOpenObjectsMemory(t *testing.T) {
	const open = 64 * 4
	hs := benchHits(t, 4096)
	for _, tc := range []struct {
		name string
		hits int // per object
	}{{"3 hits", 3}, {"100 hits", 100}, {"1000 hits", 1000}} {
		measure := func(mk func(io.Writer) (io.WriteCloser, error)) uint64 {
			used, keep := heapAfter(func() any {
				ws := make([]io.WriteCloser, open)
				sinks := make([]countSink, open)
				for i := range ws {
					var err error
					if ws[i], err = mk(&sinks[i]); err != nil {
						t.Fatal(err)
					}
				}
				for h := 0; h < tc.hits; h++ {
					for i, w := range ws {
						if _, err := w.Write(hs[(h*open+i)%len(hs)].Value); err != nil {
							t.Fatal(err)
						}
					}
				}
				return ws
			})
			for _, w := range keep.([]io.WriteCloser) {
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
			}
			return used
		}
		frames := measure(func(w io.Writer) (io.WriteCloser, error) {
			return newZstdFrames(zstdBlockSize, zstdOptions...).newWriter(w), nil
		})
		var pool sync.Pool
		stream := measure(func(w io.Writer) (io.WriteCloser, error) { return newStreamZstd(&pool, w) })
		t.Logf("%d open objects, %s each: frames %.1f MiB, streaming encoders %.1f MiB", open, tc.name,
			float64(frames)/(1<<20), float64(stream)/(1<<20))
		// each object: its pending input (≤ one block) and its writer; plus
		// the encoders of the pool (a few MiB at most)
		bound := uint64(open*(zstdBlockSize+1024) + 8<<20)
		if frames > bound {
			t.Errorf("%s: %d open objects hold %d bytes, above the bound %d", tc.name, open, frames, bound)
		}
		if tc.hits <= 3 && frames > uint64(open*2*zstdSmallBlock+8<<20) {
			t.Errorf("%s: small objects hold %d bytes: more than their small buffers", tc.name, frames)
		}
	}
}
