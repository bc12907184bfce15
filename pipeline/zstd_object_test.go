package pipeline

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/gen"
)

// Objects written interleaved (as a worker with several windows open
// writes them) are, each, a valid zstd stream whose decompressed bytes are
// exactly the object's records in NDJSON: read back with klauspost's
// decoder at its default settings and, when installed, the zstd CLI. The
// sizes cover one record, less than one frame, frame boundaries and many
// frames, in memory and spilled to a spool file.
func TestZstdObjectsInterleaved(t *testing.T) {
	recs := gen.Generate(gen.Options{Seed: 12, Count: 8000, Start: time.Unix(1_700_000_000, 0), Span: time.Hour})
	ndjson, err := encoders.New("ndjson")
	if err != nil {
		t.Fatal(err)
	}
	l := Layout{Encoder: ndjson, Compression: encoders.Zstd, Window: 10 * time.Minute}
	// hits per object: 1, a few, about one 512 KiB frame (≈ 960 hits), several frames
	sizes := []int{1, 7, 940, 960, 980, 2000, 6000}
	objs := make([]*object, len(sizes))
	want := make([]bytes.Buffer, len(sizes))
	dir := t.TempDir()
	for i := range objs {
		memLimit := 1 << 30
		if i%2 == 1 {
			memLimit = 64 << 10 // spills to a file
		}
		if objs[i], err = newObject(KindHits, 0, 0, 0, time.Now(), l, NewSpool(memLimit, dir, nil)); err != nil {
			t.Fatal(err)
		}
	}
	next := 0
	for round := 0; ; round++ {
		wrote := false
		for i, o := range objs {
			if round >= sizes[i] {
				continue
			}
			r := recs[next%len(recs)]
			next++
			rec := encoders.Record{Value: r.Value, Offset: int64(round)}
			if err := o.add(rec); err != nil {
				t.Fatal(err)
			}
			want[i].Write(r.Value)
			want[i].WriteByte('\n')
			wrote = true
		}
		if !wrote {
			break
		}
	}
	cli, _ := exec.LookPath("zstd")
	if cli == "" {
		t.Log("zstd CLI not installed: objects checked with klauspost's decoder only")
	}
	for i, o := range objs {
		if err := o.finish(); err != nil {
			t.Fatal(err)
		}
		compressed, err := io.ReadAll(o.spool.Reader())
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(compressed)) != o.spool.Size() {
			t.Fatalf("object %d: spool size %d, read %d", i, o.spool.Size(), len(compressed))
		}
		if o.raw != int64(want[i].Len()) {
			t.Fatalf("object %d: raw %d bytes, records are %d", i, o.raw, want[i].Len())
		}
		dec, err := zstd.NewReader(bytes.NewReader(compressed))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(dec)
		dec.Close()
		if err != nil {
			t.Fatalf("object %d (%d hits): klauspost decoder: %v", i, sizes[i], err)
		}
		if !bytes.Equal(got, want[i].Bytes()) {
			t.Fatalf("object %d (%d hits): decompressed %d bytes, want the %d bytes of its records", i, sizes[i], len(got), want[i].Len())
		}
		if len(compressed)*5 > want[i].Len() && sizes[i] >= 940 {
			t.Errorf("object %d: %d bytes compressed to %d: hits compress better than 5:1", i, want[i].Len(), len(compressed))
		}
		if cli != "" {
			f := filepath.Join(dir, "object-"+strconv.Itoa(i)+".ndjson.zst")
			if err := os.WriteFile(f, compressed, 0o600); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd := exec.Command(cli, "-d", "-c", "-q", f)
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("object %d: zstd -d: %v: %s", i, err, stderr.String())
			}
			if !bytes.Equal(out, want[i].Bytes()) {
				t.Fatalf("object %d: zstd CLI decompressed %d bytes, want %d", i, len(out), want[i].Len())
			}
			// One frame: python-zstandard's one-shot decompress() (a boto3
			// user's first try) returns only the FIRST frame of a multi-frame
			// object whose frames carry their sizes, silently. `zstd -l`: the
			// first column of its second line is the number of frames.
			list, err := exec.Command(cli, "-l", f).CombinedOutput()
			if err != nil {
				t.Fatalf("object %d: zstd -l: %v: %s", i, err, list)
			}
			if lines := strings.Split(string(list), "\n"); len(lines) < 2 || len(strings.Fields(lines[1])) == 0 || strings.Fields(lines[1])[0] != "1" {
				t.Errorf("object %d: want exactly one zstd frame, zstd -l says:\n%s", i, list)
			}
		}
		if err := o.spool.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
