package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/hitexport/hitexport/kafkaadmin"
)

// KafkaOptions say how to reach Kafka and how to fetch.
type KafkaOptions struct {
	Brokers []string
	Topic   string
	Group   string
	// Dialer carries the client id, TLS and SASL for the group and readers;
	// Transport the same for the admin client (offset fetch and commit).
	// Both come from a kafkaadmin.Conn; nil: kafka-go's plain defaults.
	Dialer    *kafka.Dialer
	Transport *kafka.Transport
	MinBytes  int
	MaxBytes  int
	MaxWait   time.Duration
	// Buffer is the number of fetched records queued per partition before
	// fetching pauses (backpressure).
	Buffer int
	// SessionTimeout: the group drops a member that has not heartbeated for
	// this long and moves its partitions (zero: 30s).
	SessionTimeout time.Duration
}

// Group runs the exporter as one member of the consumer group: one worker
// goroutine per assigned partition, for as many generations as it lasts.
type Group struct {
	// OnWorkers, when set, is called with the number of target-partition
	// workers (each with its own open objects) whenever it changes; the
	// caller sizes memory by it (cli: the derived GOMEMLIMIT). It may be
	// called from several goroutines, never concurrently.
	OnWorkers func(n int)
	workersMu sync.Mutex
	workers   int

	Kafka    KafkaOptions
	Settings *Settings
	Uploader *Uploader
	Log      *slog.Logger
	Metrics  *Metrics
	Health   *Health
	Spool    *SpoolStats
	// ShutdownTimeout bounds the soft shutdown: in-flight uploads and commits
	// get this long after stop is closed, then everything is cancelled.
	ShutdownTimeout time.Duration

	// Targets (see SetTargets). Without SetTargets the group has one target,
	// DefaultTarget: Settings, Uploader and Kafka.Group as before.

	// Classify names an upload error's class for TargetStatus and the
	// per-integration failure metric (nil: "other").
	Classify func(error) string
	// OnAutoDisable is called once per target (until it is removed) when its
	// Uploader's Health has at least AutoDisableMinAttempts attempts (0: 5)
	// within its window and a failure ratio at or above its threshold.
	OnAutoDisable          func(id, reason string)
	AutoDisableMinAttempts int
	// AutoDisableAfter: besides the ratio, the target must have failed
	// without a single success for this long (a short outage, or a restart
	// during one, never disables anyone; 0: the ratio alone).
	AutoDisableAfter time.Duration
	// TargetQueue is the number of records queued per target and partition
	// before a target that does not keep up is detached from the shared read
	// (0: max(Kafka.Buffer, 4096) divided by the partition's targets when
	// its worker starts, at least 256).
	TargetQueue int
	// DetachWait: a target whose queue is full is detached from the shared
	// read only once its worker has neither taken a record from the queue
	// nor finished an upload for DetachWait (0: 10s; negative: at once, the
	// first design), or at once when its last upload attempt failed. A
	// healthy target busy uploading stays on the shared read (detaching it
	// would read the partition a second time); the wait runs from the
	// worker's last activity, so the shared read is held up at most
	// DetachWait however many destinations hang together. 10s: on a CPU-starved host (2 cores, load 12-22) a
	// healthy worker can spend seconds on the uploads of one Tick, and every
	// detach reads the partition once more (docs/performance.md §
	// Integrations).
	DetachWait time.Duration

	// commits gathers the offset commits of the partitions (commitbatch.go).
	cmu     sync.Mutex
	commits *commitBatcher

	tmu     sync.Mutex
	tset    *targetSet
	tstats  map[string]*targetStats
	fanouts map[fanKey]*fanout
	restart chan struct{}
	private *Metrics
}

// Client returns the admin client for offset fetch and commit.
func (g *Group) Client() *kafka.Client {
	return kafkaadmin.NewClient(g.Kafka.Brokers, g.Kafka.Transport, 10*time.Second)
}

