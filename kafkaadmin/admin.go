// Package kafkaadmin is the one place that talks to Kafka as an
// administrator: it builds the connection (client id, TLS, SASL) shared by
// the consumer group, the partition readers and the admin client, reads and
// commits a group's offsets, lists a topic's partitions and offsets, deletes
// groups, and classifies Kafka errors into hints for an operator.
//
// It does not read the configuration: callers hand it a Conn.
package kafkaadmin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
)

// DialTimeout bounds a connection attempt, TLS handshake and SASL exchange
// included.
const DialTimeout = 10 * time.Second

// Conn says how to reach the brokers.
type Conn struct {
	Brokers []string
	// ClientID is reported to the brokers (kafka-consumer-groups
	// --describe --members shows it); empty: DefaultClientID().
	ClientID string
	// TLS is nil for plain TCP; SASL nil for no authentication.
	TLS  *tls.Config
	SASL sasl.Mechanism
}

// DefaultClientID is "hitexport-<host name>-<process id>": the host name is
// the pod name in Kubernetes, the process id tells two processes on one host
// apart.
func DefaultClientID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return "hitexport-" + host + "-" + strconv.Itoa(os.Getpid())
}

func (c Conn) clientID() string {
	if c.ClientID != "" {
		return c.ClientID
	}
	return DefaultClientID()
}

// Dialer is the dialer of the consumer group and the partition readers.
func (c Conn) Dialer() *kafka.Dialer {
	return &kafka.Dialer{
		ClientID:      c.clientID(),
		Timeout:       DialTimeout,
		DualStack:     true,
		TLS:           c.TLS,
		SASLMechanism: c.SASL,
	}
}

// Transport is the transport of the admin client and of writers.
func (c Conn) Transport() *kafka.Transport {
	return &kafka.Transport{
		ClientID:    c.clientID(),
		DialTimeout: DialTimeout,
		Dial:        (&net.Dialer{Timeout: DialTimeout}).DialContext,
		TLS:         c.TLS,
		SASL:        c.SASL,
	}
}

// Client is the admin client of c; timeout bounds each request.
func (c Conn) Client(timeout time.Duration) *kafka.Client {
	return NewClient(c.Brokers, c.Transport(), timeout)
}

// NewClient is an admin client over tr (nil: kafka-go's default transport).
func NewClient(brokers []string, tr *kafka.Transport, timeout time.Duration) *kafka.Client {
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: timeout}
	if tr != nil {
		c.Transport = tr
	}
	return c
}

// Committed is a group's committed offset of one partition.
type Committed struct {
	// Offset is -1 when the group has committed none.
	Offset   int64
	Metadata string
}

// FetchCommitted reads the group's committed offsets (and commit metadata)
// of the partitions; a partition without a commit gets Offset -1.
func FetchCommitted(ctx context.Context, c *kafka.Client, group, topic string, parts []int) (map[int]Committed, error) {
	out := map[int]Committed{}
	if len(parts) == 0 {
		return out, nil
	}
	resp, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return nil, Hint(fmt.Errorf("committed offsets of group %q: %w", group, err))
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("committed offsets of group %q: %w", group, resp.Error)
	}
	for _, p := range parts {
		out[p] = Committed{Offset: -1}
	}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("committed offset of %s/%d: %w", topic, p.Partition, p.Error)
		}
		off := p.CommittedOffset
		if off < 0 {
			off = -1
		}
		out[p.Partition] = Committed{Offset: off, Metadata: p.Metadata}
	}
	return out, nil
}

// ErrUnknownTopic is returned (wrapped) when the topic does not exist.
var ErrUnknownTopic = errors.New("topic not found")

