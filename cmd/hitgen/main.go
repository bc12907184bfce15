// Command hitgen is the development tool behind the demo, the tests and the
// benchmarks: it (re)creates a topic and a bucket, and produces realistic
// hits to Kafka while writing the manifest that "hitexport verify" compares
// the bucket with.
//
//	hitgen setup   [-reset] [-partitions 4]            uses HITEXPORT_KAFKA_*, HITEXPORT_S3_*
//	hitgen produce [-count N] [-seed S] [-manifest F]  [-span 1h] [-late 0.02] [-bad 0.01] [-payload 0]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/hitexport/hitexport/cli"
	"github.com/hitexport/hitexport/config"
	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/store"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: hitgen setup|produce [flags]")
		os.Exit(2)
	}
	cfg, err := config.Parse(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hitgen: invalid configuration: "+err.Error())
		os.Exit(2)
	}
	switch os.Args[1] {
	case "setup":
		err = setup(cfg, os.Args[2:])
	case "produce":
		err = produce(cfg, os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hitgen:", err)
		os.Exit(1)
	}
}

func setup(cfg *config.Config, args []string) error {
	fs := flag.NewFlagSet("setup", flag.ExitOnError)
	reset := fs.Bool("reset", false, "delete the topic and empty the bucket first")
	parts := fs.Int("partitions", 4, "partitions of the topic")
	_ = fs.Parse(args)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client, err := cli.KafkaClient(cfg)
	if err != nil {
		return err
	}
	if *reset {
		if _, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{cfg.KafkaTopic}}); err != nil {
			return fmt.Errorf("delete topic: %w", err)
		}
	}
	var lastErr error
	for i := 0; i < 30; i++ { // a deleted topic takes a moment to go
		resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
			Topic: cfg.KafkaTopic, NumPartitions: *parts, ReplicationFactor: 1,
			ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: "16777216"}},
		}}})
		if err == nil {
			err = resp.Errors[cfg.KafkaTopic]
		}
		if err == nil || (!*reset && isExists(err)) {
			lastErr = nil
			break
		}
		lastErr = err
		time.Sleep(time.Second)
	}
	if lastErr != nil {
		return fmt.Errorf("create topic %s: %w", cfg.KafkaTopic, lastErr)
	}
	b, err := cli.Bucket(cfg)
	if err != nil {
		return err
	}
	if err := b.MakeBucket(ctx); err != nil {
		return fmt.Errorf("make bucket: %w", err)
	}
	if *reset {
		var keys []string
		if err := b.List(ctx, "", func(o store.ObjectInfo) error { keys = append(keys, o.Key); return nil }); err != nil {
			return err
		}
		for _, k := range keys {
			if err := b.Delete(ctx, k); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(os.Stderr, "topic %s (%d partitions) and bucket %s ready\n", cfg.KafkaTopic, *parts, cfg.S3Bucket)
	return nil
}

func isExists(err error) bool {
	return err != nil && (err == kafka.TopicAlreadyExists || fmt.Sprint(err) == kafka.TopicAlreadyExists.Error())
}

func produce(cfg *config.Config, args []string) error {
	fs := flag.NewFlagSet("produce", flag.ExitOnError)
	count := fs.Int("count", 5000, "records to produce")
	seed := fs.Uint64("seed", 1, "random seed (same seed, same records)")
	manifest := fs.String("manifest", "", "append the manifest (NDJSON) to this file")
	span := fs.Duration("span", time.Hour, "event times spread over this span, ending before the current window")
	late := fs.Float64("late", 0.02, "fraction of late hits (15 min behind)")
	bad := fs.Float64("bad", 0.01, "fraction of malformed records")
	payload := fs.Int("payload", 0, "pad payloads to this many bytes")
	_ = fs.Parse(args)

	end := time.Now().Add(-cfg.AllowedLateness).Truncate(cfg.Window)
	recs := gen.Generate(gen.Options{Seed: *seed, Count: *count, Start: end.Add(-*span), Span: *span - time.Minute,
		Jitter: 30 * time.Second, LateFraction: *late, LateBy: 15 * time.Minute, BadFraction: *bad, PayloadBytes: *payload})
	conn, err := cli.KafkaConn(cfg)
	if err != nil {
		return err
	}
	w := &kafka.Writer{Addr: kafka.TCP(cfg.KafkaBrokers...), Topic: cfg.KafkaTopic, Transport: conn.Transport(), Balancer: &kafka.Hash{},
		BatchSize: 1000, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll, BatchBytes: 32 << 20}
	defer w.Close()
	ctx := context.Background()
	start := time.Now()
	batch := make([]kafka.Message, 0, 1000)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := w.WriteMessages(ctx, batch...)
		batch = batch[:0]
		return err
	}
	for _, r := range recs {
		batch = append(batch, kafka.Message{Key: r.Key, Value: r.Value, Time: time.Now()})
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if *manifest != "" {
		f, err := os.OpenFile(*manifest, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		bw := bufio.NewWriter(f)
		enc := json.NewEncoder(bw)
		for _, r := range recs {
			if err := enc.Encode(r.Expect); err != nil {
				return err
			}
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "produced %d records to %s in %s\n", len(recs), cfg.KafkaTopic, time.Since(start).Round(time.Millisecond))
	return nil
}
