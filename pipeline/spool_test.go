package pipeline_test

import (
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/hitexport/hitexport/pipeline"
)

func readAllSeeker(t *testing.T, r io.ReadSeeker) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dirEntries(t *testing.T, dir string) int {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

func TestSpool(t *testing.T) {
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 64) // 1 KiB
	tests := []struct {
		name     string
		memLimit int
		writes   int
		onDisk   bool
	}{
		{"empty", 4096, 0, false},
		{"under the limit", 4096, 3, false},
		{"exactly at the limit", 4096, 4, false},
		{"one byte past the limit spills", 4095, 4, true},
		{"far past the limit", 4096, 100, true},
		{"zero limit spills at once", 0, 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			stats := &pipeline.SpoolStats{}
			s := pipeline.NewSpool(tc.memLimit, dir, stats)
			var want []byte
			for i := 0; i < tc.writes; i++ {
				p := append([]byte(nil), chunk...)
				p[0] = byte('A' + i%26)
				n, err := s.Write(p)
				if err != nil || n != len(p) {
					t.Fatalf("write %d: %d %v", i, n, err)
				}
				want = append(want, p...)
			}
			if s.Size() != int64(len(want)) {
				t.Fatalf("Size %d, want %d", s.Size(), len(want))
			}
			if s.OnDisk() != tc.onDisk {
				t.Fatalf("OnDisk = %v, want %v", s.OnDisk(), tc.onDisk)
			}
			mem, disk := stats.Memory.Load(), stats.Disk.Load()
			if tc.onDisk {
				if mem != 0 || disk != int64(len(want)) {
					t.Fatalf("stats mem=%d disk=%d, want 0/%d", mem, disk, len(want))
				}
			} else if mem != int64(len(want)) || disk != 0 {
				t.Fatalf("stats mem=%d disk=%d, want %d/0", mem, disk, len(want))
			}
			// Re-readable: twice, and after a partial read.
			for i := 0; i < 2; i++ {
				if got := readAllSeeker(t, s.Reader()); !bytes.Equal(got, want) {
					t.Fatalf("read %d: %d bytes differ from the %d written", i, len(got), len(want))
				}
			}
			r := s.Reader()
			_, _ = r.Read(make([]byte, 10))
			if got := readAllSeeker(t, s.Reader()); !bytes.Equal(got, want) {
				t.Fatal("Reader after a partial read does not start at 0")
			}
			// Seekable to the end (minio-go may seek to learn the size).
			if n, err := s.Reader().Seek(0, io.SeekEnd); err != nil || n != int64(len(want)) {
				t.Fatalf("Seek end: %d %v", n, err)
			}
			// The spill file is unlinked at once: nothing is left in the dir.
			if n := dirEntries(t, dir); n != 0 {
				t.Fatalf("%d files in the spool dir while open", n)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if m, d := stats.Memory.Load(), stats.Disk.Load(); m != 0 || d != 0 {
				t.Fatalf("stats after Close: mem=%d disk=%d", m, d)
			}
			if n := dirEntries(t, dir); n != 0 {
				t.Fatalf("%d files left in the spool dir", n)
			}
		})
	}
}

// Many spools share one SpoolStats: the totals are the sum and return to 0.
func TestSpoolSharedStats(t *testing.T) {
	dir := t.TempDir()
	stats := &pipeline.SpoolStats{}
	var spools []*pipeline.Spool
	for i := 0; i < 10; i++ {
		s := pipeline.NewSpool(100, dir, stats)
		_, _ = s.Write(make([]byte, 50+i*10)) // 50..140: the last four spill
		spools = append(spools, s)
	}
	var memWant, diskWant int64
	for _, s := range spools {
		if s.OnDisk() {
			diskWant += s.Size()
		} else {
			memWant += s.Size()
		}
	}
	if stats.Memory.Load() != memWant || stats.Disk.Load() != diskWant || diskWant == 0 || memWant == 0 {
		t.Fatalf("mem %d/%d disk %d/%d", stats.Memory.Load(), memWant, stats.Disk.Load(), diskWant)
	}
	for _, s := range spools {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		// A second Close is harmless and does not go negative.
		_ = s.Close()
	}
	if stats.Memory.Load() != 0 || stats.Disk.Load() != 0 {
		t.Fatalf("after Close: mem %d disk %d", stats.Memory.Load(), stats.Disk.Load())
	}
	if n := dirEntries(t, dir); n != 0 {
		t.Fatalf("%d files left", n)
	}
}

func TestSpoolBadDir(t *testing.T) {
	s := pipeline.NewSpool(0, "/nonexistent/dir/for/hitexport", nil)
	if _, err := s.Write([]byte("x")); err == nil {
		t.Fatal("spill into a missing dir did not fail")
	}
	_ = s.Close()
}