// Partitions returns the topic's partition ids, sorted.
func Partitions(ctx context.Context, c *kafka.Client, topic string) ([]int, error) {
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, Hint(fmt.Errorf("metadata of topic %q: %w", topic, err))
	}
	var parts []int
	found := false
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		found = true
		if errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
			return nil, fmt.Errorf("topic %q: %w", topic, ErrUnknownTopic)
		}
		if t.Error != nil {
			return nil, fmt.Errorf("topic %q: %w", topic, t.Error)
		}
		for _, p := range t.Partitions {
			parts = append(parts, p.ID)
		}
	}
	if !found || len(parts) == 0 {
		return nil, fmt.Errorf("topic %q: %w", topic, ErrUnknownTopic)
	}
	sort.Ints(parts)
	return parts, nil
}

// listOffsets sends one ListOffsets request per kind of offset; with a single
// request per partition the answer is unambiguous: the offset found for a
// timestamp, the first or the end offset, or -1 when no record has a
// timestamp at or after the one asked for.
func listOffsets(ctx context.Context, c *kafka.Client, topic string, parts []int, req func(p int) kafka.OffsetRequest) (map[int]int64, error) {
	out := map[int]int64{}
	if len(parts) == 0 {
		return out, nil
	}
	r := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range parts {
		r.Topics[topic] = append(r.Topics[topic], req(p))
	}
	resp, err := c.ListOffsets(ctx, r)
	if err != nil {
		return nil, Hint(fmt.Errorf("list offsets of topic %q: %w", topic, err))
	}
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets of %s/%d: %w", topic, po.Partition, po.Error)
		}
		off := po.LastOffset
		if po.FirstOffset > off {
			off = po.FirstOffset
		}
		for o := range po.Offsets {
			off = o
		}
		out[po.Partition] = off
	}
	for _, p := range parts {
		if _, ok := out[p]; !ok {
			return nil, fmt.Errorf("list offsets of %s/%d: no answer", topic, p)
		}
	}
	return out, nil
}

// FirstOffsets returns the earliest offset of each partition.
func FirstOffsets(ctx context.Context, c *kafka.Client, topic string, parts []int) (map[int]int64, error) {
	return listOffsets(ctx, c, topic, parts, func(p int) kafka.OffsetRequest { return kafka.FirstOffsetOf(p) })
}

// EndOffsets returns the end offset (the next offset to be written) of each
// partition; with no parts, of every partition of the topic.
func EndOffsets(ctx context.Context, c *kafka.Client, topic string, parts []int) (map[int]int64, error) {
	if len(parts) == 0 {
		var err error
		if parts, err = Partitions(ctx, c, topic); err != nil {
			return nil, err
		}
	}
	return listOffsets(ctx, c, topic, parts, func(p int) kafka.OffsetRequest { return kafka.LastOffsetOf(p) })
}

// OffsetsForTime returns, per partition, the first offset whose timestamp is
// at or after t, or end[p] when there is none.
func OffsetsForTime(ctx context.Context, c *kafka.Client, topic string, parts []int, t time.Time, end map[int]int64) (map[int]int64, error) {
	offs, err := listOffsets(ctx, c, topic, parts, func(p int) kafka.OffsetRequest { return kafka.TimeOffsetOf(p, t) })
	if err != nil {
		return nil, err
	}
	for p, o := range offs {
		if o < 0 {
			offs[p] = end[p]
		}
	}
	return offs, nil
}

// Offset is one partition's offset to commit.
type Offset struct {
	Partition int
	Offset    int64
	Metadata  string
}

// Member identifies a group member's generation for a fenced commit.
type Member struct {
	Generation int
	ID         string
}

// Simple is the "no member" of an administrative commit (generation -1, no
// member id): the coordinator accepts it only while the group has no
// members.
var Simple = Member{Generation: -1}

// ErrGroupActive is returned (wrapped) when a simple commit or a group
// deletion meets a group with members.
var ErrGroupActive = errors.New("the consumer group has active members")

