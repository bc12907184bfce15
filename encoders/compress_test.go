package encoders_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hitexport/hitexport/encoders"
)

type closeTracker struct {
	bytes.Buffer
	closed bool
}

func (c *closeTracker) Close() error { c.closed = true; return nil }

func roundTrip(t *testing.T, c encoders.Compression, data []byte, chunk int) []byte {
	t.Helper()
	dst := &closeTracker{}
	w, err := c.NewWriter(dst)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(data); i += chunk {
		end := min(i+chunk, len(data))
		if n, err := w.Write(data[i:end]); err != nil || n != end-i {
			t.Fatalf("write: %d %v", n, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if dst.closed {
		t.Fatal("Close closed the destination")
	}
	compressed := dst.Bytes()
	r, err := c.NewReader(bytes.NewReader(compressed))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("%s round trip: %d bytes in, %d out", c, len(data), len(got))
	}
	return compressed
}

func TestCompressionRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 5<<20)
	for i := range random {
		random[i] = byte(rng.IntN(256))
	}
	ndjson := bytes.Repeat(readFile(t, golden("seed_hits.ndjson")), 5<<20/1024)
	inputs := map[string][]byte{
		"empty":        {},
		"one byte":     {'x'},
		"seed hits":    readFile(t, golden("seed_hits.ndjson")),
		"5 MB ndjson":  ndjson,
		"5 MB random":  random,
		"binary zeros": make([]byte, 100000),
	}
	for _, c := range encoders.Compressions {
		for name, data := range inputs {
			t.Run(string(c)+"/"+name, func(t *testing.T) {
				chunk := 4096
				if len(data) < chunk {
					chunk = 1
				}
				compressed := roundTrip(t, c, data, chunk)
				switch c {
				case encoders.None:
					if !bytes.Equal(compressed, data) {
						t.Fatal("none changed the bytes")
					}
				case encoders.Gzip:
					if !bytes.HasPrefix(compressed, []byte{0x1f, 0x8b}) {
						t.Fatal("not gzip")
					}
				case encoders.Zstd:
					if !bytes.HasPrefix(compressed, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
						t.Fatal("not zstd")
					}
				}
				if name == "5 MB ndjson" && c != encoders.None && len(compressed) > len(data)/10 {
					t.Errorf("%s compressed repetitive NDJSON only to %d of %d bytes", c, len(compressed), len(data))
				}
			})
		}
	}
}

// Objects written chunk by chunk read back whatever the chunk size.
func TestCompressionChunking(t *testing.T) {
	data := bytes.Repeat([]byte("abc\n"), 50000)
	for _, c := range encoders.Compressions {
		for _, chunk := range []int{1, 7, 4096, len(data)} {
			roundTrip(t, c, data, chunk)
		}
	}
}

func TestCompressionNames(t *testing.T) {
	tests := []struct {
		c          encoders.Compression
		ext, ctype string
	}{
		{encoders.None, "", "application/x-ndjson"},
		{encoders.Gzip, ".gz", "application/gzip"},
		{encoders.Zstd, ".zst", "application/zstd"},
	}
	for _, tc := range tests {
		if tc.c.Extension() != tc.ext || tc.c.ContentType("application/x-ndjson") != tc.ctype {
			t.Errorf("%s: %q %q", tc.c, tc.c.Extension(), tc.c.ContentType("application/x-ndjson"))
		}
		got, err := encoders.ParseCompression(string(tc.c))
		if err != nil || got != tc.c {
			t.Errorf("ParseCompression(%s) = %s, %v", tc.c, got, err)
		}
	}
	if len(encoders.Compressions) != 3 {
		t.Fatalf("Compressions %v", encoders.Compressions)
	}
}

func TestParseCompressionErrors(t *testing.T) {
	for _, s := range []string{"", "GZIP", "Zstd", "gz", "zst", "lz4", "snappy", " none", "none "} {
		c, err := encoders.ParseCompression(s)
		if err == nil {
			t.Errorf("ParseCompression(%q) = %s, no error", s, c)
			continue
		}
		if c != "" {
			t.Errorf("ParseCompression(%q) returned %q with an error", s, c)
		}
		msg := err.Error()
		for _, want := range []string{"none", "gzip", "zstd"} {
			if !strings.Contains(msg, want) {
				t.Errorf("ParseCompression(%q): %q does not list %s", s, msg, want)
			}
		}
	}
}

func TestUnknownCompression(t *testing.T) {
	c := encoders.Compression("lz4")
	if _, err := c.NewWriter(io.Discard); err == nil {
		t.Error("NewWriter accepted lz4")
	}
	if _, err := c.NewReader(strings.NewReader("")); err == nil {
		t.Error("NewReader accepted lz4")
	}
	// The empty value means none (zero value of a config field).
	if w, err := encoders.Compression("").NewWriter(io.Discard); err != nil || w == nil {
		t.Error("empty compression")
	}
}

func TestCorruptInputFails(t *testing.T) {
	for _, c := range []encoders.Compression{encoders.Gzip, encoders.Zstd} {
		r, err := c.NewReader(strings.NewReader("definitely not compressed data"))
		if err == nil {
			_, err = io.ReadAll(r)
		}
		if err == nil {
			t.Errorf("%s: corrupt input read without error", c)
		}
		// Truncated stream.
		compressed := roundTrip(t, c, bytes.Repeat([]byte("hello world "), 10000), 4096)
		r, err = c.NewReader(bytes.NewReader(compressed[:len(compressed)/2]))
		if err == nil {
			_, err = io.ReadAll(r)
		}
		if err == nil {
			t.Errorf("%s: truncated input read without error", c)
		}
	}
}
