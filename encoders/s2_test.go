package encoders

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// TestS2Codec: S2 round-trips through pooled writers and readers (a reused
// writer starts a new stream, a reused reader reads the next one), is not
// a configurable compression and adds no extension.
func TestS2Codec(t *testing.T) {
	if _, err := ParseCompression("s2"); err == nil {
		t.Error(`ParseCompression("s2") accepted: S2 is for staged parts only`)
	}
	if S2.Extension() != "" || S2.ContentType("application/x-ndjson") != "application/octet-stream" {
		t.Errorf("extension %q, content type %q", S2.Extension(), S2.ContentType("application/x-ndjson"))
	}
	for round := 0; round < 3; round++ {
		plain := []byte(strings.Repeat(`{"uri":"/a/b","status":200,"round":`+string(rune('0'+round))+"}\n", 20000+round))
		var buf bytes.Buffer
		w, err := S2.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(plain[:1000]); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(plain[1000:]); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := w.Write([]byte("x")); err == nil {
			t.Fatal("write after close accepted")
		}
		if buf.Len() == 0 || buf.Len() > len(plain)/4 {
			t.Fatalf("round %d: %d bytes for %d", round, buf.Len(), len(plain))
		}
		r, err := S2.NewReader(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, plain) {
			t.Fatalf("round %d: %d bytes back, want %d", round, len(got), len(plain))
		}
		// A truncated stream is an error, not a short read.
		r, _ = S2.NewReader(bytes.NewReader(buf.Bytes()[:buf.Len()-3]))
		if _, err := io.ReadAll(r); err == nil {
			t.Fatalf("round %d: truncated stream read without an error", round)
		}
		r.Close()
	}
}
