//go:build integration

package itest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/pipeline"
	"github.com/hitexport/hitexport/store"
)

// windowExtra is the configuration of the window-layout tests.
func windowExtra(more map[string]string) map[string]string {
	x := map[string]string{
		"HITEXPORT_LAYOUT":                "window",
		"HITEXPORT_MERGE_INTERVAL":        "1s",
		"HITEXPORT_LATE_MAX_AGE":          "3s",
		"HITEXPORT_KAFKA_SESSION_TIMEOUT": "6s",
	}
	for k, v := range more {
		x[k] = v
	}
	return x
}

// bucketKeys lists the bucket.
func (e *env) bucketKeys() []store.ObjectInfo {
	e.t.Helper()
	var out []store.ObjectInfo
	if err := e.bucket.List(context.Background(), "", func(o store.ObjectInfo) error { out = append(out, o); return nil }); err != nil {
		e.t.Fatalf("list: %v", err)
	}
	return out
}

// waitMerged waits until no staged part or merge manifest is left.
func (e *env) waitMerged(timeout time.Duration, x ...*exporter) {
	e.t.Helper()
	var pending []string
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		pending = pending[:0]
		for _, o := range e.bucketKeys() {
			if pipeline.IsPendingKey(o.Key) {
				pending = append(pending, o.Key)
			}
		}
		if len(pending) == 0 {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	var logs string
	for _, p := range x {
		logs += tail(p.out.String(), 4000)
	}
	e.t.Fatalf("staged parts not merged within %s: %v\n%s", timeout, pending, logs)
}

// checkWindowObjects asserts the window layout's shape: every hit object is
// hitlogs-<window s>[_late-NNN][_NNN]<ext>, each window with hits has its
// object, nothing names a partition; it returns the number of windows and of
// late objects.
func checkWindowObjects(t *testing.T, e *env, recs []gen.Record, ext string) (windows, lates int) {
	t.Helper()
	want := map[int64]bool{}
	for _, r := range recs {
		if r.Expect.Valid {
			want[r.Expect.TimeMillis-r.Expect.TimeMillis%(10*time.Minute).Milliseconds()] = true
		}
	}
	got := map[int64]bool{}
	for _, o := range e.bucketKeys() {
		switch {
		case strings.HasPrefix(o.Key, "rejected/"), strings.HasPrefix(o.Key, pipeline.InternalDir):
			continue
		}
		k, ok := pipeline.ParseWindowKey(o.Key)
		if !ok {
			t.Fatalf("object %s is not a window-layout object", o.Key)
		}
		if k.Ext+k.Compression.Extension() != ext {
			t.Fatalf("object %s: extension %s%s, want %s", o.Key, k.Ext, k.Compression.Extension(), ext)
		}
		if k.Split > 1 {
			t.Fatalf("unexpected split object %s", o.Key)
		}
		if k.Late > 0 {
			lates++
			continue
		}
		if got[k.Window] {
			t.Fatalf("two objects for window %d", k.Window)
		}
		got[k.Window] = true
	}
	for w := range want {
		if !got[w] {
			// Every hit of a window may have come late: then it has only
			// late objects. The checker still sees each hit once.
			t.Logf("window %d has no on-time object (all its hits late?)", w/1000)
		}
	}
	if len(got) < len(want)-1 {
		t.Fatalf("%d window objects for %d windows with hits", len(got), len(want))
	}
	return len(got), lates
}

// TestExportWindowLayout: 4 partitions, several windows, late hits and
// malformed records, in the window layout: one object per window (plus late
// objects), no staged part left, every hit exactly once, every malformed
// record in a rejected object, offsets committed; `hitexport verify` agrees.
func TestExportWindowLayout(t *testing.T) {
	for _, tc := range []struct{ format, comp, ext string }{{"ndjson", "gzip", ".ndjson.gz"}, {"json", "zstd", ".json.zst"}} {
		t.Run(tc.format+"-"+tc.comp, func(t *testing.T) {
			e := newEnv(t, 4)
			recs := gen.Generate(pastHour(11, 6000))
			e.produce(recs)
			extra := windowExtra(map[string]string{"HITEXPORT_FORMAT": tc.format, "HITEXPORT_COMPRESSION": tc.comp})
			x := e.start(extra)
			e.waitCommitted(2*time.Minute, x)
			e.waitMerged(2*time.Minute, x)
			rep := e.check(recs, 10*time.Minute)
			t.Logf("report: %+v", rep)
			if !rep.OK() || rep.HitsInBucket != rep.ProducedValid || rep.RejectedInBucket != rep.ProducedRejected || rep.ProducedRejected == 0 {
				t.Fatalf("invariants violated: %+v\n%s", rep, tail(x.out.String(), 3000))
			}
			windows, lates := checkWindowObjects(t, e, recs, tc.ext)
			t.Logf("%d window objects, %d late objects, %d objects in all (rejected and internal included)", windows, lates, e.objectCount())
			if windows < 6 {
				t.Fatalf("only %d windows", windows)
			}
			mt := mustScrape(t, x.httpAddr(t))
			if got := mt.val("hitexport_merges_total"); int(got) != windows+lates {
				t.Errorf("hitexport_merges_total %v, want %d (window and late objects)", got, windows+lates)
			}
			if got := mt.val("hitexport_merge_records_total"); int(got) != rep.ProducedValid || mt.val("hitexport_merge_overlaps_total") != 0 {
				t.Errorf("hitexport_merge_records_total %v, want %d; overlaps %v", got, rep.ProducedValid, mt.val("hitexport_merge_overlaps_total"))
			}
			x.stop(t, 30*time.Second)
			// The CLI checker on the same bucket.
			manifest := filepath.Join(t.TempDir(), "manifest.ndjson")
			writeManifest(t, manifest, recs)
			out, code := e.runCombined(map[string]string{"HITEXPORT_LAYOUT": "window", "HITEXPORT_FORMAT": tc.format, "HITEXPORT_COMPRESSION": tc.comp},
				"verify", "-manifest", manifest)
			if code != 0 || !strings.Contains(out, "OK: every invariant holds") {
				t.Fatalf("hitexport verify (exit %d):\n%s", code, out)
			}
			// offsets shows each partition's progress marker.
			stdout, stderr, code := e.runOnce(map[string]string{"HITEXPORT_LAYOUT": "window"}, "offsets", "--json")
			var res struct {
				Layout     string `json:"layout"`
				Pending    int    `json:"window_layout_pending"`
				Partitions []struct {
					Staged string `json:"window_layout_staged_before"`
				} `json:"partitions"`
			}
			if err := json.Unmarshal([]byte(stdout), &res); err != nil || code != 0 {
				t.Fatalf("offsets (exit %d): %v\n%s\n%s", code, err, stdout, stderr)
			}
			if res.Layout != "window" || res.Pending != 0 || len(res.Partitions) != 4 {
				t.Fatalf("offsets: %s", stdout)
			}
			for _, p := range res.Partitions {
				if p.Staged == "" {
					t.Fatalf("a partition without a progress marker: %s", stdout)
				}
			}
		})
	}
}

// TestExportWindowLayoutCrash kills the exporter (SIGKILL, through the
// test-only HITEXPORT_TEST_CRASH_AT hook) at each step of its first merge,
// then runs it again: the bucket is exact afterwards, with no staged part
// left and one object per window.
func TestExportWindowLayoutCrash(t *testing.T) {
	for _, step := range []string{pipeline.StepAfterManifest, pipeline.StepAfterPart, pipeline.StepAfterFinal,
		pipeline.StepAfterDone, pipeline.StepDuringCleanup} {
		t.Run(step, func(t *testing.T) {
			e := newEnv(t, 4)
			recs := gen.Generate(pastHour(uint64(len(step)), 3000))
			e.produce(recs)
			extra := windowExtra(map[string]string{"HITEXPORT_COMPRESSION": "gzip"})
			crash := windowExtra(map[string]string{"HITEXPORT_COMPRESSION": "gzip", "HITEXPORT_TEST_CRASH_AT": step})
			x := e.start(crash)
			select {
			case err := <-x.done:
				if err == nil || !strings.Contains(err.Error(), "killed") {
					t.Fatalf("exporter exited with %v, want killed at %s\n%s", err, step, tail(x.out.String(), 3000))
				}
			case <-time.After(2 * time.Minute):
				t.Fatalf("the exporter never reached %s\n%s", step, tail(x.out.String(), 3000))
			}
			if !strings.Contains(x.out.String(), `"step":"`+step+`"`) {
				t.Fatalf("killed, but not by the hook at %s:\n%s", step, tail(x.out.String(), 3000))
			}
			// At the crash: no window object has its parts merged twice, and
			// a window object exists only from the final write on.
			finals := 0
			for _, o := range e.bucketKeys() {
				if _, ok := pipeline.ParseWindowKey(o.Key); ok {
					finals++
				}
			}
			switch step {
			case pipeline.StepAfterManifest, pipeline.StepAfterPart:
				if finals != 0 {
					t.Fatalf("%d window objects before the first final write", finals)
				}
			default:
				if finals == 0 {
					t.Fatalf("no window object after %s", step)
				}
			}
			x = e.start(extra)
			e.waitCommitted(2*time.Minute, x)
			e.waitMerged(2*time.Minute, x)
			x.stop(t, 30*time.Second)
			rep := e.check(recs, 10*time.Minute)
			t.Logf("report: %+v", rep)
			if !rep.OK() || rep.HitsInBucket != rep.ProducedValid {
				t.Fatalf("invariants violated after a crash at %s: %+v\n%s", step, rep, tail(x.out.String(), 3000))
			}
			checkWindowObjects(t, e, recs, ".ndjson.gz")
		})
	}
}

// TestExportWindowLayoutReplay: a window's object is lost (deleted with its
// done record); `hitexport replay` over the whole topic in the window layout
// writes it again under the same key, and adds nothing to the windows whose
// objects are there (their records are skipped, or their re-staged parts
// dropped by the merge).
func TestExportWindowLayoutReplay(t *testing.T) {
	e := newEnv(t, 4)
	recs := gen.Generate(pastHour(21, 3000))
	e.produce(recs)
	extra := windowExtra(map[string]string{"HITEXPORT_COMPRESSION": "gzip"})
	x := e.start(extra)
	e.waitCommitted(2*time.Minute, x)
	e.waitMerged(2*time.Minute, x)
	x.stop(t, 30*time.Second)
	var lost string
	before := map[string]string{}
	for _, o := range e.bucketKeys() {
		if k, ok := pipeline.ParseWindowKey(o.Key); ok {
			before[o.Key] = o.ETag
			if k.Late == 0 && lost == "" && k.Window >= time.Now().Add(-50*time.Minute).UnixMilli() {
				lost = o.Key
			}
		}
	}
	if lost == "" {
		t.Fatalf("no window object to lose: %v", before)
	}
	wk, _ := pipeline.ParseWindowKey(lost)
	ctx := context.Background()
	for _, k := range []string{lost, pipeline.InternalDir + "merged/" + wk.Name() + ".json"} {
		if err := e.bucket.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if rep := e.check(recs, 10*time.Minute); rep.Missing == 0 {
		t.Fatalf("deleting %s lost nothing: %+v", lost, rep)
	}
	from := time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339)
	stdout, stderr, code := e.runOnce(extra, "replay", "--from", from)
	if code != 0 {
		t.Fatalf("replay exit %d:\n%s\n%s", code, stdout, tail(stderr, 3000))
	}
	t.Logf("replay:\n%s", stdout)
	rep := e.check(recs, 10*time.Minute)
	if !rep.OK() || rep.HitsInBucket != rep.ProducedValid {
		t.Fatalf("after the replay: %+v\n%s", rep, tail(stderr, 3000))
	}
	after := map[string]string{}
	for _, o := range e.bucketKeys() {
		if _, ok := pipeline.ParseWindowKey(o.Key); ok {
			after[o.Key] = o.ETag
		}
	}
	if _, ok := after[lost]; !ok {
		t.Fatalf("the replay did not write %s again: %v", lost, after)
	}
	for k, etag := range before {
		if k != lost && after[k] != etag {
			t.Errorf("object %s changed or vanished", k)
		}
	}
	if len(after) != len(before) {
		t.Errorf("objects before %d, after %d: %v", len(before), len(after), after)
	}
}

// TestExportWindowLayoutOverlap: a real partial overlap. The exporter is
// killed right after writing its first merge manifest (all parts staged);
// the test removes the manifest (as if the kill came just before it) and
// replaces one staged part by two copies that overlap without one
// containing the other — what a crash and a zombie closing the window at
// different records leave — each with its offsets index, from the part's
// own records, index and metadata. The restarted exporter merges them with
// the offsets indexes: every hit exactly once, the overlap counted as
// resolved, none as a possible duplicate.
func TestExportWindowLayoutOverlap(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 2)
	recs := gen.Generate(pastHour(31, 1200))
	e.produce(recs)
	crash := windowExtra(map[string]string{"HITEXPORT_COMPRESSION": "gzip", "HITEXPORT_TEST_CRASH_AT": pipeline.StepAfterManifest})
	x := e.start(crash)
	select {
	case <-x.done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the exporter never wrote a manifest\n%s", tail(x.out.String(), 3000))
	}
	// The manifest, and the largest staged part (of any window).
	var mkey, part string
	var best int64
	for _, o := range e.bucketKeys() {
		if strings.HasPrefix(o.Key, pipeline.InternalDir+"merging/") {
			mkey = o.Key
		}
		if sp, ok := pipeline.ParseStagedKey(o.Key); ok && !sp.Late {
			info, err := e.bucket.Stat(ctx, o.Key)
			if err != nil {
				t.Fatal(err)
			}
			if c, _ := strconv.ParseInt(info.Metadata[pipeline.MetaRecordCount], 10, 64); c > best {
				part, best = o.Key, c
			}
		}
	}
	if mkey == "" {
		t.Fatalf("no manifest after the kill\n%s", tail(x.out.String(), 3000))
	}
	if best < 6 {
		t.Fatalf("no staged part with 6 records or more: %s (%d)", part, best)
	}
	if err := e.bucket.Delete(ctx, mkey); err != nil {
		t.Fatal(err)
	}
	info, err := e.bucket.Stat(ctx, part)
	if err != nil {
		t.Fatal(err)
	}
	hash := info.Metadata[pipeline.MetaOffsetsIndex]
	if hash == "" {
		t.Fatalf("staged part %s without an offsets index in its metadata: %v", part, info.Metadata)
	}
	offs, err := pipeline.DecodeOffsetsIndex(e.getBytes(pipeline.OffsetsIndexKey(part, hash)))
	if err != nil || int64(len(offs)) != best {
		t.Fatalf("offsets index of %s: %d offsets (%v), want %d", part, len(offs), err, best)
	}
	// The part is in its staged codec (S2 by default, gzip with a
	// previous version's key): copies are written back in the same one.
	codec := stagedCodec(part, "gzip")
	lines := strings.SplitAfter(string(decompress(t, codec, e.getBytes(part))), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) != len(offs) {
		t.Fatalf("%s: %d lines, %d offsets", part, len(lines), len(offs))
	}
	// Copy A: records [0, 2n/3) under the part's key (a writer that closed
	// the window early); copy B: records [n/3, n) under the key of its
	// first offset (a writer that started later). Records [n/3, 2n/3) are
	// in both.
	n := len(offs)
	a, b := 2*n/3, n/3
	sp, _ := pipeline.ParseStagedKey(part)
	sp.First = offs[b]
	put := func(key string, from, to int) {
		t.Helper()
		idx := pipeline.EncodeOffsetsIndex(offs[from:to])
		h := pipeline.OffsetsIndexHash(idx)
		if err := e.bucket.Put(ctx, pipeline.OffsetsIndexKey(key, h), bytes.NewReader(idx), int64(len(idx)), store.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		md := map[string]string{}
		for k, v := range info.Metadata {
			md[k] = v
		}
		md[pipeline.MetaFirstOffset] = strconv.FormatInt(offs[from], 10)
		md[pipeline.MetaLastOffset] = strconv.FormatInt(offs[to-1], 10)
		md[pipeline.MetaRecordCount] = strconv.Itoa(to - from)
		md[pipeline.MetaOffsetsIndex] = h
		data := compress(t, codec, []byte(strings.Join(lines[from:to], "")))
		if err := e.bucket.Put(ctx, key, bytes.NewReader(data), int64(len(data)), store.PutOptions{Metadata: md}); err != nil {
			t.Fatal(err)
		}
	}
	put(part, 0, a)
	put(pipeline.StagedKey(sp), b, n)

	x = e.start(windowExtra(map[string]string{"HITEXPORT_COMPRESSION": "gzip"}))
	e.waitCommitted(2*time.Minute, x)
	e.waitMerged(2*time.Minute, x)
	mt := mustScrape(t, x.httpAddr(t))
	x.stop(t, 30*time.Second)
	rep := e.check(recs, 10*time.Minute)
	t.Logf("report: %+v; %d records, copies [0,%d) and [%d,%d)", rep, n, a, b, n)
	if !rep.OK() || rep.HitsInBucket != rep.ProducedValid {
		t.Fatalf("invariants violated: %+v\n%s", rep, tail(x.out.String(), 3000))
	}
	// If the part's records were not yet committed at the kill (its upload
	// applied, its commit not), the restarted run reads them again and
	// re-stages the whole part under copy A's key: B is then contained in
	// it and no overlap reaches the merger. Exactness is checked above
	// either way; the overlap path itself is what is asserted below.
	restaged := uploadedLine(part, x) != ""
	if restaged && mt.val("hitexport_merge_records_deduplicated_total") == 0 {
		t.Logf("the restarted run re-staged %s (uncommitted at the kill): the overlap was superseded, not merged", part)
	} else if mt.val("hitexport_merge_overlaps_resolved_total") < 1 || mt.val("hitexport_merge_overlaps_total") != 0 ||
		int(mt.val("hitexport_merge_records_deduplicated_total")) != a-b {
		t.Errorf("overlaps resolved %v, unresolved %v, records deduplicated %v (want %d)", mt.val("hitexport_merge_overlaps_resolved_total"),
			mt.val("hitexport_merge_overlaps_total"), mt.val("hitexport_merge_records_deduplicated_total"), a-b)
	}
	checkWindowObjects(t, e, recs, ".ndjson.gz")
}

func (e *env) getBytes(key string) []byte {
	e.t.Helper()
	rc, err := e.bucket.Get(context.Background(), key)
	if err != nil {
		e.t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		e.t.Fatalf("read %s: %v", key, err)
	}
	return data
}

// stagedCodec is the codec a staged part's bytes are in: its key's mark
// (S2), else the final compression comp.
func stagedCodec(key string, comp encoders.Compression) encoders.Compression {
	if sp, ok := pipeline.ParseStagedKey(key); ok && sp.Codec != "" {
		return sp.Codec
	}
	return comp
}

func decompress(t *testing.T, c encoders.Compression, b []byte) []byte {
	t.Helper()
	zr, err := c.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func compress(t *testing.T, c encoders.Compression, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := c.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
