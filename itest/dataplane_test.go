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
	start  pipeline.StartPolicy
	from   int // first seq it must hold
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
	for {
		// Right after CreateTopics the leaders may not be known yet.
		err := w.WriteMessages(ctx, msgs...)
		if err == nil {
			return
		}
		if ctx.Err() != nil || !strings.Contains(err.Error(), "Unknown Topic Or Partition") {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
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

func itgWant(to int, apps []int) map[int]bool { return itgWantFrom(0, to, apps) }

func itgWantFrom(from, to int, apps []int) map[int]bool {
	w := map[int]bool{}
	for i := from; i < to; i++ {
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

// itgGroup builds a membership with the targets (fresh values each time, as
// a restarted process would).
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
		targets = append(targets, itgBuild(t, g, topic, tg))
	}
	g.SetTargets(targets, itgSelector(ts))
	return g
}

// itgBuild is the Target of tg (start: earliest unless tg.start is set).
func itgBuild(t *testing.T, g *pipeline.Group, topic string, tg *itgTarget) pipeline.Target {
	enc, err := encoders.New("ndjson")
	if err != nil {
		t.Fatal(err)
	}
	s := &pipeline.Settings{
		Layout:      pipeline.Layout{Encoder: enc, Compression: tg.comp, Window: 10 * time.Minute},
		IdleTimeout: time.Second, LateMaxAge: 5 * time.Second,
		Limits:         hits.Limits{MaxBytes: 1 << 20, MaxFuture: time.Hour},
		MaxObjectBytes: 64 << 20, MaxOpenObjects: 16, SpoolMemory: 1 << 20, SpoolDir: t.TempDir(), Tick: 200 * time.Millisecond,
	}
	h := pipeline.NewHealth(time.Minute, 0.6, 3, nil)
	up := &pipeline.Uploader{Bucket: store.WithPrefix(tg.bucket, "waf/"), Schedule: [][]time.Duration{{200 * time.Millisecond, time.Second}}, AttemptTimeout: 30 * time.Second,
		Log: g.Log, Metrics: g.Metrics, Health: h, Isolated: true}
	return pipeline.Target{ID: tg.id, Topic: topic, Settings: s, Uploader: up, Group: tg.group, Start: tg.start, Version: "1"}
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

func itgBucket(t *testing.T, name string, create bool) *store.S3 {
	t.Helper()
	b, err := store.NewS3(store.S3Options{Endpoint: "127.0.0.1:9000", Bucket: name, AccessKey: "minioadmin", SecretKey: "minioadmin", Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if create {
		if err := b.MakeBucket(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func itgWaitExact(t *testing.T, tg *itgTarget, to int, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	want := itgWantFrom(tg.from, to, tg.apps)
	for {
		got, err := itgSeqs(context.Background(), tg.bucket)
		if err == nil {
			err = itgExact(got, want)
		}
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("%s: %v", tg.id, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// One target's bucket is missing (its destination "down"): the others
// deliver on time meanwhile, it parks; once the bucket exists it catches up.
// Then a target is added live from "latest".
func TestExportIntegrationsIsolationAndLiveAdd(t *testing.T) {
	id := strconv.FormatInt(time.Now().UnixNano()%1e10, 36)
	topic := "itg-iso-" + id
	member := "itg-iso-" + id + "-members"
	itgCreateTopic(t, topic, 2)
	a := &itgTarget{id: "a", comp: encoders.None, bucket: itgBucket(t, "itg-iso-"+id+"-a", true), group: "itg-iso-" + id + "-a"}
	b := &itgTarget{id: "b", comp: encoders.Gzip, bucket: itgBucket(t, "itg-iso-"+id+"-b", false), group: "itg-iso-" + id + "-b"}
	c := &itgTarget{id: "c", apps: []int{1}, comp: encoders.Zstd, bucket: itgBucket(t, "itg-iso-"+id+"-c", true), group: "itg-iso-" + id + "-c"}
	ts := []*itgTarget{a, b, c}
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Hour)
	g := itgGroup(t, topic, member, ts)
	g.TargetQueue = 200 // b parks (its queue fills) within the first round
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- g.Run(stop) }()
	defer func() {
		close(stop)
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Error("group did not stop")
		}
	}()

	// Three rounds of traffic while b's bucket is missing: a and c hold
	// each round within seconds.
	produced := 0
	for round := 0; round < 3; round++ {
		itgProduce(t, topic, produced, produced+1000, base)
		produced += 1000
		for _, tg := range []*itgTarget{a, c} {
			took := itgWaitExact(t, tg, produced, 30*time.Second)
			t.Logf("round %d: %s exact %.1fs after produce (b down)", round, tg.id, took.Seconds())
		}
	}
	st, ok := g.TargetStatus("b")
	if !ok || !st.Parked || !st.Failing || st.LastError == nil || st.LagRecords == 0 || st.LastDelivery != nil || st.OldestUndelivered.IsZero() {
		t.Fatalf("b while its bucket is missing: %+v", st)
	}
	t.Logf("b parked: lag %d, last error %q", st.LagRecords, st.LastError.Message)
	if sa, _ := g.TargetStatus("a"); sa.Parked || sa.Failing || sa.LastDelivery == nil {
		t.Fatalf("a: %+v", sa)
	}
	// b's destination comes back: it catches up and rejoins.
	healed := time.Now()
	if err := b.bucket.MakeBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	took := itgWaitExact(t, b, produced, 90*time.Second)
	t.Logf("b caught up %d records in %.1fs", produced, took.Seconds())
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, _ := g.TargetStatus("b")
		if !st.Parked && !st.Failing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b not rejoined %.0fs after heal: %+v", time.Since(healed).Seconds(), st)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Add d live, from latest: it holds only what is produced after its
	// start position is committed.
	d := &itgTarget{id: "d", apps: []int{2}, comp: encoders.None, bucket: itgBucket(t, "itg-iso-"+id+"-d", true), group: "itg-iso-" + id + "-d",
		start: pipeline.StartPolicy{Mode: pipeline.StartLatest}, from: produced}
	ts = append(ts, d)
	var targets []pipeline.Target
	for _, tg := range ts {
		targets = append(targets, itgBuild(t, g, topic, tg))
	}
	g.SetTargets(targets, itgSelector(ts))
	deadline = time.Now().Add(30 * time.Second)
	for {
		cs := itgCommitted(t, d.group, topic, 2)
		if cs[0] >= 0 && cs[1] >= 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("d's start not committed: %v", cs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	itgProduce(t, topic, produced, produced+1000, base)
	produced += 1000
	for _, tg := range ts {
		itgWaitExact(t, tg, produced, 60*time.Second)
	}
}

// A target on another topic: the membership subscribes to both topics
// (leaves and joins again) and each target reads only its own topic.
func TestExportIntegrationsTopicChange(t *testing.T) {
	id := strconv.FormatInt(time.Now().UnixNano()%1e10, 36)
	t1, t2 := "itg-tc-"+id+"-1", "itg-tc-"+id+"-2"
	member := "itg-tc-" + id + "-members"
	itgCreateTopic(t, t1, 2)
	itgCreateTopic(t, t2, 2)
	a := &itgTarget{id: "a", comp: encoders.None, bucket: itgBucket(t, "itg-tc-"+id+"-a", true), group: "itg-tc-" + id + "-a"}
	b := &itgTarget{id: "b", comp: encoders.None, bucket: itgBucket(t, "itg-tc-"+id+"-b", true), group: "itg-tc-" + id + "-b"}
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Hour)
	g := itgGroup(t, t1, member, []*itgTarget{a})
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- g.Run(stop) }()
	defer func() {
		close(stop)
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(60 * time.Second):
			t.Error("group did not stop")
		}
	}()
	itgProduce(t, t1, 0, 500, base)
	itgWaitExact(t, a, 500, 60*time.Second)

	// b reads t2 (earliest): t2's hits are seq 1000..1499.
	g.SetTargets([]pipeline.Target{itgBuild(t, g, t1, a), itgBuild(t, g, t2, b)}, nil)
	itgProduce(t, t2, 1000, 1500, base)
	itgProduce(t, t1, 500, 1000, base)
	b.from = 1000
	itgWaitExact(t, b, 1500, 90*time.Second)
	itgWaitExact(t, a, 1000, 60*time.Second)
	if st, ok := g.TargetStatus("b"); !ok || st.Partitions != 2 || st.LastDelivery == nil {
		t.Fatalf("b: %+v", st)
	}
}
