package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/verify"
)

// Load is a reproducible set of hits in a topic.
type Load struct {
	Topic      string        `json:"topic"`
	Hits       int           `json:"hits"`
	Partitions int           `json:"partitions"`
	Seed       uint64        `json:"seed"`
	Start      time.Time     `json:"event_time_start"`
	Span       time.Duration `json:"event_time_span_ns"`
	Jitter     time.Duration `json:"jitter_ns"`
	Late       float64       `json:"late_fraction"`
	Bad        float64       `json:"bad_fraction"`
	// Apps > 0: application_id uniformly from 1 to Apps (gen.Options.Applications).
	Apps int `json:"applications,omitempty"`
	// Filled by ensureTopic.
	Valid      int     `json:"valid_hits"`
	Bytes      int64   `json:"value_bytes"`
	AvgBytes   float64 `json:"avg_value_bytes"`
	ProduceSec float64 `json:"produce_seconds,omitempty"`
	Reused     bool    `json:"reused"`
}

// mainLoad is the load of the main table: BENCH_HITS hits over BENCH_SPAN of
// event time (1 h: six 10-minute windows per partition), ending well before
// the current window so that idleness closes the last window at once.
func mainLoad(e *Env) Load {
	end := time.Now().UTC().Truncate(10 * time.Minute).Add(-20 * time.Minute)
	return Load{
		Topic: fmt.Sprintf("hitbench-n%d-p%d-s%d-l%g-b%g-%s", e.Hits, e.Partitions, e.Seed, e.Late, e.Bad, e.Span),
		Hits:  e.Hits, Partitions: e.Partitions, Seed: e.Seed,
		Start: end.Add(-e.Span), Span: e.Span - time.Minute, Jitter: 30 * time.Second, Late: e.Late, Bad: e.Bad,
	}
}

// scaleLoad puts every hit into one 10-minute window (nine minutes of event
// time, no jitter, nothing late or bad).
func scaleLoad(e *Env, hits, parts int) Load {
	start := time.Now().UTC().Truncate(10 * time.Minute).Add(-30 * time.Minute)
	return Load{
		Topic: fmt.Sprintf("hitbench-scale-n%d-p%d-s%d", hits, parts, e.Seed),
		Hits:  hits, Partitions: parts, Seed: e.Seed,
		Start: start.Add(10 * time.Second), Span: 9 * time.Minute,
	}
}

const chunk = 50_000

// chunks generates the load in pieces of at most 50k records (bounded memory
// however large the load), each a pure function of the load and its index.
func (l Load) chunks(fn func([]gen.Record) error) error {
	n := (l.Hits + chunk - 1) / chunk
	for c := 0; c < n; c++ {
		count := chunk
		if c == n-1 {
			count = l.Hits - c*chunk
		}
		from := time.Duration(float64(l.Span) * float64(c*chunk) / float64(l.Hits))
		span := time.Duration(float64(l.Span) * float64(count) / float64(l.Hits))
		recs := gen.Generate(gen.Options{Seed: l.Seed*1_000_003 + uint64(c), Count: count, Start: l.Start.Add(from),
			Span: span, Jitter: l.Jitter, LateFraction: l.Late, LateBy: 15 * time.Minute, BadFraction: l.Bad,
			Applications: l.Apps})
		if err := fn(recs); err != nil {
			return err
		}
	}
	return nil
}

func kafkaClient(e *Env) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(e.Brokers), Timeout: 30 * time.Second}
}

// endOffsets returns the end offset of every partition of topic (nil when the
// topic does not exist).
func endOffsets(ctx context.Context, c *kafka.Client, topic string) (map[int]int64, error) {
	return verify.EndOffsets(ctx, c, topic)
}

// ensureTopic makes sure the topic holds exactly the load: it reuses a topic
// produced earlier (its marker file under .local/bench/topics and its end
// offsets agree), or deletes, creates and produces it.
func ensureTopic(e *Env, l Load) (Load, error) {
	ctx := context.Background()
	client := kafkaClient(e)
	marker := filepath.Join(e.Out, "topics", l.Topic+".json")
	if b, err := os.ReadFile(marker); err == nil && os.Getenv("BENCH_FRESH") != "1" {
		var old Load
		if json.Unmarshal(b, &old) == nil && old.Hits == l.Hits {
			ends, err := endOffsets(ctx, client, l.Topic)
			if err == nil && len(ends) == l.Partitions && sum(ends) == int64(l.Hits) {
				old.Reused = true
				logf("topic %s: reusing %d records (%.1f MB) produced earlier", l.Topic, old.Hits, float64(old.Bytes)/1e6)
				return old, nil
			}
		}
	}
	if _, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{l.Topic}}); err != nil {
		return l, fmt.Errorf("delete topic: %w", err)
	}
	var lastErr error
	for i := 0; i < 60; i++ { // a deleted topic takes a moment to go
		resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
			Topic: l.Topic, NumPartitions: l.Partitions, ReplicationFactor: 1,
			ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: "16777216"}},
		}}})
		if err == nil {
			err = resp.Errors[l.Topic]
		}
		if lastErr = err; err == nil {
			break
		}
		time.Sleep(time.Second)
	}
	if lastErr != nil {
		return l, fmt.Errorf("create topic %s: %w", l.Topic, lastErr)
	}
	logf("topic %s: producing %d hits over %d partitions…", l.Topic, l.Hits, l.Partitions)
	w := &kafka.Writer{Addr: kafka.TCP(e.Brokers), Topic: l.Topic, Balancer: &kafka.Hash{},
		BatchSize: 5000, BatchBytes: 32 << 20, BatchTimeout: 20 * time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	start := time.Now()
	msgs := make([]kafka.Message, 0, chunk)
	err := l.chunks(func(recs []gen.Record) error {
		msgs = msgs[:0]
		now := time.Now()
		for _, r := range recs {
			msgs = append(msgs, kafka.Message{Key: r.Key, Value: r.Value, Time: now})
			l.Bytes += int64(len(r.Value))
			if r.Expect.Valid {
				l.Valid++
			}
		}
		return w.WriteMessages(ctx, msgs...)
	})
	if err != nil {
		return l, fmt.Errorf("produce: %w", err)
	}
	l.ProduceSec = time.Since(start).Seconds()
	l.AvgBytes = float64(l.Bytes) / float64(l.Hits)
	ends, err := endOffsets(ctx, client, l.Topic)
	if err != nil {
		return l, err
	}
	if sum(ends) != int64(l.Hits) {
		return l, fmt.Errorf("topic %s holds %d records after producing %d", l.Topic, sum(ends), l.Hits)
	}
	logf("topic %s: %d records, %.1f MB of values (avg %.0f B) in %.1fs", l.Topic, l.Hits, float64(l.Bytes)/1e6, l.AvgBytes, l.ProduceSec)
	if err := os.MkdirAll(filepath.Dir(marker), 0o755); err != nil {
		return l, err
	}
	b, _ := json.MarshalIndent(l, "", "  ")
	return l, os.WriteFile(marker, b, 0o644)
}

func sum(m map[int]int64) int64 {
	var s int64
	for _, v := range m {
		s += v
	}
	return s
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[bench %s] "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
