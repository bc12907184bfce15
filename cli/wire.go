// Package cli holds the commands of hitexport (run, check, verify, replay,
// offsets), one file each, and the wiring they share (this file): the
// bucket, the object layout, the workers' settings and the Kafka connection
// built from a Config. cmd/hitexport only parses flags and calls it.
package cli

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hitexport/hitexport/config"
	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/hits"
	"github.com/hitexport/hitexport/kafkaadmin"
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

// Bucket builds the S3 bucket of the configuration, without the key prefix
// (hitgen creates and empties it).
func Bucket(cfg *config.Config) (*store.S3, error) {
	return store.NewS3(store.S3Options{
		Endpoint: cfg.S3Endpoint, Bucket: cfg.S3Bucket, AccessKey: cfg.S3AccessKey, SecretKey: cfg.S3SecretKey,
		Region: cfg.S3Region, TLS: cfg.S3TLS, CAFile: cfg.S3CAFile,
		SSE: cfg.S3SSE, SSEKMSKeyID: cfg.S3SSEKMSKeyID,
		Role: store.AssumeRole{RoleARN: cfg.S3RoleARN, ExternalID: cfg.S3ExternalID, SessionName: cfg.S3RoleSessionName,
			STSEndpoint: cfg.S3STSEndpoint},
	})
}

// ExportBucket is the bucket the exporter's objects are in: the S3 bucket
// seen through the key prefix (HITEXPORT_KEY_PREFIX).
func ExportBucket(cfg *config.Config) (store.Bucket, error) {
	b, err := Bucket(cfg)
	if err != nil {
		return nil, err
	}
	return store.WithPrefix(b, cfg.KeyPrefix), nil
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
	keys, err := pipeline.ParseKeyTemplate(cfg.KeyTemplate)
	if err != nil {
		return pipeline.Layout{}, fmt.Errorf("%sKEY_TEMPLATE: %w", config.Prefix, err)
	}
	// In env mode the one integration is "default" (its {integration}).
	return pipeline.Layout{Encoder: enc, Compression: comp, Window: cfg.Window, Keys: keys, Integration: "default"}, nil
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
		CommitInterval:  cfg.CommitInterval,
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
	Group *pipeline.Group
	// Merger runs beside the group in the window layout (nil otherwise).
	Merger   *pipeline.Merger
	Metrics  *pipeline.Metrics
	Health   *pipeline.Health
	Registry *prometheus.Registry
	// finals: the last final object of each integration's merger (window
	// layout), the integration's last delivery.
	finals *finalDeliveries
}

// Build wires a Group from the configuration.
func Build(cfg *config.Config, log *slog.Logger) (*Parts, error) {
	bucket, err := ExportBucket(cfg)
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
	up := &pipeline.Uploader{Bucket: bucket, Schedule: cfg.Retry, AttemptTimeout: 2 * time.Minute, Log: log, Metrics: m, Health: health}
	g := &pipeline.Group{
		Kafka: ko, Settings: Settings(cfg, layout), Uploader: up, Log: log, Metrics: m, Health: health,
		Spool: spool, ShutdownTimeout: cfg.ShutdownTimeout,
	}
	parts := &Parts{Group: g, Metrics: m, Health: health, Registry: reg, finals: &finalDeliveries{}}
	if cfg.Layout == string(pipeline.ObjectsWindow) {
		if parts.Merger, err = Merger(cfg, bucket, layout, parts.finals.logFinals(log, "default")); err != nil {
			return nil, err
		}
		g.Settings.Stager = &pipeline.Stager{Bucket: bucket, Poke: parts.Merger.Poke}
		MergeMetrics(reg, parts.Merger.Stats)
	}
	return parts, nil
}

// KafkaConn is how to reach the brokers of the configuration: brokers,
// client id, TLS and SASL.
func KafkaConn(cfg *config.Config) (kafkaadmin.Conn, error) {
	tlsCfg, mech, err := kafkaSecurity(cfg)
	if err != nil {
		return kafkaadmin.Conn{}, err
	}
	return kafkaadmin.Conn{Brokers: cfg.KafkaBrokers, ClientID: cfg.KafkaClientID, TLS: tlsCfg, SASL: mech}, nil
}

// KafkaOptions builds the Kafka options of the configuration: brokers, topic,
// group, fetch tuning, and the Dialer used by the consumer group and the
// partition readers and the Transport used by the admin client (offset fetch
// and commit, metadata, list offsets), both with the client id and, when
// configured, TLS and SASL.
func KafkaOptions(cfg *config.Config) (pipeline.KafkaOptions, error) {
	ko := pipeline.KafkaOptions{
		Brokers: cfg.KafkaBrokers, Topic: cfg.KafkaTopic, Group: cfg.KafkaGroup,
		MinBytes: cfg.KafkaMinBytes, MaxBytes: cfg.KafkaMaxBytes, MaxWait: cfg.KafkaMaxWait, Buffer: cfg.FetchBuffer,
		SessionTimeout: cfg.KafkaSessionTimeout,
	}
	conn, err := KafkaConn(cfg)
	if err != nil {
		return ko, err
	}
	ko.Dialer, ko.Transport = conn.Dialer(), conn.Transport()
	return ko, nil
}

// KafkaClient is the admin client of the configuration (client id, TLS and
// SASL included), for commands that read metadata, offsets and groups.
func KafkaClient(cfg *config.Config) (*kafka.Client, error) {
	conn, err := KafkaConn(cfg)
	if err != nil {
		return nil, err
	}
	return conn.Client(20 * time.Second), nil
}

// kafkaSecurity returns the TLS configuration (nil without KAFKA_TLS) and the
// SASL mechanism (nil for none). Errors name the variable; none contains a
// secret.
func kafkaSecurity(cfg *config.Config) (*tls.Config, sasl.Mechanism, error) {
	var tlsCfg *tls.Config
	if cfg.KafkaTLS {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.KafkaCAFile != "" {
			pem, err := os.ReadFile(cfg.KafkaCAFile)
			if err != nil {
				return nil, nil, fmt.Errorf("%sKAFKA_CA_FILE: %w", config.Prefix, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, nil, fmt.Errorf("%sKAFKA_CA_FILE: %s holds no PEM certificate", config.Prefix, cfg.KafkaCAFile)
			}
			tlsCfg.RootCAs = pool
		}
		if cfg.KafkaTLSCertFile != "" {
			pair, err := tls.LoadX509KeyPair(cfg.KafkaTLSCertFile, cfg.KafkaTLSKeyFile)
			if err != nil {
				return nil, nil, fmt.Errorf("%sKAFKA_TLS_CERT_FILE/KEY_FILE: %w", config.Prefix, err)
			}
			tlsCfg.Certificates = []tls.Certificate{pair}
		}
	}
	var mech sasl.Mechanism
	switch cfg.KafkaSASL {
	case config.SASLPlain:
		mech = plain.Mechanism{Username: cfg.KafkaSASLUsername, Password: cfg.KafkaSASLPassword}
	case config.SASLScramSHA256, config.SASLScramSHA512:
		algo := scram.SHA256
		if cfg.KafkaSASL == config.SASLScramSHA512 {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, cfg.KafkaSASLUsername, cfg.KafkaSASLPassword)
		if err != nil {
			// SASLprep refused the user name or password; say which
			// without echoing either.
			return nil, nil, fmt.Errorf("%sKAFKA_SASL_USERNAME/PASSWORD: not usable for %s (SASLprep: characters not allowed)", config.Prefix, cfg.KafkaSASL)
		}
		mech = m
	}
	return tlsCfg, mech, nil
}