// Run consumes until stop is closed, then shuts down softly: every worker
// stops fetching, finishes the upload in flight and commits, within
// ShutdownTimeout; then the member leaves the group. Objects still open are
// left uncommitted for the next owner.
//
// The group subscribes to the topics of its targets; each assigned partition
// is read once by a fanout that feeds one Partition per target. A change of
// the set of topics (SetTargets) leaves the group softly and joins again.
func (g *Group) Run(stop <-chan struct{}) error {
	hard, cancelHard := context.WithCancel(context.Background())
	defer cancelHard()
	g.tmu.Lock()
	if g.restart == nil {
		g.restart = make(chan struct{}, 1)
	}
	g.tmu.Unlock()
	client := g.Client()
	for {
		again, err := g.runMembership(hard, stop, client)
		if err != nil || !again {
			g.Health.SetJoined(false)
			return err
		}
		g.Log.Info("the targets' topics changed: joining the consumer group again")
	}
}

// runMembership is one membership of the consumer group, for the current set
// of topics. It returns true when it ended because the topics changed.
func (g *Group) runMembership(parentHard context.Context, stop <-chan struct{}, client *kafka.Client) (bool, error) {
	hard, cancelHard := context.WithCancel(parentHard)
	defer cancelHard()
	soft, cancelSoft := context.WithCancel(context.Background())
	defer cancelSoft()
	set := g.targets()
	topics := set.topics()
	cgStop := make(chan struct{})
	var restarted atomic.Bool
	watchDone := make(chan struct{})
	defer close(watchDone)
	go func() {
		select {
		case <-stop:
		case <-g.restart:
			restarted.Store(true)
		case <-watchDone:
			return
		}
		close(cgStop)
		cancelSoft()
	}()
	if len(topics) == 0 {
		// No target: nothing to read until one is added.
		g.Health.SetJoined(true)
		g.Metrics.Assigned.Set(0)
		<-soft.Done()
		return restarted.Load(), nil
	}

	session := g.Kafka.SessionTimeout
	if session <= 0 {
		session = 30 * time.Second
	}
	heartbeat := min(session/5, 3*time.Second)
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                    g.Kafka.Group,
		Brokers:               g.Kafka.Brokers,
		Dialer:                g.Kafka.Dialer,
		Topics:                topics,
		StartOffset:           kafka.FirstOffset,
		HeartbeatInterval:     heartbeat,
		SessionTimeout:        session,
		RebalanceTimeout:      30 * time.Second,
		JoinGroupBackoff:      2 * time.Second,
		WatchPartitionChanges: true,
		ErrorLogger:           kafka.LoggerFunc(func(msg string, args ...any) { g.Log.Debug("kafka-go: " + fmt.Sprintf(msg, args...)) }),
	})
	if err != nil {
		return false, fmt.Errorf("consumer group: %w", err)
	}
	var workers sync.WaitGroup
	for {
		gen, err := cg.Next(soft)
		if err != nil {
			if soft.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				break
			}
			g.Health.SetJoined(false)
			g.Log.Warn("joining the consumer group failed; retrying", "group", g.Kafka.Group, "error", err.Error())
			if sleepCtx(soft, 2*time.Second) != nil {
				break
			}
			continue
		}
		g.Health.SetJoined(true)
		g.Metrics.Rebalances.Inc()
		n := 0
		ids := map[string][]int{}
		for _, t := range topics {
			for _, a := range gen.Assignments[t] {
				ids[t] = append(ids[t], a.ID)
				n++
			}
		}
		g.Metrics.Assigned.Set(float64(n))
		g.Log.Info("generation joined", "generation", gen.ID, "member", gen.MemberID, "partitions", ids)
		set = g.targets()
		states, err := g.resolveAssigned(soft, client, gen, set, ids)
		for attempt := 1; err != nil && attempt < 5 && soft.Err() == nil; attempt++ {
			// A broker that just restarted fails the first request on a
			// pooled connection (unexpected EOF): try again.
			g.Log.Warn("reading committed offsets failed; retrying", "attempt", attempt, "error", err.Error())
			if sleepCtx(soft, time.Second) != nil {
				break
			}
			states, err = g.resolveAssigned(soft, client, gen, set, ids)
		}
		if err != nil {
			// Without the resume state a worker could write duplicates; a
			// failed fetch is treated like a failed join. The generation
			// must be ended, or kafka-go keeps it (heartbeats go on) and
			// Next never returns: the member would hold its partitions
			// without reading them. A function started with gen.Start that
			// returns ends the generation, and kafka-go joins again.
			g.Log.Warn("reading committed offsets failed; rejoining", "error", err.Error())
			gen.Start(func(context.Context) {})
			continue
		}
		// kafka-go ends the generation as soon as one function started with
		// gen.Start returns, cancelling every other worker's context. On a
		// soft shutdown an idle worker returns at once, which would cancel
		// the upload another worker has in flight: so a worker that stopped
		// for the shutdown keeps its function running until every worker of
		// this generation has finished (or the generation or the hard
		// deadline ends).
		var running sync.WaitGroup
		allStopped := make(chan struct{})
		running.Add(n)
		go func() { running.Wait(); close(allStopped) }()
		for _, topic := range topics {
			for _, a := range gen.Assignments[topic] {
				topic, a := topic, a
				st := states[fanKey{topic, a.ID}]
				workers.Add(1)
				gen.Start(func(gctx context.Context) {
					defer workers.Done()
					ctx, cancel := context.WithCancel(gctx)
					stopAfter := context.AfterFunc(hard, cancel)
					g.runFanout(ctx, cgStop, &kafkaLog{g: g, client: client, gen: gen, topic: topic, part: a.ID}, topic, a.ID, st)
					stopAfter()
					cancel()
					running.Done()
					select {
					case <-cgStop:
						select {
						case <-allStopped:
						case <-gctx.Done():
						case <-hard.Done():
						}
					default:
					}
				})
			}
		}
	}
	// Soft shutdown: workers saw stop; give them ShutdownTimeout.
	done := make(chan struct{})
	go func() { workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(g.ShutdownTimeout):
		g.Log.Warn("shutdown timeout: cancelling in-flight uploads; their records stay uncommitted", "timeout", g.ShutdownTimeout.String())
		cancelHard()
		<-done
	}
	err = cg.Close()
	select {
	case <-stop:
		return false, err
	default:
	}
	return restarted.Load(), err
}

