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
}

// Client returns the admin client for offset fetch and commit.
func (g *Group) Client() *kafka.Client {
	return kafkaadmin.NewClient(g.Kafka.Brokers, g.Kafka.Transport, 10*time.Second)
}

// Run consumes until stop is closed, then shuts down softly: every worker
// stops fetching, finishes the upload in flight and commits, within
// ShutdownTimeout; then the member leaves the group. Objects still open are
// left uncommitted for the next owner.
func (g *Group) Run(stop <-chan struct{}) error {
	hard, cancelHard := context.WithCancel(context.Background())
	defer cancelHard()
	soft, cancelSoft := context.WithCancel(context.Background())
	defer cancelSoft()
	go func() {
		<-stop
		cancelSoft()
	}()

	session := g.Kafka.SessionTimeout
	if session <= 0 {
		session = 30 * time.Second
	}
	heartbeat := min(session/5, 3*time.Second)
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                    g.Kafka.Group,
		Brokers:               g.Kafka.Brokers,
		Dialer:                g.Kafka.Dialer,
		Topics:                []string{g.Kafka.Topic},
		StartOffset:           kafka.FirstOffset,
		HeartbeatInterval:     heartbeat,
		SessionTimeout:        session,
		RebalanceTimeout:      30 * time.Second,
		JoinGroupBackoff:      2 * time.Second,
		WatchPartitionChanges: true,
		ErrorLogger:           kafka.LoggerFunc(func(msg string, args ...any) { g.Log.Debug("kafka-go: " + fmt.Sprintf(msg, args...)) }),
	})
	if err != nil {
		return fmt.Errorf("consumer group: %w", err)
	}
	client := g.Client()
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
		assigned := gen.Assignments[g.Kafka.Topic]
		g.Metrics.Assigned.Set(float64(len(assigned)))
		ids := make([]int, len(assigned))
		for i, a := range assigned {
			ids[i] = a.ID
		}
		g.Log.Info("generation joined", "generation", gen.ID, "member", gen.MemberID, "partitions", ids)
		states, err := g.fetchStates(soft, client, ids)
		for attempt := 1; err != nil && attempt < 5 && soft.Err() == nil; attempt++ {
			// A broker that just restarted fails the first request on a
			// pooled connection (unexpected EOF): try again.
			g.Log.Warn("reading committed offsets failed; retrying", "attempt", attempt, "error", err.Error())
			if sleepCtx(soft, time.Second) != nil {
				break
			}
			states, err = g.fetchStates(soft, client, ids)
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
		running.Add(len(assigned))
		go func() { running.Wait(); close(allStopped) }()
		for _, a := range assigned {
			a := a
			st := states[a.ID]
			workers.Add(1)
			gen.Start(func(gctx context.Context) {
				defer workers.Done()
				g.runPartition(gctx, hard, stop, client, gen, a, st)
				running.Done()
				select {
				case <-stop:
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
	g.Health.SetJoined(false)
	return cg.Close()
}

type resumeState struct {
	offset int64
	state  CommitState
}

func (g *Group) fetchStates(ctx context.Context, client *kafka.Client, parts []int) (map[int]resumeState, error) {
	out := map[int]resumeState{}
	if len(parts) == 0 {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	committed, err := kafkaadmin.FetchCommitted(ctx, client, g.Kafka.Group, g.Kafka.Topic, parts)
	if err != nil {
		return nil, err
	}
	for _, id := range parts {
		c := committed[id]
		off := c.Offset
		if off < 0 {
			off = kafka.FirstOffset
		}
		out[id] = resumeState{offset: off, state: DecodeCommitState(c.Metadata)}
	}
	return out, nil
}

func (g *Group) runPartition(gctx, hard context.Context, stop <-chan struct{}, client *kafka.Client, gen *kafka.Generation, a kafka.PartitionAssignment, rs resumeState) {
	ctx, cancel := context.WithCancel(gctx)
	defer cancel()
	defer context.AfterFunc(hard, cancel)()
	log := g.Log.With("topic", g.Kafka.Topic, "partition", a.ID, "generation", gen.ID)

	commit := func(ctx context.Context, offset int64, st CommitState) error {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		defer ccancel()
		return kafkaadmin.Commit(cctx, client, g.Kafka.Group, g.Kafka.Topic, kafkaadmin.Member{Generation: int(gen.ID), ID: gen.MemberID},
			[]kafkaadmin.Offset{{Partition: a.ID, Offset: offset, Metadata: st.Encode()}})
	}
	_ = ReadPartition(ctx, stop, g.Kafka, a.ID, ReadOptions{Start: rs.offset}, log, func(hwm func() int64) *Partition {
		return NewPartition(g.Kafka.Topic, a.ID, g.Settings, PartitionDeps{
			Uploader: g.Uploader, Commit: commit, Log: g.Log, Metrics: g.Metrics, Spool: g.Spool, HighWatermark: hwm,
		}, rs.offset, rs.state)
	})
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
