//go:build integration

package itest

// The data plane of integrations on real Kafka and the real S3 server,
// through the pipeline API directly (the admin API and registry are wired by
// the integrator): one membership group, three targets with their own
// buckets, consumer groups, selectors and formats over one topic, read once.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/segmentio/kafka-go"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/hits"
	"github.com/hitexport/hitexport/pipeline"
	"github.com/hitexport/hitexport/store"
)

const itgBrokers = "127.0.0.1:9092"

type itgTarget struct {
	id     string
	apps   []int // nil: every hit
	comp   encoders.Compression
	bucket *store.S3
	group  string
}

func itgCreateTopic(t *testing.T, topic string, parts int) {
	t.Helper()
	conn, err := kafka.Dial("tcp", itgBrokers)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		t.Fatal(err)
	}
	cc, err := kafka.Dial("tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if err := cc.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: parts, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
}

// itgProduce writes hits from..to-1 (application seq%3+1, event time seq
// seconds after base, two hours ago: windows close as soon as a partition is
// idle), spread over the partitions by key.
func itgProduce(t *testing.T, topic string, from, to int, base time.Time) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(itgBrokers), Topic: topic, Balancer: &kafka.Hash{}, BatchSize: 500, BatchTimeout: 10 * time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	var msgs []kafka.Message
	for i := from; i < to; i++ {
		v := fmt.Sprintf(`{"time":"%d","application_id":%d,"seq":%d,"domain":"d%d.example"}`, base.Unix()+int64(i), i%3+1, i, i%7)
		msgs = append(msgs, kafka.Message{Key: []byte(strconv.Itoa(i)), Value: []byte(v)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

// itgSeqs reads every hit object of the bucket: seq -> times seen.
func itgSeqs(ctx context.Context, b *store.S3) (map[int]int, error) {
	out := map[int]int{}
	var keys []string
	if err := b.List(ctx, "", func(o store.ObjectInfo) error { keys = append(keys, o.Key); return nil }); err != nil {
		return nil, err
	}
	for _, k := range keys {
		if strings.Contains(k, "rejected/") {
			continue
		}
		rc, err := b.Get(ctx, k)
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		var r io.Reader = bytes.NewReader(data)
		switch {
		case strings.HasSuffix(k, ".gz"):
			if r, err = gzip.NewReader(r); err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
		case strings.HasSuffix(k, ".zst"):
			d, err := zstd.NewReader(r)
			if err != nil {
				return nil, err
			}
			defer d.Close()
			r = d
		}
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var h struct {
				Seq int `json:"seq"`
			}
			if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[h.Seq]++
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
	}
	return out, nil
}

func itgWant(to int, apps []int) map[int]bool {
	w := map[int]bool{}
	for i := 0; i < to; i++ {
		if apps == nil {
			w[i] = true
			continue
		}
		for _, a := range apps {
			if i%3+1 == a {
				w[i] = true
			}
		}
	}
	return w
}

func itgExact(got map[int]int, want map[int]bool) error {
	missing, dup, extra := 0, 0, 0
	for s := range want {
		switch {
		case got[s] == 0:
			missing++
		case got[s] > 1:
			dup++
		}
	}
	for s := range got {
		if !want[s] {
			extra++
		}
	}
	if missing+dup+extra > 0 {
		return fmt.Errorf("missing %d, duplicated %d, not selected %d (of %d)", missing, dup, extra, len(want))
	}
	return nil
}

func itgSelector(ts []*itgTarget) pipeline.Selector {
	return func(raw []byte, dst []bool) {
		var h struct {
			App int `json:"application_id"`
		}
		_ = json.Unmarshal(raw, &h)
		for i, tg := range ts {
			if tg.apps == nil {
				dst[i] = true
				continue
			}
			for _, a := range tg.apps {
				if a == h.App {
					dst[i] = true
				}
			}
		}
	}
}

// itgGroup builds a membership with the three targets (fresh values each
// time, as a restarted process would).
func itgGroup(t *testing.T, topic, member string, ts []*itgTarget) *pipeline.Group {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m := pipeline.NewMetrics(nil, nil)
	g := &pipeline.Group{
		Kafka: pipeline.KafkaOptions{Brokers: []string{itgBrokers}, Topic: topic, Group: member,
			MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 200 * time.Millisecond, Buffer: 1000, SessionTimeout: 10 * time.Second},
		Log: log, Metrics: m, Health: pipeline.NewHealth(time.Minute, 0.6, 3, nil), ShutdownTimeout: 20 * time.Second,
		Spool: &pipeline.SpoolStats{},
	}
	var targets []pipeline.Target
	for _, tg := range ts {
		enc, err := encoders.New("ndjson")
		if err != nil {
			t.Fatal(err)
		}
		s := &pipeline.Settings{
			Layout:      pipeline.Layout{Encoder: enc, Compression: tg.comp, Window: 10 * time.Minute, KeyPrefix: "waf/"},
			IdleTimeout: time.Second, LateMaxAge: 5 * time.Second,
			Limits:         hits.Limits{MaxBytes: 1 << 20, MaxFuture: time.Hour},
			MaxObjectBytes: 64 << 20, MaxOpenObjects: 16, SpoolMemory: 1 << 20, SpoolDir: t.TempDir(), Tick: 200 * time.Millisecond,
		}
		h := pipeline.NewHealth(time.Minute, 0.6, 3, nil)
		up := &pipeline.Uploader{Bucket: tg.bucket, Schedule: [][]time.Duration{{200 * time.Millisecond, time.Second}}, AttemptTimeout: 30 * time.Second,
			Log: log, Metrics: m, Health: h, Isolated: true}
		targets = append(targets, pipeline.Target{ID: tg.id, Topic: topic, Settings: s, Uploader: up, Group: tg.group,
			Start: pipeline.StartPolicy{Mode: pipeline.StartEarliest}, Version: "1"})
	}
	g.SetTargets(targets, itgSelector(ts))
	return g
}

func itgCommitted(t *testing.T, group, topic string, parts int) []int64 {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(itgBrokers), Timeout: 10 * time.Second}
	ids := make([]int, parts)
	for i := range ids {
		ids[i] = i
	}
	resp, err := c.OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int64, parts)
	for _, p := range resp.Topics[topic] {
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

func TestExportIntegrationsDataPlane(t *testing.T) {
	ctx := context.Background()
	id := strconv.FormatInt(time.Now().UnixNano()%1e10, 36)
	topic := "itg-dp-" + id
	member := "itg-dp-" + id + "-members"
	itgCreateTopic(t, topic, 3)
	var ts []*itgTarget
	for _, x := range []struct {
		name string
		apps []int
		comp encoders.Compression
	}{{"a", []int{1}, encoders.None}, {"b", []int{2, 3}, encoders.Gzip}, {"c", nil, encoders.Zstd}} {
		bucket := "itg-dp-" + id + "-" + x.name
		b, err := store.NewS3(store.S3Options{Endpoint: "127.0.0.1:9000", Bucket: bucket, AccessKey: "minioadmin", SecretKey: "minioadmin", Region: "us-east-1"})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.MakeBucket(ctx); err != nil {
			t.Fatal(err)
		}
		ts = append(ts, &itgTarget{id: "itg-" + x.name, apps: x.apps, comp: x.comp, bucket: b, group: "itg-dp-" + id + "-" + x.name})
	}
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Hour)
	itgProduce(t, topic, 0, 3000, base)

	run := func() (stop func()) {
		g := itgGroup(t, topic, member, ts)
		ch := make(chan struct{})
		done := make(chan error, 1)
		go func() { done <- g.Run(ch) }()
		return func() {
			close(ch)
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("group: %v", err)
				}
			case <-time.After(60 * time.Second):
				t.Fatal("group did not stop within 60s")
			}
		}
	}
	waitExact := func(to int, d time.Duration) {
		t.Helper()
		for _, tg := range ts {
			want := itgWant(to, tg.apps)
			deadline := time.Now().Add(d)
			for {
				got, err := itgSeqs(ctx, tg.bucket)
				if err == nil {
					err = itgExact(got, want)
				}
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: %v", tg.id, err)
				}
				time.Sleep(time.Second)
			}
		}
	}

	stop := run()
	waitExact(3000, 90*time.Second)
	// Kill the membership mid-stream (stop, start a new one) twice.
	itgProduce(t, topic, 3000, 4500, base)
	time.Sleep(300 * time.Millisecond)
	stop()
	itgProduce(t, topic, 4500, 6000, base)
	stop = run()
	time.Sleep(2 * time.Second)
	stop()
	stop = run()
	waitExact(6000, 90*time.Second)

	// Each target's own group committed the whole topic; the membership
	// group's commit is the lowest of them (here: also the end).
	end := make([]int64, 3)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		var total int64
		for _, tg := range ts {
			cs := itgCommitted(t, tg.group, topic, 3)
			total = 0
			for _, c := range cs {
				total += c
			}
			if total != 6000 {
				ok = false
			}
			copy(end, cs)
		}
		ms := itgCommitted(t, member, topic, 3)
		var mt int64
		for p, c := range ms {
			if c != end[p] {
				ok = false
			}
			mt += c
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("commits: targets end %v, membership %v (sum %d)", end, ms, mt)
		}
		time.Sleep(time.Second)
	}
	stop()
}
