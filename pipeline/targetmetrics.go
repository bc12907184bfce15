package pipeline

import "github.com/prometheus/client_golang/prometheus"

// TargetMetrics are the per-target (integration) series, label
// `integration` = target id. Cardinality: targets × (6 + upload failure
// classes); a removed target's series are deleted.
type TargetMetrics struct {
	Objects      *prometheus.CounterVec // integration
	Delivered    *prometheus.CounterVec // integration: records in uploaded objects
	Failures     *prometheus.CounterVec // integration, class
	Lag          *prometheus.GaugeVec   // integration
	FailureRatio *prometheus.GaugeVec   // integration
	Parked       *prometheus.GaugeVec   // integration
	Failing      *prometheus.GaugeVec   // integration
	AutoDisabled *prometheus.CounterVec // integration
}

func newTargetMetrics(ns string) *TargetMetrics {
	return &TargetMetrics{
		Objects: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "integration_objects_uploaded_total",
			Help: "Objects uploaded, by integration."}, []string{"integration"}),
		Delivered: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "integration_records_delivered_total",
			Help: "Records in objects uploaded (or found already uploaded), by integration."}, []string{"integration"}),
		Failures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "integration_upload_failures_total",
			Help: "Failed upload attempts, by integration and error class."}, []string{"integration", "class"}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "integration_lag_records",
			Help: "High watermark minus the integration's committed offset, summed over this replica's partitions."}, []string{"integration"}),
		FailureRatio: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "integration_failure_ratio",
			Help: "Failed upload attempts / attempts within the failure window, by integration."}, []string{"integration"}),
		Parked: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "integration_parked",
			Help: "1 while the integration is detached from the shared read on some partition (catching up on its own)."}, []string{"integration"}),
		Failing: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "integration_failing",
			Help: "1 while the integration's last upload attempt failed."}, []string{"integration"}),
		AutoDisabled: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "integration_auto_disabled_total",
			Help: "Times the integration reached the failure threshold and was auto-disabled."}, []string{"integration"}),
	}
}

func (t *TargetMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{t.Objects, t.Delivered, t.Failures, t.Lag, t.FailureRatio, t.Parked, t.Failing, t.AutoDisabled}
}

func (m *Metrics) tm() *TargetMetrics {
	if m == nil {
		return nil
	}
	return m.Targets
}

func (m *Metrics) deleteTarget(id string) {
	t := m.tm()
	if t == nil {
		return
	}
	l := prometheus.Labels{"integration": id}
	t.Objects.DeletePartialMatch(l)
	t.Delivered.DeletePartialMatch(l)
	t.Failures.DeletePartialMatch(l)
	t.Lag.DeletePartialMatch(l)
	t.FailureRatio.DeletePartialMatch(l)
	t.Parked.DeletePartialMatch(l)
	t.Failing.DeletePartialMatch(l)
	// AutoDisabled stays: an auto-disable removes the target at once (the
	// registry disables it), and a counter deleted with it would be gone
	// before any scrape saw it. One series per integration ever
	// auto-disabled on this replica.
}

func (m *Metrics) targetFailure(id, class string) {
	if t := m.tm(); t != nil {
		t.Failures.WithLabelValues(id, class).Inc()
	}
}

func (m *Metrics) targetDelivered(id string, records int) {
	if t := m.tm(); t != nil {
		t.Objects.WithLabelValues(id).Inc()
		t.Delivered.WithLabelValues(id).Add(float64(records))
	}
}

func (m *Metrics) targetFailing(id string, on bool) {
	if t := m.tm(); t != nil {
		t.Failing.WithLabelValues(id).Set(b2f(on))
	}
}

func (m *Metrics) targetRatio(id string, r float64) {
	if t := m.tm(); t != nil {
		t.FailureRatio.WithLabelValues(id).Set(r)
	}
}

func (m *Metrics) targetAutoDisabled(id string) {
	if t := m.tm(); t != nil {
		t.AutoDisabled.WithLabelValues(id).Inc()
	}
}

func (m *Metrics) targetGauges(id string, parked bool, lag int64) {
	if t := m.tm(); t != nil {
		t.Parked.WithLabelValues(id).Set(b2f(parked))
		t.Lag.WithLabelValues(id).Set(float64(lag))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// consumedCounter is the records-read counter of partition part (counted
// once by the fanout however many targets receive the record).
func (g *Group) consumedCounter(part int) prometheus.Counter {
	if g.Metrics == nil {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "unregistered"})
	}
	return g.Metrics.Consumed.WithLabelValues(partLabel(part))
}

// partitionMetrics are the metrics a target's Partition writes: the shared
// ones, except that records read are counted by the fanout, and that the
// per-partition gauges (open objects, lag, committed offset, paused) are
// only the membership target's (env mode); other targets' go to private,
// unexported series (their state is in the per-integration series and
// TargetStatus; with several targets the fanout sets the partition's lag
// and committed offset to the membership commit, the slowest).
func (g *Group) partitionMetrics(t Target) *Metrics {
	if g.Metrics == nil {
		return nil
	}
	g.tmu.Lock()
	defer g.tmu.Unlock()
	if g.private == nil {
		g.private = NewMetrics(nil, g.Spool)
	}
	m := *g.Metrics
	m.Consumed = g.private.Consumed
	if t.Group != "" && t.Group != g.Kafka.Group {
		m.OpenObjects, m.OldestOpenAge, m.CommittedOffset = g.private.OpenObjects, g.private.OldestOpenAge, g.private.CommittedOffset
		m.Lag, m.Paused = g.private.Lag, g.private.Paused
	}
	return &m
}
