package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/hitexport/hitexport/config"
)

// limitResult is what the limit child prints on stdout.
type limitResult struct {
	Records int64 `json:"records"`
	Bytes   int64 `json:"bytes"`
	// Unix nanoseconds: readers created, first record, last record.
	StartNs int64 `json:"start_ns"`
	FirstNs int64 `json:"first_ns"`
	DoneNs  int64 `json:"done_ns"`
	// HWMKiB is the reader's own VmHWM at the end.
	HWMKiB int64 `json:"vm_hwm_kib"`
	// Fetches: fetch requests of the Readers (kafka-go ReaderStats.Fetches);
	// Segments: TCP data segments the process sent to the broker's port
	// (sentSegments), taken before the Readers close; -1: unknown.
	Fetches  int64 `json:"fetches"`
	Segments int64 `json:"sent_segments"`
}

// exporterDefaults are the fetch settings of the exporter: config's defaults.
func exporterDefaults() (*config.Config, error) {
	return config.Parse(map[string]string{"HITEXPORT_S3_ACCESS_KEY": "x", "HITEXPORT_S3_SECRET_KEY": "x"})
}

// cmdLimit reads every partition of a topic from the start to its end offset
// with one kafka-go Reader per partition, configured as the exporter's
// pipeline.ReadPartition configures its Readers, and does nothing with the
// records. It runs as a child of "hitbench run" so that its CPU time and
// peak RSS are its own.
func cmdLimit(args []string) error {
	fs := flag.NewFlagSet("limit", flag.ExitOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "")
	topic := fs.String("topic", "", "")
	_ = fs.Parse(args)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	res, err := readLimit(ctx, *brokers, *topic, nil)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// readLimit reads every partition of topic from the start to its end offset
// with one kafka-go Reader per partition (through dialer; nil: kafka-go's
// default) and does nothing with the records.
func readLimit(ctx context.Context, brokers, topic string, dialer *kafka.Dialer) (limitResult, error) {
	cfg, err := exporterDefaults()
	if err != nil {
		return limitResult{}, err
	}
	ends, err := endOffsets(ctx, &kafka.Client{Addr: kafka.TCP(brokers), Timeout: 30 * time.Second}, topic)
	if err != nil {
		return limitResult{}, err
	}
	var res limitResult
	var first atomic.Int64
	res.StartNs = time.Now().UnixNano()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	var readers []*kafka.Reader
	for p, end := range ends {
		if end <= 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: []string{brokers}, Topic: topic, Partition: p, Dialer: dialer,
			MinBytes: cfg.KafkaMinBytes, MaxBytes: cfg.KafkaMaxBytes, MaxWait: cfg.KafkaMaxWait,
			QueueCapacity: cfg.FetchBuffer, ReadBackoffMin: 100 * time.Millisecond, ReadBackoffMax: 2 * time.Second,
			MaxAttempts: 3,
		})
		readers = append(readers, r)
		wg.Add(1)
		go func(r *kafka.Reader, p int, end int64) {
			defer wg.Done()
			var n, b int64
			defer func() {
				mu.Lock()
				res.Records += n
				res.Bytes += b
				mu.Unlock()
			}()
			if err := r.SetOffset(kafka.FirstOffset); err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
				return
			}
			for {
				m, err := r.FetchMessage(ctx)
				if err != nil {
					mu.Lock()
					firstErr = fmt.Errorf("partition %d: %w", p, err)
					mu.Unlock()
					return
				}
				if n == 0 {
					first.CompareAndSwap(0, time.Now().UnixNano())
				}
				n++
				b += int64(len(m.Value))
				if m.Offset+1 >= end {
					return
				}
			}
		}(r, p, end)
	}
	wg.Wait()
	res.DoneNs = time.Now().UnixNano()
	// The connections are still open: count what was sent on them.
	res.Segments = sentSegments(os.Getpid(), brokerPort(brokers))
	for _, r := range readers {
		res.Fetches += r.Stats().Fetches
		r.Close()
	}
	res.FirstNs = first.Load()
	res.HWMKiB = vmHWM(os.Getpid())
	return res, firstErr
}
