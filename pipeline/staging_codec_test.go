package pipeline

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hitexport/hitexport/encoders"
)

// TestStagedKeyCodec: a part staged in S2 says so in its key, after the
// first offset, and keeps its final extension; the parser of versions
// before S2 staging (ParseKey of the file name) refuses such a key, so
// their mergers leave the part alone rather than read S2 as zstd. Its
// offsets index key leads back to it.
func TestStagedKeyCodec(t *testing.T) {
	for _, tc := range []struct {
		sp   StagedPart
		want string
	}{
		{StagedPart{Window: mW0, Topic: "hits", Partition: 3, First: 12, Ext: ".ndjson.zst", Codec: encoders.S2},
			"_hitexport/staging/1800000000/hits-3-12_s2.ndjson.zst"},
		{StagedPart{Late: true, Window: mW0, Topic: "a_s2.b-c", Partition: 0, First: 0, Ext: ".ocsf.json.gz", Codec: encoders.S2},
			"_hitexport/staging-late/1800000000/a_s2.b-c-0-0_s2.ocsf.json.gz"},
		{StagedPart{Window: mW0, Topic: "a_s2.b-c", Partition: 1, First: 7, Ext: ".json.zst"},
			"_hitexport/staging/1800000000/a_s2.b-c-1-7.json.zst"},
	} {
		k := StagedKey(tc.sp)
		if k != tc.want {
			t.Errorf("StagedKey(%+v) = %q, want %q", tc.sp, k, tc.want)
		}
		got, ok := ParseStagedKey(k)
		if !ok || got != tc.sp {
			t.Errorf("ParseStagedKey(%q) = %+v, %v; want %+v", k, got, ok, tc.sp)
		}
		ik := OffsetsIndexKey(k, "0123abcd")
		if got, ok := parseOffsetsKey(ik); !ok || got != tc.sp {
			t.Errorf("parseOffsetsKey(%q) = %+v, %v", ik, got, ok)
		}
		// What the previous version's ParseStagedKey did with the file name.
		rest := strings.TrimPrefix(strings.TrimPrefix(k, stagingDir), stagingLateDir)
		ws, name, _ := strings.Cut(rest, "/")
		_, oldOK := ParseKey(keyName + ws + "-" + name)
		if oldOK != (tc.sp.Codec == "") {
			t.Errorf("%q: the previous parser accepts it: %v", k, oldOK)
		}
	}
	for _, bad := range []string{"_hitexport/staging/1800000000/hits-3-_s2.ndjson.zst", "_hitexport/staging/1800000000/hits-3-12_s2", "_hitexport/staging/1800000000/hits-3-12_s3.ndjson.zst"} {
		if sp, ok := ParseStagedKey(bad); ok {
			t.Errorf("ParseStagedKey(%q) = %+v, want refusal", bad, sp)
		}
	}
}

