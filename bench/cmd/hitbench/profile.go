package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/hitexport/hitexport/cli"
	"github.com/hitexport/hitexport/config"
	"github.com/hitexport/hitexport/store"
	"github.com/hitexport/hitexport/verify"
)

// cmdProfile runs the exporter in process (cli.Build, the same wiring as
// "hitexport run") over the main load with a CPU profile, until its group has
// committed every offset:
//
//	BENCH_HITS=200000 bin/hitbench profile ndjson/zstd /tmp/cpu.pprof
//	go tool pprof -top bin/hitbench /tmp/cpu.pprof
func cmdProfile(e *Env, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: hitbench profile FORMAT/COMPRESSION OUT.pprof")
	}
	c := parseCases(args[0])[0]
	l, err := ensureTopic(e, mainLoad(e))
	if err != nil {
		return err
	}
	name := fmt.Sprintf("%s-profile-%s-%s", e.RunID, c.Format, c.Compression)
	cfg, err := config.Parse(map[string]string{
		"HITEXPORT_KAFKA_BROKERS": e.Brokers, "HITEXPORT_KAFKA_TOPIC": l.Topic, "HITEXPORT_KAFKA_GROUP": "hitbench-" + name,
		"HITEXPORT_S3_ENDPOINT": e.S3Endpoint, "HITEXPORT_S3_BUCKET": e.Bucket, "HITEXPORT_S3_ACCESS_KEY": e.AccessKey,
		"HITEXPORT_S3_SECRET_KEY": e.SecretKey, "HITEXPORT_FORMAT": c.Format, "HITEXPORT_COMPRESSION": c.Compression,
		"HITEXPORT_KEY_PREFIX": "hitbench/" + name + "/", "HITEXPORT_IDLE_TIMEOUT": e.IdleTimeout.String(),
		"HITEXPORT_LOG_LEVEL": "warn", "HITEXPORT_LAYOUT": "partition",
	})
	if err != nil {
		return err
	}
	parts, err := cli.Build(cfg, cli.NewLogger(cfg))
	if err != nil {
		return err
	}
	f, err := os.Create(args[1])
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	// A heap profile at the highest heap seen (BENCH_HEAP_PROFILE=FILE).
	heapDone := make(chan struct{})
	defer close(heapDone)
	if hp := os.Getenv("BENCH_HEAP_PROFILE"); hp != "" {
		go func() {
			var peak uint64
			for {
				select {
				case <-heapDone:
					return
				case <-time.After(100 * time.Millisecond):
				}
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak {
					peak = ms.HeapInuse
					if hf, err := os.Create(hp); err == nil {
						_ = pprof.Lookup("heap").WriteTo(hf, 0)
						hf.Close()
					}
				}
			}
		}()
	}
	stop := make(chan struct{})
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- parts.Group.Run(stop) }()
	ctx, cancel := context.WithTimeout(context.Background(), e.Timeout)
	defer cancel()
	client := kafkaClient(e)
	for {
		offs, err := verify.Offsets(ctx, client, cfg.KafkaGroup, l.Topic)
		if err != nil {
			return err
		}
		all := true
		for _, o := range offs {
			all = all && o.Committed == o.End
		}
		if all {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	elapsed := time.Since(start)
	pprof.StopCPUProfile()
	close(stop)
	<-done
	logf("profile of %s over %d hits: %.1fs wall (incl. the %s idle wait) → %s", c, l.Hits, elapsed.Seconds(), e.IdleTimeout, args[1])
	b, err := e.bucket()
	if err != nil {
		return err
	}
	var keys []string
	if err := b.List(ctx, "hitbench/"+name+"/", func(o store.ObjectInfo) error { keys = append(keys, o.Key); return nil }); err != nil {
		return err
	}
	return e.cleanup(b, keys)
}
