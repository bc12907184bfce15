package pipeline

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"sync/atomic"
)

// SpoolStats counts the bytes held by all spools of a process (for metrics
// and for the memory bound).
type SpoolStats struct {
	Memory atomic.Int64
	Disk   atomic.Int64
}

// Spool holds the encoded, compressed bytes of one object while it is being
// built: in memory up to a limit, then in a temporary file. It is written by
// one goroutine and read once, for the upload.
type Spool struct {
	memLimit int
	dir      string
	stats    *SpoolStats

	mem  bytes.Buffer
	file *os.File
	fbuf *bufio.Writer // buffers writes to file: one write(2) per spoolFileBuffer, not per record
	size int64
}

// spoolFileBuffer is the write buffer of a spool that spilled to a file.
const spoolFileBuffer = 64 << 10

// NewSpool returns an empty spool that keeps up to memLimit bytes in memory
// and spills to a file in dir (the system's temp dir when empty).
func NewSpool(memLimit int, dir string, stats *SpoolStats) *Spool {
	if stats == nil {
		stats = &SpoolStats{}
	}
	return &Spool{memLimit: memLimit, dir: dir, stats: stats}
}

// Write appends p.
func (s *Spool) Write(p []byte) (int, error) {
	if s.file == nil && s.mem.Len()+len(p) > s.memLimit {
		if err := s.spill(); err != nil {
			return 0, err
		}
	}
	if s.file != nil {
		n, err := s.fbuf.Write(p)
		s.size += int64(n)
		s.stats.Disk.Add(int64(n))
		if err != nil {
			return n, fmt.Errorf("spool file: %w", err)
		}
		return n, nil
	}
	n, _ := s.mem.Write(p)
	s.size += int64(n)
	s.stats.Memory.Add(int64(n))
	return n, nil
}

func (s *Spool) spill() error {
	f, err := os.CreateTemp(s.dir, "hitexport-spool-*")
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	// The file is removed at once: it lives as long as it is open, and a
	// crash leaves nothing behind.
	_ = os.Remove(f.Name())
	n, err := f.Write(s.mem.Bytes())
	if err != nil {
		f.Close()
		return fmt.Errorf("spool file: %w", err)
	}
	s.stats.Memory.Add(-int64(s.mem.Len()))
	s.stats.Disk.Add(int64(n))
	s.mem = bytes.Buffer{}
	s.file = f
	s.fbuf = bufio.NewWriterSize(f, spoolFileBuffer)
	return nil
}

// Flush writes buffered bytes to the spool file (a no-op in memory). Reader
// flushes too; Flush reports a write error where it can still stop the
// object.
func (s *Spool) Flush() error {
	if s.fbuf == nil {
		return nil
	}
	if err := s.fbuf.Flush(); err != nil {
		return fmt.Errorf("spool file: %w", err)
	}
	return nil
}

// Size is the number of bytes written.
func (s *Spool) Size() int64 { return s.size }

// OnDisk reports whether the spool spilled to a file.
func (s *Spool) OnDisk() bool { return s.file != nil }

// Reader returns a reader of the whole content; it can be called again for
// a retry and reads from the start each time.
func (s *Spool) Reader() io.ReadSeeker {
	if s.file != nil {
		if err := s.Flush(); err != nil {
			return errReader{err}
		}
		return io.NewSectionReader(s.file, 0, s.size)
	}
	return bytes.NewReader(s.mem.Bytes())
}

// Close releases the memory or file.
func (s *Spool) Close() error {
	if s.file != nil {
		s.stats.Disk.Add(-s.size)
		err := s.file.Close()
		s.file, s.fbuf = nil, nil
		return err
	}
	s.stats.Memory.Add(-int64(s.mem.Len()))
	s.mem = bytes.Buffer{}
	return nil
}

// errReader fails every read with the error that kept the spool from its file.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error)       { return 0, e.err }
func (e errReader) Seek(int64, int) (int64, error) { return 0, nil }
