package pipeline_test

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/pipeline"
)

// TestPartitionStagedCodec: a worker of the window layout stages the parts
// of a compressed layout in S2 (key mark _s2, Content-Type and metadata
// saying so, the final compression still in the key and metadata), in the
// final compression with Stager.FinalCodec, and uncompressed parts of an
// uncompressed layout as they are; rejected objects keep the layout's
// compression. The merger turns each into the same final object.
func TestPartitionStagedCodec(t *testing.T) {
	var ref []byte
	for _, tc := range []struct {
		name       string
		comp       encoders.Compression
		finalCodec bool
		mark       string
		codec      encoders.Compression
	}{
		{"zstd", encoders.Zstd, false, "_s2", encoders.S2},
		{"zstd-final-codec", encoders.Zstd, true, "", encoders.Zstd},
		{"gzip", encoders.Gzip, false, "_s2", encoders.S2},
		{"none", encoders.None, false, "", encoders.None},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(s *pipeline.Settings) {
				s.Layout.Compression = tc.comp
				s.Stager = &pipeline.Stager{FinalCodec: tc.finalCodec}
			})
			h.s.Stager.Bucket = h.mem
			w0, w1 := t0, t0+wms
			h.clk.Set(time.UnixMilli(w1 + 60000))
			h.hit(0, "a", w0+1000)
			h.hit(1, "b", w0+2000)
			h.handle(2, []byte("not json"), w0+2500)
			h.hit(3, "c", w1+60000) // closes w0
			h.tick()
			ext := ".ndjson" + tc.comp.Extension()
			staged := "_hitexport/staging/" + strconv.FormatInt(w0/1000, 10) + "/hits-3-0" + tc.mark + ext
			info, err := h.mem.Stat(context.Background(), staged)
			if err != nil {
				t.Fatalf("staged part %s: %v (keys %v)", staged, err, h.keys())
			}
			sp, ok := pipeline.ParseStagedKey(staged)
			if !ok || sp.Ext != ext || (tc.mark != "") != (sp.Codec == encoders.S2) {
				t.Fatalf("ParseStagedKey(%s) = %+v, %v", staged, sp, ok)
			}
			md := info.Metadata
			if md[pipeline.MetaCompression] != string(tc.comp) || md[pipeline.MetaRecordCount] != "2" {
				t.Errorf("part metadata %v", md)
			}
			wantCT := tc.comp.ContentType("application/x-ndjson")
			if tc.codec == encoders.S2 {
				wantCT = "application/octet-stream"
				if md[pipeline.MetaStagedCodec] != "s2" {
					t.Errorf("part metadata without its staged codec: %v", md)
				}
			} else if _, ok := md[pipeline.MetaStagedCodec]; ok {
				t.Errorf("part in its final compression names a staged codec: %v", md)
			}
			if info.ContentType != wantCT {
				t.Errorf("part Content-Type %q, want %q", info.ContentType, wantCT)
			}
			data := getObject(t, h.mem, staged)
			if tc.codec == encoders.S2 && !bytes.HasPrefix(data, []byte("\xff\x06\x00\x00S2sTwO")) {
				t.Fatalf("part is not an S2 stream: % x", data[:min(len(data), 10)])
			}
			r, err := tc.codec.NewReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			plain, err := io.ReadAll(r)
			if err != nil {
				t.Fatalf("reading the part as %s: %v", tc.codec, err)
			}
			if n := strings.Count(string(plain), "\n"); n != 2 || !strings.Contains(string(plain), `"request_id":"b"`) {
				t.Fatalf("part content %q", plain)
			}
			// Rejected records are not staged: the layout's compression.
			for _, k := range h.keys() {
				if strings.HasPrefix(k, "rejected/") && !strings.HasSuffix(k, ".ndjson"+tc.comp.Extension()) {
					t.Errorf("rejected object %s", k)
				}
				if strings.HasPrefix(k, "rejected/") && tc.comp != encoders.None {
					if _, err := tc.comp.NewReader(bytes.NewReader(getObject(t, h.mem, k))); err != nil {
						t.Errorf("rejected object %s not in %s: %v", k, tc.comp, err)
					}
				}
			}
			other := &pipeline.Stager{Bucket: h.mem}
			for p := 0; p < part; p++ {
				other.Poke = nil
				h.p = pipeline.NewPartition(topic, p, &pipeline.Settings{Layout: h.s.Layout, IdleTimeout: time.Minute, Stager: other,
					MaxOpenObjects: 4, SpoolMemory: 1 << 20, MaxObjectBytes: 1 << 30}, pipeline.PartitionDeps{Uploader: h.up, Now: h.clk.Now}, 0, pipeline.CommitState{})
				h.clk.Advance(2 * time.Minute)
				h.tick()
			}
			m := &pipeline.Merger{Bucket: h.mem, Layout: h.s.Layout, Topic: topic, LateDelay: time.Hour, SpoolDir: t.TempDir(),
				Partitions: func(context.Context) (int, error) { return part + 1, nil }}
			if err := m.Sweep(context.Background()); err != nil {
				t.Fatal(err)
			}
			final := "hitlogs-" + strconv.FormatInt(w0/1000, 10) + ext
			if ids := h.ids(final); !eq(ids, []string{"a", "b"}) {
				t.Fatalf("final %v (keys %v)", ids, h.keys())
			}
			if _, err := h.mem.Stat(context.Background(), staged); err == nil {
				t.Errorf("staged part %s left after the merge", staged)
			}
			if tc.comp == encoders.Zstd {
				got := getObject(t, h.mem, final)
				if ref == nil {
					ref = got
				} else if !bytes.Equal(ref, got) {
					t.Error("the zstd final object differs with the parts staged in zstd and in S2")
				}
			}
		})
	}
}
