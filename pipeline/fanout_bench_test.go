package pipeline

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/hits"
	"github.com/hitexport/hitexport/store"
)

// benchLog serves n prepared records without locks (the source must not be
// the bottleneck) and records the targets' commits.
type benchLog struct {
	vals [][]byte
	n    int
	t0   int64
	mu   sync.Mutex
	done map[string]chan struct{} // group -> closed when it committed past n
}

func (l *benchLog) Open(_ context.Context, from int64) (recordReader, error) {
	return &benchReader{l: l, pos: max(from, 0)}, nil
}

func (l *benchLog) Resume(context.Context, Target) (TargetResume, error) { return TargetResume{}, nil }
func (l *benchLog) CommitMembership(context.Context, int64) error        { return nil }

func (l *benchLog) Commit(_ context.Context, t Target, offset int64, _ CommitState) error {
	if offset >= int64(l.n) {
		l.mu.Lock()
		if ch := l.done[t.Group]; ch != nil {
			close(ch)
			delete(l.done, t.Group)
		}
		l.mu.Unlock()
	}
	return nil
}

type benchReader struct {
	l   *benchLog
	pos int64
}

func (r *benchReader) Read(ctx context.Context, buf []Message) (int, error) {
	if r.pos > int64(r.l.n) {
		<-ctx.Done()
		return 0, ctx.Err()
	}
	n := 0
	for n < len(buf) && r.pos <= int64(r.l.n) {
		i := r.pos
		r.pos++
		ms := r.l.t0 + i*100
		v := r.l.vals[i&(1<<14-1)]
		if i == int64(r.l.n) {
			// Far in the future: closes every window, so every target commits n.
			ms += 24 * 3600 * 1000
			v = []byte(`{"time":"` + strconv.FormatInt(ms/1000, 10) + `","application_id":-1}`)
		}
		buf[n] = Message{Offset: i, Time: time.UnixMilli(ms), Value: v}
		n++
	}
	return n, nil
}

func (r *benchReader) HighWatermark() int64 { return int64(r.l.n) }
func (r *benchReader) Close() error         { return nil }

type nullBucket struct{ store.Memory }

func (*nullBucket) Put(_ context.Context, _ string, r io.Reader, _ int64, _ store.PutOptions) error {
	_, err := io.Copy(io.Discard, r)
	return err
}
func (*nullBucket) Stat(context.Context, string) (store.ObjectInfo, error) {
	return store.ObjectInfo{}, store.ErrNotFound
}

// benchFanout runs b.N generated hits through the fanout of one partition
// with n targets (ndjson, no compression, as BenchmarkPartitionRun): each
// selects 1/n of the hits by application_id when split, else every hit.
func benchFanout(b *testing.B, n int, split bool) {
	recs := gen.Generate(gen.Options{Seed: 42, Count: 1024, Start: time.UnixMilli(1687241400000), Span: time.Hour})
	t0 := int64(1687241400000)
	vals := make([][]byte, 1<<14)
	for i := range vals {
		v := recs[i&1023].Value
		rest := v[bytes.IndexByte(v, ','):]
		ms := t0 + int64(i)*100
		x := append([]byte(`{"time":"`), strconv.AppendInt(nil, ms/1000, 10)...)
		x = append(append(x, `","application_id":`...), strconv.Itoa(i%max(n, 1))...)
		vals[i] = append(x, rest...)
	}
	enc, err := encoders.New("ndjson")
	if err != nil {
		b.Fatal(err)
	}
	g := &Group{Kafka: KafkaOptions{Topic: "hits", Group: "members", Buffer: 1000}, Metrics: NewMetrics(nil, nil), Log: benchLogger(),
		Settings: &Settings{Limits: hits.Limits{MaxBytes: 1 << 20, MaxFuture: time.Hour}}}
	l := &benchLog{vals: vals, n: b.N, t0: t0, done: map[string]chan struct{}{}}
	var ts []Target
	initial := map[string]TargetResume{}
	for i := 0; i < n; i++ {
		s := &Settings{
			Layout:          Layout{Encoder: enc, Compression: encoders.None, Window: 10 * time.Minute},
			AllowedLateness: time.Minute, IdleTimeout: time.Hour, LateMaxAge: time.Hour,
			Limits:         hits.Limits{MaxBytes: 1 << 20, MaxFuture: time.Hour},
			MaxObjectBytes: 64 << 20, MaxOpenObjects: 16, SpoolMemory: 8 << 20, SpoolDir: b.TempDir(), Tick: time.Hour,
		}
		id := "t" + strconv.Itoa(i)
		grp := "g-" + id
		if n == 1 {
			grp = "members" // env mode
		}
		ts = append(ts, Target{ID: id, Topic: "hits", Settings: s, Group: grp, Fenced: n == 1, Rejected: true,
			Uploader: &Uploader{Bucket: &nullBucket{}, Schedule: [][]time.Duration{{0}}}})
		l.done[grp] = make(chan struct{})
		initial[id] = TargetResume{Offset: 0}
	}
	var sel Selector
	if split {
		sel = func(raw []byte, dst []bool) {
			i := bytes.Index(raw, []byte(`"application_id":`)) + 17
			j := i
			for j < len(raw) && (raw[j] == '-' || raw[j] >= '0' && raw[j] <= '9') {
				j++
			}
			a, _ := strconv.Atoi(string(raw[i:j]))
			if a < 0 {
				for j := range dst {
					dst[j] = true
				}
				return
			}
			dst[a%len(dst)] = true
		}
	}
	g.SetTargets(ts, sel)
	// Done when the targets' Partitions handled every record they get (their
	// records-handled counter, private to the targets).
	total := float64((b.N + 1) * n)
	if split {
		total = float64(b.N + n)
	}
	handled := func() float64 {
		g.tmu.Lock()
		p := g.private
		g.tmu.Unlock()
		if p == nil {
			return 0
		}
		return testutil.ToFloat64(p.Consumed.WithLabelValues("0"))
	}
	stop := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ReportAllocs()
	b.SetBytes(int64(len(vals[0])))
	b.ResetTimer()
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		g.runFanout(ctx, stop, l, "hits", 0, initial)
	}()
	for handled() < total {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	close(stop)
	<-finished
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hits/s")
}

// BenchmarkFanout: compare one/all with BenchmarkPartitionRun (the path
// before targets existed: reader goroutine → channel → Partition.Run).
func BenchmarkFanout(b *testing.B) {
	b.Run("targets=1", func(b *testing.B) { benchFanout(b, 1, false) })
	b.Run("targets=1-selector", func(b *testing.B) { benchFanout(b, 1, true) })
	b.Run("targets=3-all", func(b *testing.B) { benchFanout(b, 3, false) })
	b.Run("targets=10-split", func(b *testing.B) { benchFanout(b, 10, true) })
}

func benchLogger() *slog.Logger {
	if os.Getenv("FANOUT_BENCH_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}