// resolveAssigned finds every target's position on the assigned partitions
// (one OffsetFetch per target group and topic).
func (g *Group) resolveAssigned(ctx context.Context, client *kafka.Client, gen *kafka.Generation, set *targetSet, ids map[string][]int) (map[fanKey]map[string]TargetResume, error) {
	out := map[fanKey]map[string]TargetResume{}
	for topic, parts := range ids {
		for _, p := range parts {
			out[fanKey{topic, p}] = map[string]TargetResume{}
		}
		for _, t := range set.forTopic(topic) {
			rs, err := g.resumeTarget(ctx, client, gen, t, topic, parts)
			if err != nil {
				return nil, fmt.Errorf("target %s: %w", t.ID, err)
			}
			for p, r := range rs {
				out[fanKey{topic, p}][t.ID] = r
			}
		}
	}
	return out, nil
}

// ReadOptions say where ReadPartition starts and ends.
type ReadOptions struct {
	// Start is the first offset to read (negative: kafka-go's FirstOffset
	// or LastOffset constants).
	Start int64
	// End, when positive, is the exclusive end offset: reading stops once a
	// record at or past it is fetched (it is not handed on), every open
	// object is uploaded and ReadPartition returns. Zero or negative: no end.
	End int64
	// GiveUp bounds the wait for the rest of a range whose last offsets are
	// never delivered (transaction markers, records deleted by retention):
	// when no record came for GiveUp and the partition's high watermark is
	// at or past End, the range is done; when no record came for 4×GiveUp
	// and the high watermark is still below End, ReadPartition fails.
	// Zero: 15s. Only with End.
	GiveUp time.Duration
	// Progress, if set, counts what was read (safe to read meanwhile).
	Progress *ReadProgress
}

// ReadProgress counts the records ReadPartition handed to the worker.
type ReadProgress struct {
	Records atomic.Int64
	Bytes   atomic.Int64
	// Next is the next offset to read.
	Next atomic.Int64
}

// ErrRangeNotDelivered is returned (wrapped) when a range's end cannot be
// reached: no record came for long and the partition ends before it.
var ErrRangeNotDelivered = errors.New("the rest of the range is not delivered")

// workersChanged adds d to the number of target-partition workers and
// reports the new number to OnWorkers.
func (g *Group) workersChanged(d int) {
	g.workersMu.Lock()
	defer g.workersMu.Unlock()
	g.workers += d
	if g.OnWorkers != nil {
		g.OnWorkers(g.workers)
	}
}
