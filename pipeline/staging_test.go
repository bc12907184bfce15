package pipeline_test

import (
	"bytes"
	"context"
	"strconv"
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
	h.clk.Advance(10 * time.Minute)
	h.tick()
	late := "_hitexport/staging-late/" + strconv.FormatInt(w0/1000, 10) + "/hits-3-4.ndjson"
	if ids := h.ids(late); !eq(ids, []string{"late"}) {
		t.Fatalf("late part %v (keys %v)", ids, h.keys())
	}
	if got := prog(); got <= w1+wms-1 {
		t.Fatalf("idle tick did not move the progress past w1: %d", got)
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
