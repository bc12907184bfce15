//go:build integration

package pipeline

// The read path against a real broker (HITEXPORT_KAFKA_BROKERS, default
// 127.0.0.1:9092), with the requests it sends counted on the client's side:
// the connFetcher must read what the topic holds, in order, with the Kafka
// timestamps, in few fetches, and resolve its start with one ListOffsets
// request (not two).

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// reqTap counts the Kafka requests written on the connections it dials, by
// api key (1 Fetch, 2 ListOffsets, 3 Metadata, 18 ApiVersions).
type reqTap struct {
	mu sync.Mutex
	n  map[int16]int
}

func (t *reqTap) count(k int16) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n[k]
}

func (t *reqTap) dialer() *kafka.Dialer {
	return &kafka.Dialer{Timeout: 10 * time.Second, DialFunc: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &reqTapConn{Conn: c, t: t}, nil
	}}
}

// reqTapConn follows the request framing (4-byte size, 2-byte api key, …)
// of what is written.
type reqTapConn struct {
	net.Conn
	t    *reqTap
	head []byte
	left int
}

func (c *reqTapConn) Write(p []byte) (int, error) {
	for q := p; len(q) > 0; {
		if c.left > 0 {
			n := min(c.left, len(q))
			c.left -= n
			q = q[n:]
			continue
		}
		n := min(6-len(c.head), len(q))
		c.head = append(c.head, q[:n]...)
		q = q[n:]
		if len(c.head) == 6 {
			c.t.mu.Lock()
			c.t.n[int16(binary.BigEndian.Uint16(c.head[4:6]))]++
			c.t.mu.Unlock()
			c.left = int(binary.BigEndian.Uint32(c.head[:4])) - 2
			c.head = c.head[:0]
		}
	}
	return c.Conn.Write(p)
}

func testBrokers() string {
	if b := os.Getenv("HITEXPORT_KAFKA_BROKERS"); b != "" {
		return strings.Split(b, ",")[0]
	}
	return "127.0.0.1:9092"
}

func newTestTopic(t *testing.T, brokers string) string {
	return newTestTopicN(t, brokers, 1)
}

func newTestTopicN(t *testing.T, brokers string, partitions int) string {
	t.Helper()
	topic := fmt.Sprintf("readpath-%d", time.Now().UnixNano())
	c := &kafka.Client{Addr: kafka.TCP(brokers), Timeout: 30 * time.Second}
	ctx := context.Background()
	resp, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1}}})
	if err == nil {
		err = resp.Errors[topic]
	}
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	t.Cleanup(func() { c.DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: []string{topic}}) })
	return topic
}