// Commit commits the offsets for the member (Simple for an administrative
// commit). A simple commit refused because of the group's membership wraps
// ErrGroupActive and the broker's error; a member's commit from an ended
// generation wraps the broker's error (kafka.IllegalGeneration, …) only.
func Commit(ctx context.Context, c *kafka.Client, group, topic string, m Member, offsets []Offset) error {
	errs, err := CommitEach(ctx, c, group, topic, m, offsets)
	if err != nil {
		return err
	}
	for _, o := range offsets { // the first partition's error, in the caller's order
		if e := errs[o.Partition]; e != nil {
			return e
		}
	}
	return nil
}

// CommitEach is Commit of several partitions in one request, with each
// partition's own outcome: errs[p] is nil when p's offset was committed and
// wraps what Commit would have returned for p alone otherwise. err is set
// when the request itself failed (every partition failed with it).
func CommitEach(ctx context.Context, c *kafka.Client, group, topic string, m Member, offsets []Offset) (errs map[int]error, err error) {
	commits := make([]kafka.OffsetCommit, len(offsets))
	for i, o := range offsets {
		commits[i] = kafka.OffsetCommit{Partition: o.Partition, Offset: o.Offset, Metadata: o.Metadata}
	}
	resp, err := c.OffsetCommit(ctx, &kafka.OffsetCommitRequest{
		GroupID: group, GenerationID: m.Generation, MemberID: m.ID,
		Topics: map[string][]kafka.OffsetCommit{topic: commits},
	})
	if err != nil {
		return nil, Hint(fmt.Errorf("commit offsets of group %q: %w", group, err))
	}
	errs = make(map[int]error, len(offsets))
	answered := map[int]bool{}
	for _, p := range resp.Topics[topic] {
		answered[p.Partition] = true
		if p.Error == nil {
			continue
		}
		if m.Generation < 0 && Classify(p.Error) == ClassMembership {
			errs[p.Partition] = fmt.Errorf("%w: the coordinator refused the commit of %s/%d (%w)", ErrGroupActive, topic, p.Partition, p.Error)
		} else {
			errs[p.Partition] = fmt.Errorf("commit offset of %s/%d: %w", topic, p.Partition, p.Error)
		}
	}
	for _, o := range offsets {
		if !answered[o.Partition] {
			errs[o.Partition] = fmt.Errorf("commit offset of %s/%d: no answer from the coordinator", topic, o.Partition)
		}
	}
	return errs, nil
}

// DescribeGroup returns the group's state and its members as
// "client-id@host", sorted (a group that never existed is "Dead" with none).
func DescribeGroup(ctx context.Context, c *kafka.Client, group string) (string, []string, error) {
	resp, err := c.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return "", nil, Hint(fmt.Errorf("describe group %q: %w", group, err))
	}
	for _, g := range resp.Groups {
		if g.GroupID != group {
			continue
		}
		if g.Error != nil {
			return "", nil, fmt.Errorf("describe group %q: %w", group, g.Error)
		}
		members := []string{}
		for _, m := range g.Members {
			members = append(members, m.ClientID+"@"+strings.TrimPrefix(m.ClientHost, "/"))
		}
		sort.Strings(members)
		return g.GroupState, members, nil
	}
	return "", nil, fmt.Errorf("describe group %q: no answer", group)
}

// DeleteGroup deletes the group and its committed offsets. A group that
// does not exist is not an error; one with members is refused
// (ErrGroupActive).
func DeleteGroup(ctx context.Context, c *kafka.Client, group string) error {
	resp, err := c.DeleteGroups(ctx, &kafka.DeleteGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return Hint(fmt.Errorf("delete group %q: %w", group, err))
	}
	err = resp.Errors[group]
	switch {
	case err == nil, errors.Is(err, kafka.GroupIdNotFound):
		return nil
	case errors.Is(err, kafka.NonEmptyGroup):
		return fmt.Errorf("%w: delete group %q: %w", ErrGroupActive, group, err)
	}
	return fmt.Errorf("delete group %q: %w", group, err)
}
