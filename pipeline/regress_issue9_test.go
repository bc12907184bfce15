package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hitexport/hitexport/pipeline"
)

func series(t *testing.T, c prometheus.Collector) int {
	t.Helper()
	ch := make(chan prometheus.Metric, 16)
	go func() { c.Collect(ch); close(ch) }()
	n := 0
	for range ch {
		n++
	}
	return n
}

// Regression (issue 9, bug 1): an upload cut short by a rebalance during an
// S3 outage left hitexport_partition_paused at 1 (and the age, lag and
// committed-offset series) for a partition the replica no longer owns.
func TestPartitionRevokedDuringOutageDeletesSeries(t *testing.T) {
	hwm := int64(100)
	h := newHarness(t, nil)
	h.p = pipeline.NewPartition(topic, part, h.s, pipeline.PartitionDeps{
		Uploader: h.up, Commit: h.com.Commit, Metrics: h.m, Spool: h.stat, Now: h.clk.Now,
		HighWatermark: func() int64 { return hwm },
	}, 0, pipeline.CommitState{})
	// A first object goes through: committed offset and lag are set.
	h.hit(0, "a", t0)
	h.hit(1, "b", t0+wms+60000) // closes the first window
	h.tick()
	if series(t, h.m.CommittedOffset) != 1 || series(t, h.m.Lag) != 1 || series(t, h.m.OldestOpenAge) != 1 {
		t.Fatalf("setup: committed %d, lag %d, age %d series", series(t, h.m.CommittedOffset), series(t, h.m.Lag), series(t, h.m.OldestOpenAge))
	}
	// S3 fails; the partition is revoked (its context ends) while it waits
	// to retry.
	h.mem.FailPuts = 1 << 30
	ctx, cancel := context.WithCancel(context.Background())
	paused := 0.0
	h.up.Sleep = func(context.Context, time.Duration) error {
		paused = metricValue(t, h.m.Paused)
		cancel()
		return context.Canceled
	}
	msgs := make(chan pipeline.Message, 1)
	msgs <- pipeline.Message{Offset: 2, Time: time.UnixMilli(t0), Value: hit("c", t0+2*wms+60000)}
	if err := h.p.Run(ctx, nil, msgs); err == nil {
		t.Fatal("Run: no error after the revoke")
	}
	if paused != 1 {
		t.Fatalf("paused during the outage = %v, want 1", paused)
	}
	for name, c := range map[string]prometheus.Collector{"paused": h.m.Paused, "age": h.m.OldestOpenAge, "lag": h.m.Lag, "committed": h.m.CommittedOffset} {
		if n := series(t, c); n != 0 {
			t.Errorf("%s: %d series left for the revoked partition", name, n)
		}
	}
}
