package cli

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hitexport/hitexport/config"
	"github.com/hitexport/hitexport/kafkaadmin"
	"github.com/hitexport/hitexport/pipeline"
	"github.com/hitexport/hitexport/store"
)

// CrashAtEnv names a merge step (pipeline.Step*) at which the process kills
// itself with SIGKILL the first time it gets there. TEST ONLY: the
// integration tests use it to stop the exporter in the middle of a merge;
// it is not a configuration setting and is never set in production.
const CrashAtEnv = "HITEXPORT_TEST_CRASH_AT"

// MergeMetrics registers the merger's counters (window layout) on reg.
func MergeMetrics(reg prometheus.Registerer, st *pipeline.MergeStats) {
	for _, c := range []struct {
		name, help string
		v          *atomic.Int64
	}{
		{"hitexport_merges_total", "Window-layout merges completed (a window's object or one late batch).", &st.Merges},
		{"hitexport_merge_objects_total", "Final objects written by merges.", &st.Objects},
		{"hitexport_merge_records_total", "Records written into final objects by merges.", &st.Records},
		{"hitexport_merge_parts_read_total", "Staged parts read by merges.", &st.PartsRead},
		{"hitexport_merge_read_bytes_total", "Stored bytes of staged parts read by merges.", &st.BytesRead},
		{"hitexport_merge_written_bytes_total", "Bytes written by merges (final objects, manifests, done records).", &st.BytesWritten},
		{"hitexport_merge_overlaps_total", "Staged parts of one partition overlapping without one containing the other that could not be resolved record by record (an offsets index missing): their common records may be in two objects.", &st.Overlaps},
		{"hitexport_merge_overlaps_resolved_total", "Staged parts of one partition overlapping without one containing the other, merged exactly with the offsets indexes.", &st.OverlapsResolved},
		{"hitexport_merge_records_deduplicated_total", "Records left out of final objects because another part or an earlier merge holds their offset.", &st.Deduplicated},
		{"hitexport_merge_records_expired_total", "Done records and offsets indexes removed after HITEXPORT_MERGED_RETENTION.", &st.Expired},
	} {
		v := c.v
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help}, func() float64 { return float64(v.Load()) }))
	}
}

// Merger builds the window layout's merger for the configuration (bucket
// already seen through the key prefix).
func Merger(cfg *config.Config, bucket store.Bucket, layout pipeline.Layout, log *slog.Logger) (*pipeline.Merger, error) {
	return mergerOf(cfg, bucket, layout, cfg.KafkaTopic, log)
}

// mergerOf is the merger of one bucket (an integration's, through its key
// prefix) and topic.
func mergerOf(cfg *config.Config, bucket store.Bucket, layout pipeline.Layout, topic string, log *slog.Logger) (*pipeline.Merger, error) {
	client, err := KafkaClient(cfg)
	if err != nil {
		return nil, err
	}
	m := &pipeline.Merger{
		Bucket: bucket, Layout: layout, Topic: topic, LateDelay: cfg.LateMaxAge,
		MaxObjectBytes: cfg.MaxObjectBytes, SpoolMemory: cfg.SpoolMemory, SpoolDir: cfg.SpoolDir,
		Interval: cfg.MergeInterval, MergedRetention: cfg.MergedRetention, Log: log.With("component", "merger"), Stats: &pipeline.MergeStats{},
		Partitions: func(ctx context.Context) (int, error) {
			ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			ps, err := kafkaadmin.Partitions(ctx, client, topic)
			return len(ps), err
		},
	}
	if step := os.Getenv(CrashAtEnv); step != "" {
		var once sync.Once
		m.Hook = func(s string) {
			if s == step {
				once.Do(func() {
					log.Warn("test hook: killing the process", "step", s)
					_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
					select {}
				})
			}
		}
	}
	return m, nil
}

// finalDeliveries are, per integration, the last final object its merger
// wrote (window layout): the integration's "last delivery" is the object the
// customer sees, not the staged part its partition workers uploaded.
type finalDeliveries struct {
	mu   sync.Mutex
	last map[string]pipeline.Delivery
}

func (f *finalDeliveries) set(id, key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last == nil {
		f.last = map[string]pipeline.Delivery{}
	}
	f.last[id] = pipeline.Delivery{Time: time.Now().UTC(), Key: key}
}

func (f *finalDeliveries) get(id string) (pipeline.Delivery, bool) {
	if f == nil {
		return pipeline.Delivery{}, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.last[id]
	return d, ok
}

// logFinals returns log with a handler that also passes the key of every
// final object the merger logs ("object uploaded") to f under id.
func (f *finalDeliveries) logFinals(log *slog.Logger, id string) *slog.Logger {
	return slog.New(finalTee{Handler: log.Handler(), fn: func(key string) { f.set(id, key) }})
}

// finalTee is a slog.Handler that hands the key of each "object uploaded"
// record to fn (whatever the level enabled) and passes every record on.
type finalTee struct {
	slog.Handler
	fn func(key string)
}

func (t finalTee) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || t.Handler.Enabled(ctx, l)
}

func (t finalTee) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "object uploaded" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "key" {
				t.fn(a.Value.String())
				return false
			}
			return true
		})
	}
	if !t.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return t.Handler.Handle(ctx, r)
}

func (t finalTee) WithAttrs(as []slog.Attr) slog.Handler {
	return finalTee{Handler: t.Handler.WithAttrs(as), fn: t.fn}
}

func (t finalTee) WithGroup(name string) slog.Handler {
	return finalTee{Handler: t.Handler.WithGroup(name), fn: t.fn}
}
