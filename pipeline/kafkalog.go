package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/hitexport/hitexport/kafkaadmin"
)

// kafkaLog is a partition of a Kafka topic as the fanout sees it, for one
// generation of the membership group.
type kafkaLog struct {
	g      *Group
	client *kafka.Client
	gen    *kafka.Generation
	topic  string
	part   int
}

func (l *kafkaLog) Open(ctx context.Context, from int64) (recordReader, error) {
	ko := l.g.Kafka
	ko.Topic = l.topic
	if from < 0 {
		from = kafka.FirstOffset
	}
	f := newConnFetcher(ko, l.part, from, l.g.logger().With("topic", l.topic, "partition", l.part))
	f.base = ctx // the reader's life: its connects are not cut short by one read's deadline
	return f, nil
}

func (l *kafkaLog) Resume(ctx context.Context, t Target) (TargetResume, error) {
	rs, err := l.g.resumeTarget(ctx, l.client, l.gen, t, l.topic, []int{l.part})
	if err != nil {
		return TargetResume{}, err
	}
	return rs[l.part], nil
}

func (l *kafkaLog) Commit(ctx context.Context, t Target, offset int64, st CommitState) error {
	var gen *kafka.Generation
	if t.fenced(l.g) {
		gen = l.gen
	}
	var every time.Duration
	if t.Settings != nil && !isUrgentCommit(ctx) {
		every = t.Settings.CommitInterval
	}
	return l.commit(ctx, t.group(l.g), gen, kafkaadmin.Offset{Partition: l.part, Offset: offset, Metadata: st.Encode()}, every)
}

func (l *kafkaLog) CommitMembership(ctx context.Context, offset int64) error {
	return l.commit(ctx, l.g.Kafka.Group, l.gen, kafkaadmin.Offset{Partition: l.part, Offset: offset}, 0)
}

// commit commits o to group (fenced with gen's generation and member id, or
// simple with gen nil) in one request with the other partitions' commits of
// the moment, at most one request per every (0: none) (commitBatcher).
func (l *kafkaLog) commit(ctx context.Context, group string, gen *kafka.Generation, o kafkaadmin.Offset, every time.Duration) error {
	m := memberOf(gen)
	k := commitKey{group: group, topic: l.topic, generation: m.Generation, member: m.ID}
	l.g.cmu.Lock()
	if l.g.commits == nil {
		l.g.commits = newCommitBatcher(l.client)
	}
	b := l.g.commits
	l.g.cmu.Unlock()
	return b.commitEvery(ctx, k, o, every)
}

// group is the consumer group holding t's offsets.
func (t Target) group(g *Group) string {
	if t.Group == "" {
		return g.Kafka.Group
	}
	return t.Group
}

// fenced: commits carry the membership generation (only possible in the
// membership group itself; a fenced target in another group commits simply).
func (t Target) fenced(g *Group) bool { return t.Fenced && t.group(g) == g.Kafka.Group }

// recordIter hands out one record at a time from a recordReader's chunks
// (the catch-up reader: the shared read takes whole chunks).
type recordIter struct {
	rd   recordReader
	buf  []Message
	n, i int
}

// Next is the next record; it fails when ctx ends before one came.
func (r *recordIter) Next(ctx context.Context) (Message, error) {
	for r.i >= r.n {
		if err := ctx.Err(); err != nil {
			return Message{}, err
		}
		n, err := r.rd.Read(ctx, r.buf)
		if err != nil {
			return Message{}, err
		}
		r.n, r.i = n, 0
	}
	m := r.buf[r.i]
	r.buf[r.i] = Message{}
	r.i++
	return m, nil
}

// memberOf is the member committing for gen: its generation and member
// id, or, with gen nil, kafkaadmin.Simple (a group without members).
func memberOf(gen *kafka.Generation) kafkaadmin.Member {
	if gen == nil {
		return kafkaadmin.Simple
	}
	return kafkaadmin.Member{Generation: int(gen.ID), ID: gen.MemberID}
}

