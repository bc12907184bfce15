package pipeline_test

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hitexport/hitexport/pipeline"
)

// TestPartitionWindowLayout: with a Stager the worker stages parts (on-time
// and late) under _hitexport/, keeps rejected objects as they are, commits
// as before, and moves its progress marker as it closes windows — also on
// an idle tick with no record; a Merger then writes the window's object.
func TestPartitionWindowLayout(t *testing.T) {
	pokes := 0
	var st *pipeline.Stager
	h := newHarness(t, func(s *pipeline.Settings) {
		st = &pipeline.Stager{Poke: func() { pokes++ }}
		s.Stager = st
	})
	st.Bucket = h.mem
	w0, w1 := t0, t0+wms
	h.clk.Set(time.UnixMilli(w1 + 60000))
	h.hit(0, "a", w0+1000)
	h.hit(1, "b", w0+2000)
	h.handle(2, []byte("not json"), w0+2500)
	h.hit(3, "c", w1+60000) // closes w0
	h.tick()
	staged := "_hitexport/staging/" + strconv.FormatInt(w0/1000, 10) + "/hits-3-0.ndjson"
	if ids := h.ids(staged); !eq(ids, []string{"a", "b"}) {
		t.Fatalf("staged part %v (keys %v)", ids, h.keys())
	}
	if md := h.meta(staged); md[pipeline.MetaFirstOffset] != "0" || md[pipeline.MetaLastOffset] != "1" || md[pipeline.MetaKind] != "hits" {
		t.Fatalf("part metadata %v", md)
	}
	// Its offsets index, written with it and named by its metadata: the
	// offsets of its records (the rejected record at 2 is not in it).
	offsetsOf := func(key string) []int64 {
		t.Helper()
		hash := h.meta(key)[pipeline.MetaOffsetsIndex]
		rc, err := h.mem.Get(context.Background(), pipeline.OffsetsIndexKey(key, hash))
		if hash == "" || err != nil {
			t.Fatalf("offsets index of %s (hash %q): %v", key, hash, err)
		}
		defer rc.Close()
		data, _ := io.ReadAll(rc)
		offs, err := pipeline.DecodeOffsetsIndex(data)
		if err != nil {
			t.Fatal(err)
		}
		return offs
	}
	if offs := offsetsOf(staged); len(offs) != 2 || offs[0] != 0 || offs[1] != 1 {
		t.Fatalf("offsets index of the part: %v", offs)
	}
	prog := func() int64 {
		pr, err := pipeline.ProgressOf(context.Background(), h.mem, topic)
		if err != nil {
			t.Fatal(err)
		}
		return pr[part]
	}
	if got := prog(); got != w1 || pokes != 1 {
		t.Fatalf("progress %d (want %d), pokes %d", got, w1, pokes)
	}
	if c, _ := h.com.last(); c.State.ClosedBefore != w1 {
		t.Fatalf("committed ClosedBefore %d", c.State.ClosedBefore)
	}
	// A late record: staged as a late part when the partition is idle; the
	// idle tick also closes w1 and moves the marker.
	h.hit(4, "late", w0+3000)
	h.tick() // not idle: the late record is held, and the marker says so
	marker := func() pipeline.Progress {
		pr, err := pipeline.ReadProgressMarker(context.Background(), h.mem, "_hitexport/progress/hits-3")
		if err != nil {
			t.Fatal(err)
		}
		return pr
	}
	if pr := marker(); len(pr.LateOpen) != 1 || pr.LateOpen[0] != w0 || pr.ClosedBefore != w1 {
		t.Fatalf("marker with a late record held: %+v", pr)
	}
	h.clk.Advance(10 * time.Minute)
	h.tick()
	late := "_hitexport/staging-late/" + strconv.FormatInt(w0/1000, 10) + "/hits-3-4.ndjson"
	if ids := h.ids(late); !eq(ids, []string{"late"}) {
		t.Fatalf("late part %v (keys %v)", ids, h.keys())
	}
	if offs := offsetsOf(late); len(offs) != 1 || offs[0] != 4 {
		t.Fatalf("offsets index of the late part: %v", offs)
	}
	if got := prog(); got <= w1+wms-1 {
		t.Fatalf("idle tick did not move the progress past w1: %d", got)
	}
	if pr := marker(); len(pr.LateOpen) != 0 {
		t.Fatalf("marker after the late part was staged: %+v", pr)
	}
	var rejected int
	for _, k := range h.keys() {
		if bytes.HasPrefix([]byte(k), []byte("rejected/hitlogs-")) {
			rejected++
		}
	}
	if rejected != 1 {
		t.Fatalf("rejected objects %d: %v", rejected, h.keys())
	}
	m := &pipeline.Merger{Bucket: h.mem, Layout: h.s.Layout, Topic: topic, LateDelay: time.Hour, SpoolDir: t.TempDir(),
		Partitions: func(context.Context) (int, error) { return part + 1, nil }}
	// Partitions 0..2 never wrote a marker: nothing is merged.
	if err := m.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, k := range h.keys() {
		if _, ok := pipeline.ParseWindowKey(k); ok {
			t.Fatalf("merged without the other partitions' progress: %s", k)
		}
	}
	// The other partitions, quiet, close the windows on idle ticks.
	other := &pipeline.Stager{Bucket: h.mem}
	for p := 0; p < part; p++ {
		h.p = pipeline.NewPartition(topic, p, &pipeline.Settings{Layout: h.s.Layout, IdleTimeout: time.Minute, Stager: other,
			MaxOpenObjects: 4, SpoolMemory: 1 << 20, MaxObjectBytes: 1 << 30}, pipeline.PartitionDeps{Uploader: h.up, Now: h.clk.Now}, 0, pipeline.CommitState{})
		h.clk.Advance(2 * time.Minute)
		h.tick()
	}
	m.Partitions = func(context.Context) (int, error) { return part + 1, nil }
	if err := m.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	final := "hitlogs-" + strconv.FormatInt(w0/1000, 10) + ".ndjson"
	if ids := h.ids(final); !eq(ids, []string{"a", "b", "late"}) {
		t.Fatalf("final %v (keys %v)", ids, h.keys())
	}
	if ids := h.ids("hitlogs-" + strconv.FormatInt(w1/1000, 10) + ".ndjson"); !eq(ids, []string{"c"}) {
		t.Fatalf("final of w1 %v (keys %v)", ids, h.keys())
	}
	for _, k := range h.keys() {
		if pipeline.IsPendingKey(k) {
			t.Fatalf("left pending: %s", k)
		}
	}
}

