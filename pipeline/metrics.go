package pipeline

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hitexport/hitexport/hits"
)

// Metrics are the exporter's Prometheus metrics. One value is made per
// process and registered with the Registerer it is given (no globals).
type Metrics struct {
	Consumed        *prometheus.CounterVec // partition
	Rejected        *prometheus.CounterVec // reason
	Late            prometheus.Counter     //
	Skipped         prometheus.Counter     // re-read records already in the bucket
	OpenObjects     *prometheus.GaugeVec   // partition
	OldestOpenAge   *prometheus.GaugeVec   // partition
	Objects         *prometheus.CounterVec // format, kind
	Bytes           *prometheus.CounterVec // format
	UploadSeconds   prometheus.Histogram   //
	UploadRetries   prometheus.Counter     //
	UploadFailures  *prometheus.CounterVec // class: retryable|permanent
	Superseded      prometheus.Counter     // writes skipped: the bucket held a superset
	CommittedOffset *prometheus.GaugeVec   // partition
	Lag             *prometheus.GaugeVec   // partition
	Paused          *prometheus.GaugeVec   // partition: 1 while uploads of the partition fail
	Degraded        prometheus.Gauge       //
	Assigned        prometheus.Gauge       //
	Rebalances      prometheus.Counter     //
	Commits         *prometheus.CounterVec // result
	Targets         *TargetMetrics         // per integration
	spool           *SpoolStats            //
	collectors      []prometheus.Collector //
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered, for tests).
func NewMetrics(reg prometheus.Registerer, spool *SpoolStats) *Metrics {
	ns := "hitexport"
	m := &Metrics{
		Consumed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "records_consumed_total",
			Help: "Records read from Kafka."}, []string{"partition"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "records_rejected_total",
			Help: "Records that are not valid hits, by reason; each is written to a rejected object."}, []string{"reason"}),
		Late: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "records_late_total",
			Help: "Hits that arrived after their window closed; written to a further object of their window."}),
		Skipped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "records_skipped_total",
			Help: "Records read again after a restart or rebalance that were already in the bucket."}),
		OpenObjects: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "open_objects",
			Help: "Objects being built (open windows, late and rejected batches), by partition."}, []string{"partition"}),
		OldestOpenAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "oldest_open_object_age_seconds",
			Help: "Wall-clock age of the oldest object being built, by partition."}, []string{"partition"}),
		Objects: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "objects_uploaded_total",
			Help: "Objects uploaded, by format and kind."}, []string{"format", "kind"}),
		Bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "bytes_uploaded_total",
			Help: "Bytes uploaded (after compression), by format."}, []string{"format"}),
		UploadSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "upload_duration_seconds",
			Help: "Duration of successful object uploads.", Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12)}),
		UploadRetries: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "upload_retries_total",
			Help: "Upload attempts that were retries of a failed attempt."}),
		UploadFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "upload_failures_total",
			Help: "Failed upload attempts, by class (retryable, permanent)."}, []string{"class"}),
		Superseded: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "uploads_superseded_total",
			Help: "Writes skipped because the bucket already held the same key with as many or more records."}),
		CommittedOffset: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "committed_offset",
			Help: "Last offset committed, by partition."}, []string{"partition"}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "lag_records",
			Help: "High watermark minus committed offset, by partition."}, []string{"partition"}),
		Paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "partition_paused",
			Help: "1 while a partition's consumption is paused by failing uploads."}, []string{"partition"}),
		Degraded: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "degraded",
			Help: "1 when upload failures passed the threshold within the failure window."}),
		Assigned: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "assigned_partitions",
			Help: "Partitions assigned to this replica."}),
		Rebalances: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "generations_total",
			Help: "Consumer group generations joined."}),
		Commits: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "commits_total",
			Help: "Offset commits, by result."}, []string{"result"}),
		spool: spool,
	}
	if spool == nil {
		m.spool = &SpoolStats{}
	}
	spoolMem := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "spool_bytes",
		Help: "Bytes held by spools of objects being built.", ConstLabels: prometheus.Labels{"where": "memory"}},
		func() float64 { return float64(m.spool.Memory.Load()) })
	spoolDisk := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "spool_bytes",
		Help: "Bytes held by spools of objects being built.", ConstLabels: prometheus.Labels{"where": "disk"}},
		func() float64 { return float64(m.spool.Disk.Load()) })
	m.collectors = []prometheus.Collector{m.Consumed, m.Rejected, m.Late, m.Skipped, m.OpenObjects, m.OldestOpenAge,
		m.Objects, m.Bytes, m.UploadSeconds, m.UploadRetries, m.UploadFailures, m.Superseded, m.CommittedOffset,
		m.Lag, m.Paused, m.Degraded, m.Assigned, m.Rebalances, m.Commits, spoolMem, spoolDisk}
	m.Targets = newTargetMetrics(ns)
	m.collectors = append(m.collectors, m.Targets.collectors()...)
	for _, r := range hits.Reasons {
		m.Rejected.WithLabelValues(string(r))
	}
	m.UploadFailures.WithLabelValues("retryable")
	m.UploadFailures.WithLabelValues("permanent")
	if reg != nil {
		for _, c := range m.collectors {
			reg.MustRegister(c)
		}
	}
	return m
}

func partLabel(p int) string { return strconv.Itoa(p) }
