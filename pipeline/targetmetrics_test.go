package pipeline

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// An auto-disable removes the target at once (the registry disables it):
// its auto-disable counter must outlive the target's other series, or no
// scrape would ever see it.
func TestTargetMetricsAutoDisabledOutlivesTheTarget(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry(), nil)
	m.targetDelivered("itg-a", 10)
	m.targetFailing("itg-a", true)
	m.targetAutoDisabled("itg-a")
	m.deleteTarget("itg-a")
	if n := testutil.CollectAndCount(m.Targets.Objects); n != 0 {
		t.Fatalf("objects series after removal: %d", n)
	}
	if n := testutil.CollectAndCount(m.Targets.Failing); n != 0 {
		t.Fatalf("failing series after removal: %d", n)
	}
	if v := testutil.ToFloat64(m.Targets.AutoDisabled.WithLabelValues("itg-a")); v != 1 {
		t.Fatalf("auto-disabled counter after removal: %v, want 1", v)
	}
}