// TestPartitionWindowLayoutCommitCap: when one record closes two windows,
// the commit after the first window's part never claims the second window
// closed (its part is not uploaded yet), nor does the progress marker; a
// new owner starting from that commit stages the second window's records
// on time, not late.
func TestPartitionWindowLayoutCommitCap(t *testing.T) {
	h := newHarness(t, func(s *pipeline.Settings) { s.Stager = &pipeline.Stager{} })
	h.s.Stager.Bucket = h.mem
	w0, w1, w2 := t0, t0+wms, t0+2*wms
	h.clk.Set(time.UnixMilli(w2 + 120000))
	h.hit(0, "a", w0+1000)
	h.hit(1, "b", w1+1000)
	h.hit(2, "c", w2+90000) // closes w0 and w1 at once
	var cbs []int64
	for _, c := range h.com.commits {
		cbs = append(cbs, c.State.ClosedBefore)
	}
	if len(cbs) != 2 || cbs[0] != w1 || cbs[1] != w2 {
		t.Fatalf("committed ClosedBefore %v, want [%d %d]", cbs, w1, w2)
	}
	// A new owner from the first commit (as if the process died before
	// the second window's upload): b is on time.
	first := h.com.commits[0]
	mem := h.mem
	h2 := newHarness(t, func(s *pipeline.Settings) { s.Stager = &pipeline.Stager{Bucket: mem} })
	h2.mem = mem
	h2.up.Bucket = mem
	h2.clk.Set(time.UnixMilli(w2 + 120000))
	h2.start(first.Offset, first.State)
	h2.hit(1, "b", w1+1000)
	h2.hit(2, "c", w2+90000)
	for _, k := range mem.Keys() {
		if strings.HasPrefix(k, "_hitexport/staging-late/") {
			t.Fatalf("the new owner staged a late part: %v", mem.Keys())
		}
	}
	if ids := h2.ids("_hitexport/staging/" + strconv.FormatInt(w1/1000, 10) + "/hits-3-1.ndjson"); !eq(ids, []string{"b"}) {
		t.Fatalf("w1 part %v", ids)
	}
}