func produceN(t *testing.T, brokers, topic string, from, n int) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers), Topic: topic, BatchSize: 1000, BatchTimeout: 10 * time.Millisecond,
		RequiredAcks: kafka.RequireAll, AllowAutoTopicCreation: false}
	defer w.Close()
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Value: []byte(fmt.Sprintf("%08d %s", from+i, strings.Repeat("x", 500)))}
	}
	var err error
	for attempt := 0; attempt < 20; attempt++ { // a new topic's leader takes a moment
		if err = w.WriteMessages(context.Background(), msgs...); err == nil {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("produce: %v", err)
}

func TestConnFetcherReadsWithFewRequests(t *testing.T) {
	brokers := testBrokers()
	topic := newTestTopic(t, brokers)
	const n = 2000
	produceN(t, brokers, topic, 0, n)
	tap := &reqTap{n: map[int16]int{}}
	ko := KafkaOptions{Brokers: []string{brokers}, Topic: topic, Dialer: tap.dialer(),
		MinBytes: 64 << 10, MaxBytes: 16 << 20, MaxWait: 250 * time.Millisecond}
	f := newConnFetcher(ko, 0, kafka.FirstOffset, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	buf := make([]Message, chunkRecords)
	next := int64(0)
	for next < n {
		got, err := f.Read(ctx, buf)
		if err != nil {
			t.Fatalf("read at %d: %v", next, err)
		}
		for _, m := range buf[:got] {
			if m.Offset != next {
				t.Fatalf("offset %d, want %d", m.Offset, next)
			}
			if want := fmt.Sprintf("%08d ", next); !strings.HasPrefix(string(m.Value), want) {
				t.Fatalf("offset %d: value %.20q, want it to start with %q", next, m.Value, want)
			}
			if m.Time.IsZero() || time.Since(m.Time) > time.Hour {
				t.Fatalf("offset %d: Kafka timestamp %v", next, m.Time)
			}
			next++
		}
	}
	if f.Offset() != n || f.HighWatermark() != n {
		t.Fatalf("offset %d, high watermark %d; want %d and %d", f.Offset(), f.HighWatermark(), n, n)
	}
	// ~1 MB fits one fetch of MaxBytes 16 MiB; a second one at most if the
	// broker cut the first short.
	if lo, fe := tap.count(2), tap.count(1); lo != 1 || fe < 1 || fe > 2 {
		t.Fatalf("ListOffsets %d (want 1), Fetch %d (want 1 or 2) for %d records", lo, fe, n)
	}

	// From the end: nothing until new records come, then exactly those.
	tap2 := &reqTap{n: map[int16]int{}}
	ko.Dialer = tap2.dialer()
	g := newConnFetcher(ko, 0, kafka.LastOffset, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	defer g.Close()
	start := time.Now()
	if got, err := g.Read(ctx, buf); err != nil || got != 0 {
		t.Fatalf("read at the end: %d records, %v; want 0 and no error", got, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("an empty read took %s (MaxWait 250ms)", d)
	}
	if g.Offset() != n {
		t.Fatalf("start at the end: offset %d, want %d", g.Offset(), n)
	}
	produceN(t, brokers, topic, n, 10)
	var tail []int64
	for len(tail) < 10 {
		got, err := g.Read(ctx, buf)
		if err != nil {
			t.Fatalf("read the new records: %v (have %v)", err, tail)
		}
		for _, m := range buf[:got] {
			tail = append(tail, m.Offset)
		}
	}
	for i, o := range tail {
		if o != int64(n+i) {
			t.Fatalf("new records at %v, want %d..%d", tail, n, n+9)
		}
	}
	if lo := tap2.count(2); lo != 1 {
		t.Fatalf("ListOffsets %d from the end, want 1", lo)
	}
}

// The partitions of a topic connect to their leaders with one Metadata
// request between them (the leaders cached for leaderTTL), not one each
// through a connection of its own to a bootstrap broker; a dropped
// connection looks up afresh.
func TestConnFetcherOneLookupForTheTopic(t *testing.T) {
	brokers := testBrokers()
	const parts = 3
	topic := newTestTopicN(t, brokers, parts)
	produceN(t, brokers, topic, 0, 300) // spread over the partitions
	tap := &reqTap{n: map[int16]int{}}
	ko := KafkaOptions{Brokers: []string{brokers}, Topic: topic, Dialer: tap.dialer(),
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 250 * time.Millisecond}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	buf := make([]Message, chunkRecords)
	var fs []*connFetcher
	total := 0
	for id := 0; id < parts; id++ {
		f := newConnFetcher(ko, id, kafka.FirstOffset, log)
		defer f.Close()
		fs = append(fs, f)
		for f.HighWatermark() < 0 || f.Offset() < f.HighWatermark() {
			n, err := f.Read(ctx, buf)
			if err != nil {
				t.Fatalf("partition %d: %v", id, err)
			}
			total += n
		}
	}
	if total != 300 {
		t.Fatalf("read %d records, want 300", total)
	}
	// One lookup (Metadata) on one bootstrap connection, then one ApiVersions
	// per leader connection: 1 + parts (kafka-go's DialLeader per partition:
	// parts Metadata and 2×parts ApiVersions).
	if md, av := tap.count(3), tap.count(18); md != 1 || av != 1+parts {
		t.Fatalf("Metadata %d, ApiVersions %d for %d partitions; want 1 and %d", md, av, parts, 1+parts)
	}
	// A dropped connection forgets the cached leaders: the reconnect looks up.
	f := fs[0]
	f.drop(f.current())
	produceN(t, brokers, topic, 300, 30)
	for {
		if _, err := f.Read(ctx, buf); err != nil {
			t.Fatal(err)
		}
		if f.Offset() >= f.HighWatermark() && f.current() != nil {
			break
		}
	}
	if md := tap.count(3); md != 2 {
		t.Fatalf("Metadata %d after a dropped connection, want 2", md)
	}
}
