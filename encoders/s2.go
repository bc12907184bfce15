package encoders

import (
	"errors"
	"io"
	"sync"

	"github.com/klauspost/compress/s2"
)

// S2 is the codec of the window layout's staged parts (pipeline/staging.go),
// not a compression of final objects: ParseCompression rejects it and it
// has no extension. Staged parts are internal: the merger reads each one
// back once and compresses its records again into the final object, so
// staging them in S2 (a few times cheaper than zstd at SpeedFastest to
// compress and to decompress, objects 1.5–2× larger) saves CPU on every
// hit. The stream is S2's framed format (what the s2c/s2d tools read).
const S2 Compression = "s2"

// s2BlockSize is the S2 block: the uncompressed bytes an open writer
// buffers (about twice that with its output buffer), as zstd's 256 KiB
// window bounds an open zstd object.
const s2BlockSize = 256 << 10

// s2Writers and s2Readers keep the writers of closed objects and the
// readers of read parts (their buffers) for the next ones.
var s2Writers, s2Readers sync.Pool

func newS2Writer(w io.Writer) io.WriteCloser {
	if e, ok := s2Writers.Get().(*s2.Writer); ok {
		e.Reset(w)
		return &pooledWriter[*s2.Writer]{e: e, pool: &s2Writers}
	}
	// One goroutine (the caller's): a partition worker's objects are
	// compressed where they are written, as with zstd.
	return &pooledWriter[*s2.Writer]{e: s2.NewWriter(w, s2.WriterConcurrency(1), s2.WriterBlockSize(s2BlockSize)), pool: &s2Writers}
}

func newS2Reader(r io.Reader) io.ReadCloser {
	d, ok := s2Readers.Get().(*s2.Reader)
	if ok {
		d.Reset(r)
	} else {
		// Any block size a writer may have used (up to S2's 4 MiB) is read;
		// buffers start at the size this package writes.
		d = s2.NewReader(r, s2.ReaderAllocBlock(s2BlockSize))
	}
	return &pooledS2Reader{d: d}
}

// pooledS2Reader gives its reader back to s2Readers on Close.
type pooledS2Reader struct{ d *s2.Reader }

func (z *pooledS2Reader) Read(p []byte) (int, error) {
	if z.d == nil {
		return 0, errors.New("s2: read after close")
	}
	return z.d.Read(p)
}

func (z *pooledS2Reader) Close() error {
	if z.d != nil {
		z.d.Reset(nil)
		s2Readers.Put(z.d)
		z.d = nil
	}
	return nil
}