// stageMixed stages the same records into f for every variant of
// TestMergeStagedCodecs: the parts of partition p go in the codec codecs(p).
func stageMixed(f *mergeFixture, codecs func(p int) encoders.Compression) (onTime, late []stagedRec) {
	w1, w2 := mW0, mW0+mW.Milliseconds()
	at := func(p int) { f.staged = codecs(p) }
	at(2)
	onTime = append(onTime, f.stage(false, w1, 2, 10, 40)...)
	at(0)
	onTime = append(onTime, f.stage(false, w1, 0, 0, 70)...)
	onTime = append(onTime, f.stage(false, w1, 0, 70, 30)...)
	at(1)
	onTime = append(onTime, f.stage(false, w1, 1, 5, 1)...)
	f.stage(false, w2, 1, 9, 4)
	m := f.merger(3)
	for p := 0; p < 3; p++ {
		f.progress(p, w2)
	}
	sweep(f.t, m)
	// Late parts after the window's merge, one per codec.
	at(0)
	late = append(late, f.stage(true, w1, 0, 200, 9)...)
	at(1)
	late = append(late, f.stage(true, w1, 1, 300, 6)...)
	if err := m.SweepAll(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	return onTime, late
}

// TestMergeStagedCodecs: parts staged in S2, in the final compression (a
// previous version's, e.g. during a rolling upgrade) or both in one window
// merge into final objects byte for byte the same as today's, with the same
// metadata but the merge ID (it names the parts' keys); every part is
// deleted after the merge.
func TestMergeStagedCodecs(t *testing.T) {
	for _, tc := range []struct {
		format string
		comp   encoders.Compression
	}{{"ndjson", encoders.Zstd}, {"json", encoders.Gzip}, {"ocsf", encoders.Zstd}} {
		t.Run(tc.format+"-"+string(tc.comp), func(t *testing.T) {
			variants := []struct {
				name   string
				codecs func(p int) encoders.Compression
			}{
				{"final", func(int) encoders.Compression { return "" }},
				{"s2", func(int) encoders.Compression { return encoders.S2 }},
				{"mixed", func(p int) encoders.Compression {
					if p%2 == 1 {
						return encoders.S2
					}
					return ""
				}},
				{"mixed-other", func(p int) encoders.Compression {
					if p%2 == 0 {
						return encoders.S2
					}
					return ""
				}},
			}
			var refKeys []string
			ref := map[string][]byte{}
			refMeta := map[string]map[string]string{}
			for _, v := range variants {
				f := newMergeFixture(t, tc.format, tc.comp)
				onTime, late := stageMixed(f, v.codecs)
				finals := f.finals()
				want := []string{
					FinalKey(WindowKey{Window: mW0, Split: 1, Ext: f.l.Encoder.Extension(), Compression: tc.comp}),
					FinalKey(WindowKey{Window: mW0, Late: 1, Split: 1, Ext: f.l.Encoder.Extension(), Compression: tc.comp}),
				}
				if len(finals) != 2 || finals[0] != want[0] || finals[1] != want[1] {
					t.Fatalf("%s: finals %v, want %v", v.name, finals, want)
				}
				if got, exp := f.read(want[0]), f.expected(sortRecs(onTime)); !bytes.Equal(got, exp) {
					t.Fatalf("%s: window object differs:\n got %q\nwant %q", v.name, trunc(got), trunc(exp))
				}
				if got, exp := f.read(want[1]), f.expected(sortRecs(late)); !bytes.Equal(got, exp) {
					t.Fatalf("%s: late object differs", v.name)
				}
				if p := f.pending(); len(p) != 1 || !strings.HasPrefix(p[0], stagingDir+"1800000600/") {
					t.Errorf("%s: pending after the merges: %v (want only w2's part)", v.name, p)
				}
				for _, k := range finals {
					raw := f.raw(k)
					info, err := f.b.Stat(context.Background(), k)
					if err != nil {
						t.Fatal(err)
					}
					md := map[string]string{}
					for mk, mv := range info.Metadata {
						if mk != MetaMergeID {
							md[mk] = mv
						}
					}
					md["content-type"] = info.ContentType
					if refKeys == nil || ref[k] == nil {
						ref[k], refMeta[k] = raw, md
						continue
					}
					if !bytes.Equal(ref[k], raw) {
						t.Errorf("%s: %s differs from the final-codec variant's bytes", v.name, k)
					}
					if !equalMaps(refMeta[k], md) {
						t.Errorf("%s: %s metadata %v, want %v", v.name, k, md, refMeta[k])
					}
				}
				refKeys = finals
			}
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestMergeStagedCodecOverlap: a rolling upgrade's partial overlap, an
// older owner's part in the final compression and a newer owner's S2 part
// of the same partition and window: the offsets indexes resolve it
// exactly (omit), the bytes equal those of the same overlap staged in one
// codec, and retention later removes both parts' indexes.
func TestMergeStagedCodecOverlap(t *testing.T) {
	var ref []byte
	for _, codecs := range [][2]encoders.Compression{{"", ""}, {"", encoders.S2}, {encoders.S2, ""}, {encoders.S2, encoders.S2}} {
		name := string(codecs[0]) + "/" + string(codecs[1])
		f := newMergeFixture(t, "ndjson", encoders.Zstd)
		var all []stagedRec
		f.staged = encoders.S2
		all = append(all, f.stageAt(false, mW0, 0, span(0, 4), true)...)
		f.staged = codecs[0]
		all = append(all, f.stageAt(false, mW0, 1, span(10, 29), true)...)
		f.staged = codecs[1]
		all = append(all, f.stageAt(false, mW0, 1, span(20, 39), true)...)
		m := f.merger(2)
		f.progress(0, mW0+mW.Milliseconds())
		f.progress(1, mW0+mW.Milliseconds())
		sweep(t, m)
		f.exactlyOnce(all)
		if p := f.pending(); len(p) != 0 {
			t.Errorf("%s: pending after the merge: %v", name, p)
		}
		if st := m.Stats; st.Overlaps.Load() != 0 || st.OverlapsResolved.Load() != 1 || st.Deduplicated.Load() != 10 {
			t.Errorf("%s: overlaps %d resolved %d deduplicated %d", name, st.Overlaps.Load(), st.OverlapsResolved.Load(), st.Deduplicated.Load())
		}
		final := FinalKey(WindowKey{Window: mW0, Split: 1, Ext: ".ndjson", Compression: encoders.Zstd})
		raw := f.raw(final)
		if ref == nil {
			ref = raw
		} else if !bytes.Equal(ref, raw) {
			t.Errorf("%s: the final object's bytes depend on the parts' codecs", name)
		}
		mf, err := m.readManifest(context.Background(), mergedDir+"1800000000.json")
		if err != nil {
			t.Fatal(err)
		}
		omits := 0
		for _, p := range mf.Parts {
			omits += len(p.Omit)
			sp, _ := ParseStagedKey(p.Key)
			if p.Partition == 1 && p.First == 20 && sp.Codec != codecs[1] {
				t.Errorf("%s: done record's part %s, want codec %q", name, p.Key, codecs[1])
			}
		}
		if omits == 0 {
			t.Errorf("%s: no part of the done record has records left out", name)
		}
		// Retention: the window's done record and its three indexes go.
		real := time.Now()
		m = f.merger(2)
		m.MergedRetention = time.Hour
		m.Now = func() time.Time { return real.Add(2 * time.Hour) }
		sweep(t, m)
		if n := m.Stats.Expired.Load(); n != 4 {
			t.Errorf("%s: expired %d, want 4 (done record, 3 indexes); left %v", name, n, f.b.Keys())
		}
	}
}

// TestS2PartRead: a part staged in S2 is read back record by record by the
// merger's reader, long lines included, and is smaller than the records.
func TestS2PartRead(t *testing.T) {
	var buf bytes.Buffer
	w, err := encoders.S2.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := 0; i < 3000; i++ {
		l := `{"n":` + strconv.Itoa(i) + `,"pad":"` + strings.Repeat("x", i%7*100) + `"}`
		if i == 1500 {
			l = `{"long":"` + strings.Repeat("y", 600<<10) + `"}` // beyond a block and the read buffer
		}
		want = append(want, l)
		if _, err := io.WriteString(w, l+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte("\xff\x06\x00\x00S2sTwO")) {
		t.Fatalf("not an S2 stream: % x", buf.Bytes()[:10])
	}
	raw := 0
	for _, l := range want {
		raw += len(l) + 1
	}
	if buf.Len()*2 > raw {
		t.Errorf("S2 part %d bytes for %d of records", buf.Len(), raw)
	}
	var got []string
	if err := readRecords(bytes.NewReader(buf.Bytes()), encoders.S2, false, func(rec []byte) error {
		got = append(got, string(rec))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("record %d differs", i)
		}
	}
	// Read as zstd (what a previous version would do with it): an error,
	// never records.
	err = readRecords(bytes.NewReader(buf.Bytes()), encoders.Zstd, false, func([]byte) error {
		t.Fatal("S2 bytes read as zstd records")
		return nil
	})
	if err == nil {
		t.Error("S2 bytes read as zstd without an error")
	}
}
