package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/hitexport/hitexport/config"
	"github.com/hitexport/hitexport/pipeline"
)

// Reset modes of "hitexport offsets".
const (
	ResetNone     = ""
	ResetEarliest = "earliest"
	ResetLatest   = "latest"
	ResetTime     = "time"
)

// OffsetsOptions are the flags of "hitexport offsets".
type OffsetsOptions struct {
	// Reset is ResetNone (only show), ResetEarliest, ResetLatest or ResetTime.
	Reset string
	// Time is the target of ResetTime: per partition, the first offset whose
	// Kafka timestamp is at or after it (the end offset when there is none).
	Time time.Time
	// Apply commits the targets; without it the reset is a dry run.
	Apply bool
	// Partitions limits the listing and the reset; empty means all.
	Partitions []int
	// JSON prints the result as JSON instead of tables.
	JSON bool
}

// PartitionOffsets is one partition's row of "hitexport offsets".
type PartitionOffsets struct {
	Partition int   `json:"partition"`
	Earliest  int64 `json:"earliest"`
	End       int64 `json:"end"`
	// Committed is -1 when the group has no committed offset for it.
	Committed int64 `json:"committed"`
	// Lag counts the records from the committed offset (or the earliest,
	// when none is committed) to the end.
	Lag      int64  `json:"lag"`
	Metadata string `json:"metadata,omitempty"`
	// Resume is the decoded commit metadata (nil when it is not hitexport's).
	Resume *ResumeState `json:"resume,omitempty"`
	// Target is the reset target (only with a reset).
	Target *int64 `json:"target,omitempty"`
}

// ResumeState is the exporter's commit metadata in readable form.
type ResumeState struct {
	MaxEvent     string           `json:"max_event_time,omitempty"`
	ClosedBefore string           `json:"windows_closed_before,omitempty"`
	Spans        []pipeline.Range `json:"uploaded_spans_past_commit"`
}

// GroupOffsets is what "hitexport offsets" reports.
type GroupOffsets struct {
	Topic      string             `json:"topic"`
	Group      string             `json:"group"`
	State      string             `json:"state"`
	Members    []string           `json:"members"`
	Partitions []PartitionOffsets `json:"partitions"`
	Reset      string             `json:"reset,omitempty"`
	ResetTime  string             `json:"reset_time,omitempty"`
	Applied    bool               `json:"applied"`
	// Refused: --apply was given but the group has active members.
	Refused bool `json:"refused,omitempty"`
}

// ErrGroupActive is returned by Offsets when --apply meets a group with
// active members.
var ErrGroupActive = errors.New("the consumer group has active members")

// Offsets shows the group's committed offsets per partition with the end
// offsets, the lag and the decoded resume state, and with a reset mode
// computes (and with Apply commits) the reset target of every partition.
func Offsets(ctx context.Context, cfg *config.Config, o OffsetsOptions, out io.Writer) (*GroupOffsets, error) {
	client, err := KafkaClient(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	parts, err := topicPartitions(ctx, client, cfg.KafkaTopic, o.Partitions)
	if err != nil {
		return nil, err
	}
	res := &GroupOffsets{Topic: cfg.KafkaTopic, Group: cfg.KafkaGroup, Reset: o.Reset}
	if res.State, res.Members, err = describeGroup(ctx, client, cfg.KafkaGroup); err != nil {
		return nil, err
	}
	earliest, err := listOffsets(ctx, client, cfg.KafkaTopic, parts, func(p int) kafka.OffsetRequest { return kafka.FirstOffsetOf(p) })
	if err != nil {
		return nil, err
	}
	end, err := listOffsets(ctx, client, cfg.KafkaTopic, parts, func(p int) kafka.OffsetRequest { return kafka.LastOffsetOf(p) })
	if err != nil {
		return nil, err
	}
	committed, err := fetchCommitted(ctx, client, cfg.KafkaGroup, cfg.KafkaTopic, parts)
	if err != nil {
		return nil, err
	}
	var targets map[int]int64
	switch o.Reset {
	case ResetNone:
	case ResetEarliest:
		targets = earliest
	case ResetLatest:
		targets = end
	case ResetTime:
		res.ResetTime = o.Time.UTC().Format(time.RFC3339)
		if targets, err = offsetsForTime(ctx, client, cfg.KafkaTopic, parts, o.Time, end); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown reset mode %q", o.Reset)
	}
	for _, p := range parts {
		c := committed[p]
		row := PartitionOffsets{Partition: p, Earliest: earliest[p], End: end[p], Committed: c.offset, Metadata: c.metadata}
		from := c.offset
		if from < 0 || from < row.Earliest {
			from = row.Earliest
		}
		row.Lag = row.End - from
		if st, ok := pipeline.ParseCommitState(c.metadata); ok {
			rs := &ResumeState{Spans: st.Ranges}
			if st.MaxEvent > 0 {
				rs.MaxEvent = time.UnixMilli(st.MaxEvent).UTC().Format(time.RFC3339)
			}
			if st.ClosedBefore > 0 {
				rs.ClosedBefore = time.UnixMilli(st.ClosedBefore).UTC().Format(time.RFC3339)
			}
			if rs.Spans == nil {
				rs.Spans = []pipeline.Range{}
			}
			row.Resume = rs
		}
		if targets != nil {
			t := targets[p]
			row.Target = &t
		}
		res.Partitions = append(res.Partitions, row)
	}

	if o.Reset != ResetNone && o.Apply {
		if len(res.Members) > 0 {
			res.Refused = true
			if o.JSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				_ = enc.Encode(res)
			} else {
				printOffsets(out, res, cfg)
			}
			return res, fmt.Errorf("%w: group %q is %s with %d member(s) (%s); stop every hitexport replica of the group, then run the reset again",
				ErrGroupActive, cfg.KafkaGroup, res.State, len(res.Members), strings.Join(res.Members, ", "))
		}
		note := "reset to " + o.Reset
		if o.Reset == ResetTime {
			note += " " + res.ResetTime
		}
		note += " by hitexport offsets at " + time.Now().UTC().Format(time.RFC3339)
		if err := commitTargets(ctx, client, cfg.KafkaGroup, cfg.KafkaTopic, targets, parts, note); err != nil {
			return res, err
		}
		res.Applied = true
	}
	if o.JSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return res, enc.Encode(res)
	}
	printOffsets(out, res, cfg)
	return res, nil
}