// commitOffsets commits to group: fenced with gen's generation and member id,
// or, with gen nil, a "simple" commit (generation -1, no member id) for a
// group without members (a target's own group).
func commitOffsets(ctx context.Context, client *kafka.Client, group string, gen *kafka.Generation, topic string, cs []kafka.OffsetCommit) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m := memberOf(gen)
	offs := make([]kafkaadmin.Offset, len(cs))
	for i, c := range cs {
		offs[i] = kafkaadmin.Offset{Partition: c.Partition, Offset: c.Offset, Metadata: c.Metadata}
	}
	return kafkaadmin.Commit(cctx, client, group, topic, m, offs)
}

// resumeTarget reads target t's committed offsets for parts of topic (one
// OffsetFetch to its group). A partition without a commit starts where
// t.Start says, and that position is committed at once so that a restart
// neither skips nor re-resolves it — except the env-mode target (fenced, in
// the membership group) starting at the earliest offset, which behaves as
// before (the first offset, learnt from the first record). A committed offset
// below the partition's first offset (retention removed the records) moves
// to the first offset and the difference is reported as lost.
func (g *Group) resumeTarget(ctx context.Context, client *kafka.Client, gen *kafka.Generation, t Target, topic string, parts []int) (map[int]TargetResume, error) {
	out := map[int]TargetResume{}
	if len(parts) == 0 {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	group := t.group(g)
	committed, err := kafkaadmin.FetchCommitted(ctx, client, group, topic, parts)
	if err != nil {
		return nil, err
	}
	firsts, err := kafkaadmin.FirstOffsets(ctx, client, topic, parts)
	if err != nil {
		return nil, err
	}
	envEarliest := t.Fenced && group == g.Kafka.Group && t.Start.Mode == StartEarliest
	var resolve []int
	for _, p := range parts {
		c, ok := committed[p]
		if !ok || c.Offset < 0 {
			if envEarliest {
				out[p] = TargetResume{Offset: kafka.FirstOffset}
			} else {
				resolve = append(resolve, p)
			}
			continue
		}
		r := TargetResume{Offset: c.Offset, State: DecodeCommitState(c.Metadata)}
		if f, ok := firsts[p]; ok && f > r.Offset {
			r.Lost = f - r.Offset
			g.logger().Warn("records expired by retention before this target delivered them; they are lost",
				"integration", t.ID, "topic", topic, "partition", p, "committed", r.Offset, "first_offset", f, "lost", r.Lost)
			r.Offset = f
		}
		out[p] = r
	}
	if len(resolve) == 0 {
		return out, nil
	}
	var at map[int]int64
	switch t.Start.Mode {
	case StartEarliest:
		at = firsts
	case StartLatest:
		at, err = kafkaadmin.EndOffsets(ctx, client, topic, resolve)
	case StartAtTime:
		var end map[int]int64
		if end, err = kafkaadmin.EndOffsets(ctx, client, topic, resolve); err == nil {
			at, err = kafkaadmin.OffsetsForTime(ctx, client, topic, resolve, t.Start.Time, end)
		}
	}
	if err != nil {
		return nil, err
	}
	var cs []kafka.OffsetCommit
	for _, p := range resolve {
		off, ok := at[p]
		if !ok || off < 0 {
			return nil, fmt.Errorf("partition %d: no start offset for %s", p, t.ID)
		}
		out[p] = TargetResume{Offset: off}
		cs = append(cs, kafka.OffsetCommit{Partition: p, Offset: off, Metadata: CommitState{}.Encode()})
	}
	var fence *kafka.Generation
	if t.fenced(g) {
		fence = gen
	}
	if err := commitOffsets(ctx, client, group, fence, topic, cs); err != nil {
		return nil, fmt.Errorf("committing the start position of %s: %w", t.ID, err)
	}
	g.logger().Info("target start position resolved and committed", "integration", t.ID, "topic", topic, "partitions", resolve)
	return out, nil
}
