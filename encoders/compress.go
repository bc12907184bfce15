package encoders

import (
	"bytes"
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
	}
	return base
}

// NewWriter wraps w so that what is written to the result is compressed into
// w. Close flushes the compressor; it does not close w. The encoders are set up
// for bounded memory: one goroutine, a window of 256 KiB for zstd.
//
// zstd runs at SpeedFastest: on realistic hits it costs about 35% less CPU
// than SpeedDefault for objects about 1% larger. An object's zstd writer
// does not own an encoder: it gathers its input in a block of zstdBlockSize
// bytes and compresses each full block as one zstd frame (EncodeAll) with an
// encoder borrowed from a process-wide pool for that call. The encoders' hash
// tables and history (about 0.6 MiB each) are then as many as the goroutines
// compressing at once, not one per open object, and stay in the CPU's cache
// however many objects are open; an open object holds only its pending block.
// The object is a sequence of frames, which every zstd decoder reads as the
// concatenation of their contents. See docs/performance.md ("zstd").
func (c Compression) NewWriter(w io.Writer) (io.WriteCloser, error) {
	switch c {
	case None, "":
		return nopCloser{w}, nil
	case Gzip:
		return gzip.NewWriterLevel(w, gzip.DefaultCompression)
	case Zstd:
		return defaultZstd.newWriter(w), nil
	}
	return nil, fmt.Errorf("unknown compression %q", c)
}

// zstdBlockSize is the uncompressed size of each zstd frame of an object
// (the last one may be shorter).
const zstdBlockSize = 512 << 10

// zstdOptions are the settings of the pooled encoders.
var zstdOptions = []zstd.EOption{
	zstd.WithEncoderConcurrency(1),
	zstd.WithWindowSize(256 << 10),
	zstd.WithEncoderLevel(zstd.SpeedFastest),
	zstd.WithLowerEncoderMem(true),
}

var defaultZstd = newZstdFrames(zstdBlockSize, zstdOptions...)

// zstdFrames makes writers that compress each block of blockSize bytes into
// one frame with an encoder of its pool.
type zstdFrames struct {
	blockSize int
	opts      []zstd.EOption
	encoders  sync.Pool // *frameEncoder
	blocks    sync.Pool // *[]byte of cap blockSize
	empty     []byte    // an object with no input: the streaming encoder's empty frame
}

// frameEncoder is a pooled encoder with its output buffer.
type frameEncoder struct {
	e   *zstd.Encoder
	out []byte
}

func newZstdFrames(blockSize int, opts ...zstd.EOption) *zstdFrames {
	z := &zstdFrames{blockSize: blockSize, opts: opts}
	z.encoders.New = func() any {
		e, err := zstd.NewWriter(nil, z.opts...)
		if err != nil {
			// The options are constants: an error is a programming error.
			panic(fmt.Sprintf("zstd encoder: %v", err))
		}
		return &frameEncoder{e: e}
	}
	var empty bytes.Buffer
	if e, err := zstd.NewWriter(&empty, z.opts...); err != nil || e.Close() != nil {
		panic(fmt.Sprintf("zstd encoder: %v", err))
	}
	z.empty = empty.Bytes()
	z.blocks.New = func() any {
		b := make([]byte, 0, z.blockSize)
		return &b
	}
	return z
}

func (z *zstdFrames) newWriter(w io.Writer) *zstdWriter { return &zstdWriter{z: z, w: w} }

// zstdWriter is one object's zstd writer.
type zstdWriter struct {
	z      *zstdFrames
	w      io.Writer
	block  *[]byte // pending input (see grow); nil until the first write and after Close
	frames int     // frames written
	closed bool
	err    error // the first write error: every later call returns it
}

func (zw *zstdWriter) Write(p []byte) (int, error) {
	if zw.closed {
		return 0, errors.New("zstd: write after close")
	}
	if zw.err != nil {
		return 0, zw.err
	}
	n := 0
	for len(p) > 0 {
		if zw.block == nil || len(*zw.block) == cap(*zw.block) {
			zw.grow()
		}
		b := *zw.block
		k := copy(b[len(b):cap(b)], p)
		*zw.block = b[:len(b)+k]
		n += k
		p = p[k:]
		if len(*zw.block) == zw.z.blockSize {
			if err := zw.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// zstdSmallBlock is the first buffer of an object's pending input; it
// doubles up to zstdSmallMax, then the object takes a whole block from the
// pool. A small object (a late batch of a few hits) holds a few KiB, not a
// whole block; a large one allocates about 0.5 MiB once before it takes a
// pooled block.
const (
	zstdSmallBlock = 8 << 10
	zstdSmallMax   = 256 << 10
)

// grow makes room in the pending block (which is full, or nil).
func (zw *zstdWriter) grow() {
	var old []byte
	if zw.block != nil {
		old = *zw.block
	}
	var b []byte
	switch c := 2 * cap(old); {
	case c == 0:
		b = make([]byte, 0, min(zstdSmallBlock, zw.z.blockSize))
	case c <= zstdSmallMax && c < zw.z.blockSize:
		b = make([]byte, 0, c)
	default:
		zw.block = zw.z.blocks.Get().(*[]byte)
		*zw.block = append((*zw.block)[:0], old...)
		return
	}
	b = append(b, old...)
	zw.block = &b
}

// flush compresses the pending block into one frame and writes it to w.
func (zw *zstdWriter) flush() error {
	err := zw.encode(*zw.block)
	*zw.block = (*zw.block)[:0]
	return err
}

// encode writes src as one frame (an empty src: an empty frame).
func (zw *zstdWriter) encode(src []byte) error {
	if len(src) == 0 {
		zw.frames++
		_, err := zw.w.Write(zw.z.empty)
		zw.err = err
		return err
	}
	fe := zw.z.encoders.Get().(*frameEncoder)
	fe.out = fe.e.EncodeAll(src, fe.out[:0])
	_, err := zw.w.Write(fe.out)
	zw.z.encoders.Put(fe)
	zw.frames++
	if err != nil {
		zw.err = err
	}
	return err
}

// Close writes the last frame and gives the block back to the pool. An
// object with no input is one empty frame, as the streaming encoder made it.
func (zw *zstdWriter) Close() error {
	if zw.closed {
		return nil
	}
	zw.closed = true
	err := zw.err
	if err == nil && (zw.frames == 0 || (zw.block != nil && len(*zw.block) > 0)) {
		var src []byte
		if zw.block != nil {
			src = *zw.block
		}
		err = zw.encode(src)
	}
	if zw.block != nil && cap(*zw.block) == zw.z.blockSize {
		*zw.block = (*zw.block)[:0]
		zw.z.blocks.Put(zw.block)
	}
	zw.block = nil
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
	}
	return nil, fmt.Errorf("unknown compression %q", c)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
