package main

import (
	"context"
	"fmt"
	"time"
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
	cfg, parts, prefix, err := buildInProcess(e, l, c, "profile")
	if err != nil {
		return err
	}
	stopProfiles, err := startProfiles(args[1])
	if err != nil {
		return err
	}
	defer stopProfiles()
	stop := make(chan struct{})
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- parts.Group.Run(stop) }()
	ctx, cancel := context.WithTimeout(context.Background(), e.Timeout)
	defer cancel()
	client := kafkaClient(e)
	if err := waitAllCommitted(ctx, client, cfg.KafkaGroup, l.Topic, 100*time.Millisecond, nil); err != nil {
		return err
	}
	elapsed := time.Since(start)
	stopProfiles()
	close(stop)
	<-done
	logf("profile of %s over %d hits: %.1fs wall (incl. the %s idle wait) → %s", c, l.Hits, elapsed.Seconds(), e.IdleTimeout, args[1])
	return cleanupPrefix(e, prefix)
}
