// Package app wires configuration into the pipeline: it builds the bucket,
// the Kafka options, the uploader and the group from a Config. cmd/hitexport
// only parses flags and calls it.
package app

import (
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hitexport/hitexport/config"
	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/hits"
	"github.com/hitexport/hitexport/pipeline"
	"github.com/hitexport/hitexport/store"
)

// NewLogger builds the slog logger the configuration asks for.
func NewLogger(cfg *config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}

// Bucket builds the S3 bucket of the configuration.
func Bucket(cfg *config.Config) (*store.S3, error) {
	return store.NewS3(store.S3Options{
		Endpoint: cfg.S3Endpoint, Bucket: cfg.S3Bucket, AccessKey: cfg.S3AccessKey, SecretKey: cfg.S3SecretKey,
		Region: cfg.S3Region, TLS: cfg.S3TLS, CAFile: cfg.S3CAFile,
	})
}

// Layout builds the object layout of the configuration.
func Layout(cfg *config.Config) (pipeline.Layout, error) {
	enc, err := encoders.New(cfg.Format)
	if err != nil {
		return pipeline.Layout{}, err
	}
	comp, err := encoders.ParseCompression(cfg.Compression)
	if err != nil {
		return pipeline.Layout{}, err
	}
	return pipeline.Layout{Encoder: enc, Compression: comp, Window: cfg.Window}, nil
}

// Settings builds the partition workers' settings.
func Settings(cfg *config.Config, l pipeline.Layout) *pipeline.Settings {
	return &pipeline.Settings{
		Layout:          l,
		AllowedLateness: cfg.AllowedLateness,
		IdleTimeout:     cfg.IdleTimeout,
		LateMaxAge:      cfg.LateMaxAge,
		Limits:          hits.Limits{MaxBytes: cfg.MaxRecordBytes, MaxFuture: cfg.MaxFuture},
		MaxObjectBytes:  cfg.MaxObjectBytes,
		MaxOpenObjects:  cfg.MaxOpenObjects,
		SpoolMemory:     cfg.SpoolMemory,
		SpoolDir:        cfg.SpoolDir,
		Tick:            tick(cfg.IdleTimeout),
	}
}

func tick(idle time.Duration) time.Duration {
	t := idle / 4
	if t > time.Second {
		t = time.Second
	}
	if t < 10*time.Millisecond {
		t = 10 * time.Millisecond
	}
	return t
}

// Parts are the pieces of a running exporter.
type Parts struct {
	Group    *pipeline.Group
	Metrics  *pipeline.Metrics
	Health   *pipeline.Health
	Registry *prometheus.Registry
}

// Build wires a Group from the configuration.
func Build(cfg *config.Config, log *slog.Logger) (*Parts, error) {
	bucket, err := Bucket(cfg)
	if err != nil {
		return nil, err
	}
	layout, err := Layout(cfg)
	if err != nil {
		return nil, err
	}
	ko, err := KafkaOptions(cfg)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	// Process and Go runtime metrics (RSS, heap, GC) beside the exporter's own.
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	spool := &pipeline.SpoolStats{}
	m := pipeline.NewMetrics(reg, spool)
	health := pipeline.NewHealth(cfg.FailureWindow, cfg.FailureThreshold, len(cfg.Retry[0]), nil)
	up := &pipeline.Uploader{Bucket: store.WithPrefix(bucket, cfg.KeyPrefix), Schedule: cfg.Retry, AttemptTimeout: 2 * time.Minute, Log: log, Metrics: m, Health: health}
	g := &pipeline.Group{
		Kafka: ko, Settings: Settings(cfg, layout), Uploader: up, Log: log, Metrics: m, Health: health,
		Spool: spool, ShutdownTimeout: cfg.ShutdownTimeout,
	}
	return &Parts{Group: g, Metrics: m, Health: health, Registry: reg}, nil
}