func printOffsets(out io.Writer, res *GroupOffsets, cfg *config.Config) {
	members := "no active members"
	if len(res.Members) > 0 {
		members = fmt.Sprintf("%d active member(s): %s", len(res.Members), strings.Join(res.Members, ", "))
	}
	fmt.Fprintf(out, "topic %q, group %q: state %s, %s\n\n", res.Topic, res.Group, res.State, members)
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tEARLIEST\tCOMMITTED\tEND\tLAG\tMAX EVENT TIME\tCLOSED BEFORE\tSPANS PAST COMMIT")
	for _, r := range res.Partitions {
		committed := "-"
		if r.Committed >= 0 {
			committed = strconv.FormatInt(r.Committed, 10)
		}
		maxEv, closed, spans := "-", "-", "-"
		if r.Resume != nil {
			maxEv, closed, spans = orDash(r.Resume.MaxEvent), orDash(r.Resume.ClosedBefore), strconv.Itoa(len(r.Resume.Spans))
		} else if r.Metadata != "" {
			maxEv = "metadata: " + truncate(r.Metadata, 60)
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%d\t%d\t%s\t%s\t%s\n", r.Partition, r.Earliest, committed, r.End, r.Lag, maxEv, closed, spans)
	}
	_ = tw.Flush()
	if res.Reset == ResetNone {
		return
	}
	what := map[string]string{ResetEarliest: "the earliest offsets", ResetLatest: "the end offsets",
		ResetTime: "the first offsets at or after " + res.ResetTime}[res.Reset]
	fmt.Fprintf(out, "\nreset of group %q to %s:\n", res.Group, what)
	tw = tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tCOMMITTED\tTARGET\tMOVE\tRECORDS TO READ")
	for _, r := range res.Partitions {
		if r.Target == nil {
			continue
		}
		committed, move := "-", "-"
		if r.Committed >= 0 {
			committed = strconv.FormatInt(r.Committed, 10)
			move = fmt.Sprintf("%+d", *r.Target-r.Committed)
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%d\n", r.Partition, committed, *r.Target, move, r.End-*r.Target)
	}
	_ = tw.Flush()
	switch {
	case res.Refused:
		fmt.Fprintf(out, "\nnot applied: group %q has active members\n", res.Group)
	case res.Applied:
		fmt.Fprintf(out, "\napplied: committed for group %q; the resume state is cleared, so the next run starts afresh from these offsets\n", res.Group)
	default:
		fmt.Fprintf(out, "\ndry run: nothing was committed; add --apply to commit (every replica of group %q must be stopped)\n", cfg.KafkaGroup)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// topicPartitions returns the topic's partition ids, sorted, limited to only
// (which must all exist) when it is not empty.
func topicPartitions(ctx context.Context, client *kafka.Client, topic string, only []int) ([]int, error) {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, KafkaHint(fmt.Errorf("metadata of topic %q: %w", topic, err))
	}
	var parts []int
	found := false
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		found = true
		if t.Error != nil {
			return nil, fmt.Errorf("topic %q: %w (%sKAFKA_TOPIC)", topic, t.Error, config.Prefix)
		}
		for _, p := range t.Partitions {
			parts = append(parts, p.ID)
		}
	}
	if !found || len(parts) == 0 {
		return nil, fmt.Errorf("topic %q not found (%sKAFKA_TOPIC)", topic, config.Prefix)
	}
	sort.Ints(parts)
	if len(only) == 0 {
		return parts, nil
	}
	have := map[int]bool{}
	for _, p := range parts {
		have[p] = true
	}
	var out []int
	seen := map[int]bool{}
	for _, p := range only {
		if !have[p] {
			return nil, fmt.Errorf("topic %q has no partition %d (it has 0..%d)", topic, p, parts[len(parts)-1])
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Ints(out)
	return out, nil
}

// listOffsets sends one ListOffsets request per kind of offset; with a single
// request per partition the answer is unambiguous: the offset found for a
// timestamp, the first or the end offset, or -1 when no record has a
// timestamp at or after the one asked for.
func listOffsets(ctx context.Context, client *kafka.Client, topic string, parts []int, req func(p int) kafka.OffsetRequest) (map[int]int64, error) {
	r := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range parts {
		r.Topics[topic] = append(r.Topics[topic], req(p))
	}
	resp, err := client.ListOffsets(ctx, r)
	if err != nil {
		return nil, KafkaHint(fmt.Errorf("list offsets of topic %q: %w", topic, err))
	}
	out := map[int]int64{}
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

// offsetsForTime returns, per partition, the first offset whose timestamp is
// at or after t, or the end offset when there is none.
func offsetsForTime(ctx context.Context, client *kafka.Client, topic string, parts []int, t time.Time, end map[int]int64) (map[int]int64, error) {
	offs, err := listOffsets(ctx, client, topic, parts, func(p int) kafka.OffsetRequest { return kafka.TimeOffsetOf(p, t) })
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

type committedOffset struct {
	offset   int64
	metadata string
}

func fetchCommitted(ctx context.Context, client *kafka.Client, group, topic string, parts []int) (map[int]committedOffset, error) {
	resp, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return nil, KafkaHint(fmt.Errorf("committed offsets of group %q: %w", group, err))
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("committed offsets of group %q: %w", group, resp.Error)
	}
	out := map[int]committedOffset{}
	for _, p := range parts {
		out[p] = committedOffset{offset: -1}
	}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("committed offset of %s/%d: %w", topic, p.Partition, p.Error)
		}
		out[p.Partition] = committedOffset{offset: p.CommittedOffset, metadata: p.Metadata}
	}
	return out, nil
}

// describeGroup returns the group's state and its members as
// "client-id@host" (a group that never existed is "Dead" with none).
func describeGroup(ctx context.Context, client *kafka.Client, group string) (string, []string, error) {
	resp, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return "", nil, KafkaHint(fmt.Errorf("describe group %q: %w", group, err))
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

// commitTargets commits the targets as an administrative commit (no
// generation, no member id): the coordinator accepts it only while the group
// has no members, which also closes the race with a replica starting between
// the check and the commit.
func commitTargets(ctx context.Context, client *kafka.Client, group, topic string, targets map[int]int64, parts []int, note string) error {
	var commits []kafka.OffsetCommit
	for _, p := range parts {
		commits = append(commits, kafka.OffsetCommit{Partition: p, Offset: targets[p], Metadata: note})
	}
	resp, err := client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{
		GroupID: group, GenerationID: -1, MemberID: "",
		Topics: map[string][]kafka.OffsetCommit{topic: commits},
	})
	if err != nil {
		return KafkaHint(fmt.Errorf("commit offsets of group %q: %w", group, err))
	}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			if errors.Is(p.Error, kafka.UnknownMemberId) || errors.Is(p.Error, kafka.IllegalGeneration) || errors.Is(p.Error, kafka.RebalanceInProgress) {
				return fmt.Errorf("%w: the coordinator refused the commit of %s/%d (%v); a replica joined meanwhile: stop it and run the reset again",
					ErrGroupActive, topic, p.Partition, p.Error)
			}
			return fmt.Errorf("commit offset of %s/%d: %w", topic, p.Partition, p.Error)
		}
	}
	return nil
}
