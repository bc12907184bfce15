package cli

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
	"github.com/hitexport/hitexport/kafkaadmin"
	"github.com/hitexport/hitexport/pipeline"
	"github.com/hitexport/hitexport/store"
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
	// Staged (window layout): the partition's progress marker, the time
	// before which its windows are closed and staged for the merge.
	Staged string `json:"window_layout_staged_before,omitempty"`
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
	// Layout is the object layout; in the window layout Pending counts the
	// staged parts and merge manifests not merged yet.
	Layout  string `json:"layout"`
	Pending int    `json:"window_layout_pending,omitempty"`
}

// ErrGroupActive is returned by Offsets when --apply meets a group with
// active members.
var ErrGroupActive = kafkaadmin.ErrGroupActive

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
	if res.State, res.Members, err = kafkaadmin.DescribeGroup(ctx, client, cfg.KafkaGroup); err != nil {
		return nil, err
	}
	earliest, err := kafkaadmin.FirstOffsets(ctx, client, cfg.KafkaTopic, parts)
	if err != nil {
		return nil, err
	}
	end, err := kafkaadmin.EndOffsets(ctx, client, cfg.KafkaTopic, parts)
	if err != nil {
		return nil, err
	}
	committed, err := kafkaadmin.FetchCommitted(ctx, client, cfg.KafkaGroup, cfg.KafkaTopic, parts)
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
		if targets, err = kafkaadmin.OffsetsForTime(ctx, client, cfg.KafkaTopic, parts, o.Time, end); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown reset mode %q", o.Reset)
	}
	for _, p := range parts {
		c := committed[p]
		row := PartitionOffsets{Partition: p, Earliest: earliest[p], End: end[p], Committed: c.Offset, Metadata: c.Metadata}
		from := c.Offset
		if from < 0 || from < row.Earliest {
			from = row.Earliest
		}
		row.Lag = row.End - from
		if st, ok := pipeline.ParseCommitState(c.Metadata); ok {
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

	res.Layout = cfg.Layout
	if cfg.Layout == string(pipeline.ObjectsWindow) {
		if err := windowProgress(ctx, cfg, res); err != nil {
			return nil, fmt.Errorf("window layout progress markers: %w", err)
		}
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
	if res.Layout == string(pipeline.ObjectsWindow) {
		fmt.Fprintf(out, "\nwindow layout: %d staged parts or merge manifests pending; windows closed and staged before:", res.Pending)
		for _, r := range res.Partitions {
			fmt.Fprintf(out, " %d=%s", r.Partition, orDash(r.Staged))
		}
		fmt.Fprintln(out)
	}
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
	parts, err := kafkaadmin.Partitions(ctx, client, topic)
	if errors.Is(err, kafkaadmin.ErrUnknownTopic) {
		return nil, fmt.Errorf("topic %q not found (%sKAFKA_TOPIC)", topic, config.Prefix)
	}
	var kerr kafka.Error
	if errors.As(err, &kerr) {
		return nil, fmt.Errorf("%w (%sKAFKA_TOPIC)", err, config.Prefix) // the broker's answer for the topic
	}
	if err != nil {
		return nil, err
	}
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

// commitTargets commits the targets as an administrative commit (no
// generation, no member id): the coordinator accepts it only while the group
// has no members, which also closes the race with a replica starting between
// the check and the commit.
func commitTargets(ctx context.Context, client *kafka.Client, group, topic string, targets map[int]int64, parts []int, note string) error {
	offs := make([]kafkaadmin.Offset, 0, len(parts))
	for _, p := range parts {
		offs = append(offs, kafkaadmin.Offset{Partition: p, Offset: targets[p], Metadata: note})
	}
	err := kafkaadmin.Commit(ctx, client, group, topic, kafkaadmin.Simple, offs)
	if errors.Is(err, kafkaadmin.ErrGroupActive) {
		return fmt.Errorf("%w; a replica joined meanwhile: stop it and run the reset again", err)
	}
	return err
}

// windowProgress fills in the window layout's progress markers and the
// number of pending parts and manifests.
func windowProgress(ctx context.Context, cfg *config.Config, res *GroupOffsets) error {
	b, err := ExportBucket(cfg)
	if err != nil {
		return err
	}
	prog, err := pipeline.ProgressOf(ctx, b, cfg.KafkaTopic)
	if err != nil {
		return err
	}
	for i := range res.Partitions {
		if cb := prog[res.Partitions[i].Partition]; cb > 0 {
			res.Partitions[i].Staged = time.UnixMilli(cb).UTC().Format(time.RFC3339)
		}
	}
	return b.List(ctx, pipeline.InternalDir, func(o store.ObjectInfo) error {
		if pipeline.IsPendingKey(o.Key) {
			res.Pending++
		}
		return nil
	})
}
