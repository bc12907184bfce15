package encoders

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Compression names an object compression.
type Compression string

// The supported compressions.
const (
	None Compression = "none"
	Gzip Compression = "gzip"
	Zstd Compression = "zstd"
)

// Compressions lists the accepted values, for messages.
var Compressions = []Compression{None, Gzip, Zstd}

// ParseCompression checks a configured compression name.
func ParseCompression(s string) (Compression, error) {
	switch c := Compression(s); c {
	case None, Gzip, Zstd:
		return c, nil
	}
	return "", fmt.Errorf("unknown compression %q (accepted: none, gzip, zstd)", s)
}

// Extension is the suffix the compression adds to the format's extension.
func (c Compression) Extension() string {
	switch c {
	case Gzip:
		return ".gz"
	case Zstd:
		return ".zst"
	}
	return ""
}

// ContentType is the HTTP Content-Type of an object of this compression
// whose uncompressed content has type base: a compressed object is a
// compressed file (application/gzip, application/zstd), the file its
// name (.gz, .zst) promises; an uncompressed one has base. Objects never
// carry a Content-Encoding: HTTP clients that honour it (curl --compressed,
// requests) would hand back the decompressed bytes under the .gz name.
func (c Compression) ContentType(base string) string {
	switch c {
	case Gzip:
		return "application/gzip"
	case Zstd:
		return "application/zstd"
	case S2:
		return "application/octet-stream"
	}
	return base
}

// NewWriter wraps w so that what is written to the result is compressed into
// w. Close flushes the compressor; it does not close w. The encoders are set up
// for bounded memory: one goroutine, a window of 256 KiB for zstd.
//
// zstd runs at SpeedFastest: on realistic hits it costs about 35% less CPU
// than SpeedDefault for objects about 1% larger. Its window is 256 KiB: on
// hits (short lines whose repeats are near) it compresses as well as 1 MiB,
// and the history an open object keeps is 384 KiB instead of 1.1 MiB — it
// adds up with many objects open (late batches). See docs/performance.md and
// BenchmarkZstdSettings in bench/.
func (c Compression) NewWriter(w io.Writer) (io.WriteCloser, error) {
	switch c {
	case None, "":
		return nopCloser{w}, nil
	case Gzip:
		return gzip.NewWriterLevel(w, gzip.DefaultCompression)
	case S2:
		return newS2Writer(w), nil
	case Zstd:
		if e, ok := zstdPool.Get().(*zstd.Encoder); ok {
			e.Reset(w)
			return &pooledWriter[*zstd.Encoder]{e: e, pool: &zstdPool}, nil
		}
		e, err := zstd.NewWriter(w,
			zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(256<<10),
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithLowerEncoderMem(true))
		if err != nil {
			return nil, err
		}
		return &pooledWriter[*zstd.Encoder]{e: e, pool: &zstdPool}, nil
	}
	return nil, fmt.Errorf("unknown compression %q", c)
}

// zstdPool keeps the encoders of closed objects for the next ones: an
// encoder's history and tables (about 0.4 MiB) are allocated once per open
// object at most, not once per object.
var zstdPool sync.Pool

// resetWriter is a compressor that can be pointed at another writer.
type resetWriter interface {
	io.WriteCloser
	Reset(io.Writer)
}

// pooledWriter gives its compressor back to pool on Close (after a
// successful Close: a failed one may have left it in any state).
type pooledWriter[W resetWriter] struct {
	e    W
	pool *sync.Pool
	done bool
}

func (z *pooledWriter[W]) Write(p []byte) (int, error) {
	if z.done {
		return 0, errors.New("compressor: write after close")
	}
	return z.e.Write(p)
}

func (z *pooledWriter[W]) Close() error {
	if z.done {
		return nil
	}
	z.done = true
	err := z.e.Close()
	if err == nil {
		z.e.Reset(nil) // drop the reference to the object's writer
		z.pool.Put(z.e)
	}
	return err
}

// NewReader undoes the compression of r (used by the checker and tests).
func (c Compression) NewReader(r io.Reader) (io.ReadCloser, error) {
	switch c {
	case None, "":
		return io.NopCloser(r), nil
	case Gzip:
		return gzip.NewReader(r)
	case Zstd:
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<32))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	case S2:
		return newS2Reader(r), nil
	}
	return nil, fmt.Errorf("unknown compression %q", c)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
