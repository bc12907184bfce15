package cli

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

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

// Merger builds the window layout's merger for the configuration (bucket
// already seen through the key prefix).
func Merger(cfg *config.Config, bucket store.Bucket, layout pipeline.Layout, log *slog.Logger) (*pipeline.Merger, error) {
	client, err := KafkaClient(cfg)
	if err != nil {
		return nil, err
	}
	topic := cfg.KafkaTopic
	m := &pipeline.Merger{
		Bucket: bucket, Layout: layout, Topic: topic, LateDelay: cfg.LateMaxAge,
		MaxObjectBytes: cfg.MaxObjectBytes, SpoolMemory: cfg.SpoolMemory, SpoolDir: cfg.SpoolDir,
		Interval: cfg.MergeInterval, Log: log.With("component", "merger"),
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
