// Package verify is the invariant checker: it reads a whole bucket back
// (every format, every compression, rejected objects included) and compares
// it with a manifest of what was produced, and compares the consumer group's
// committed offsets with the topic's end offsets.
//
// It is meant to stay independent of the exporter's code it checks: it
// decodes objects on its own (JSON, NDJSON, OCSF, rejected lines) and shares
// only the naming convention of keys (pipeline.ParseKey) and the Kafka admin
// calls (kafkaadmin). It does not import the generator (package gen, which is
// not part of the exporter's binary); the manifest format is package manifest.
//
// Both object layouts are read (pipeline.ParseKey, pipeline.ParseWindowKey);
// in the window layout, staged parts or merge manifests left over are a
// violation (Report.Pending).
//
// Violations it reports: hits missing, hits duplicated (the same hit in two
// objects or twice in one), hits in the wrong window, hits or rejected records
// the manifest does not know, rejected records missing or with another
// reason, partitions whose committed offset is not the end offset.
package verify

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/hits"
	"github.com/hitexport/hitexport/kafkaadmin"
	"github.com/hitexport/hitexport/pipeline"
	"github.com/hitexport/hitexport/store"
	"github.com/hitexport/hitexport/verify/manifest"
)

// Expect is one line of a manifest (package manifest).
type Expect = manifest.Expect

// RejectedID is the manifest ID of a malformed record's value.
func RejectedID(value []byte) string { return manifest.RejectedID(value) }

// Seen is one record found in the bucket.
type Seen struct {
	ID         string
	TimeMillis int64  // hits
	Window     int64  // window start of the object's key, Unix ms
	Reason     string // rejected
	Key        string
}

// Contents is everything read from a bucket.
type Contents struct {
	Objects  int
	Bytes    int64
	Hits     []Seen
	Rejected []Seen
	ByFormat map[string]int
	// Pending are the window layout's unfinished work: staged parts and
	// merge manifests (none in a bucket at rest).
	Pending []string
}

// ReadBucket reads every object under prefix (test objects of "check" are
// skipped). Keys are read with the exporter's key codec (pipeline.ParseKey):
// the checker shares the naming convention with the exporter, and decodes
// every format on its own (it does not use the encoders' writers).
func ReadBucket(ctx context.Context, b store.Bucket, prefix string) (*Contents, error) {
	b = store.WithPrefix(b, prefix)
	c := &Contents{ByFormat: map[string]int{}}
	var keys []store.ObjectInfo
	if err := b.List(ctx, "", func(o store.ObjectInfo) error {
		if !pipeline.IsCheckKey(o.Key) {
			keys = append(keys, o)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	for _, o := range keys {
		if pipeline.IsInternalKey(o.Key) {
			// The window layout's own folder: parts not merged yet are
			// reported, progress markers and done records are not data.
			if pipeline.IsPendingKey(o.Key) {
				c.Pending = append(c.Pending, prefix+o.Key)
			}
			continue
		}
		k, ok := pipeline.ParseKey(o.Key)
		if !ok {
			// A window-layout object: hitlogs-<window s>[_late-NNN][_NNN]<ext>.
			var wk pipeline.WindowKey
			if wk, ok = pipeline.ParseWindowKey(o.Key); ok {
				k = pipeline.ObjectKey{Kind: pipeline.KindHits, Window: wk.Window, Ext: wk.Ext, Compression: wk.Compression}
			}
		}
		if !ok {
			return nil, fmt.Errorf("object %s%s: key does not follow the naming convention", prefix, o.Key)
		}
		rc, err := b.Get(ctx, o.Key)
		if err != nil {
			return nil, err
		}
		data, err := readAll(rc, k.Compression)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("object %s%s: %w", prefix, o.Key, err)
		}
		c.Objects++
		c.Bytes += o.Size
		rejected := k.Kind == pipeline.KindRejected
		format := strings.TrimPrefix(k.Ext, ".")
		if rejected {
			format = "rejected"
		}
		c.ByFormat[format]++
		if err := parse(c, data, k.Ext, rejected, k.Window, prefix+o.Key); err != nil {
			return nil, fmt.Errorf("object %s%s: %w", prefix, o.Key, err)
		}
	}
	return c, nil
}

func readAll(r io.Reader, comp encoders.Compression) ([]byte, error) {
	dr, err := comp.NewReader(r)
	if err != nil {
		return nil, err
	}
	defer dr.Close()
	return io.ReadAll(dr)
}

func parse(c *Contents, data []byte, ext string, rejected bool, window int64, key string) error {
	var items [][]byte
	if strings.HasSuffix(ext, ".json") && !rejected {
		var arr []json.RawMessage
		if err := json.Unmarshal(data, &arr); err != nil {
			return fmt.Errorf("not a JSON array: %w", err)
		}
		for _, a := range arr {
			items = append(items, a)
		}
	} else {
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			if len(bytes.TrimSpace(sc.Bytes())) > 0 {
				items = append(items, append([]byte(nil), sc.Bytes()...))
			}
		}
		if err := sc.Err(); err != nil {
			return err
		}
	}
	for i, it := range items {
		if rejected {
			var rj struct {
				Reason string `json:"reason"`
				Value  string `json:"value_base64"`
			}
			if err := json.Unmarshal(it, &rj); err != nil {
				return fmt.Errorf("rejected line %d: %w", i, err)
			}
			raw, err := base64.StdEncoding.DecodeString(rj.Value)
			if err != nil {
				return fmt.Errorf("rejected line %d: %w", i, err)
			}
			c.Rejected = append(c.Rejected, Seen{ID: RejectedID(raw), Reason: rj.Reason, Key: key})
			continue
		}
		s, err := parseHit(it)
		if err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		s.Window, s.Key = window, key
		c.Hits = append(c.Hits, s)
	}
	return nil
}

// parseHit reads the id and event time of a hit in any format: the hit as
// given, or an OCSF event (metadata.uid, time in ms).
func parseHit(b []byte) (Seen, error) {
	var probe struct {
		ClassUID  *int            `json:"class_uid"`
		Time      json.RawMessage `json:"time"`
		RequestID string          `json:"request_id"`
		Metadata  struct {
			UID string `json:"uid"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return Seen{}, err
	}
	if probe.ClassUID != nil {
		ms, err := strconv.ParseInt(string(probe.Time), 10, 64)
		if err != nil {
			return Seen{}, fmt.Errorf("OCSF time: %w", err)
		}
		return Seen{ID: probe.Metadata.UID, TimeMillis: ms}, nil
	}
	d, reason := hits.Decode(b, time.Time{}, hits.Limits{})
	if reason != "" {
		return Seen{}, fmt.Errorf("hit in the bucket does not decode: %s", reason)
	}
	return Seen{ID: probe.RequestID, TimeMillis: d.TimeMillis}, nil
}

// Report is the checker's verdict.
type Report struct {
	Produced         int      `json:"produced"`
	ProducedValid    int      `json:"produced_valid"`
	ProducedRejected int      `json:"produced_rejected"`
	Objects          int      `json:"objects"`
	HitsInBucket     int      `json:"hits_in_bucket"`
	RejectedInBucket int      `json:"rejected_in_bucket"`
	Missing          int      `json:"missing"`
	Duplicates       int      `json:"duplicates"`
	WrongWindow      int      `json:"wrong_window"`
	Unexpected       int      `json:"unexpected"`
	RejectedMissing  int      `json:"rejected_missing"`
	RejectedReason   int      `json:"rejected_wrong_reason"`
	OffsetsBehind    int      `json:"partitions_not_committed_to_end"`
	Pending          int      `json:"pending_parts_and_manifests"`
	Examples         []string `json:"examples,omitempty"`
}

// OK reports whether no invariant is violated.
func (r Report) OK() bool {
	return r.Missing == 0 && r.Duplicates == 0 && r.WrongWindow == 0 && r.Unexpected == 0 &&
		r.RejectedMissing == 0 && r.RejectedReason == 0 && r.OffsetsBehind == 0 && r.Pending == 0
}

func (r *Report) example(format string, args ...any) {
	if len(r.Examples) < 20 {
		r.Examples = append(r.Examples, fmt.Sprintf(format, args...))
	}
}

// Compare checks the bucket's contents against the manifest. window is the
// window size the exporter ran with.
func Compare(c *Contents, manifest []Expect, window time.Duration) Report {
	r := Report{Produced: len(manifest), Objects: c.Objects, HitsInBucket: len(c.Hits), RejectedInBucket: len(c.Rejected),
		Pending: len(c.Pending)}
	for _, k := range c.Pending {
		r.example("staged part or merge manifest not finished: %s", k)
	}
	want := map[string]Expect{}
	for _, e := range manifest {
		want[e.ID] = e
		if e.Valid {
			r.ProducedValid++
		} else {
			r.ProducedRejected++
		}
	}
	seen := map[string]int{}
	for _, s := range c.Hits {
		seen[s.ID]++
		e, ok := want[s.ID]
		if !ok || !e.Valid {
			r.Unexpected++
			r.example("unexpected hit %s in %s", s.ID, s.Key)
			continue
		}
		if seen[s.ID] == 2 {
			r.Duplicates++
			r.example("duplicate hit %s (again in %s)", s.ID, s.Key)
		}
		ws := e.TimeMillis - e.TimeMillis%window.Milliseconds()
		if s.Window != ws {
			r.WrongWindow++
			r.example("hit %s with time %d in object of window %d (%s)", s.ID, e.TimeMillis, s.Window, s.Key)
		}
	}
	rseen := map[string]int{}
	for _, s := range c.Rejected {
		rseen[s.ID]++
		e, ok := want[s.ID]
		if !ok || e.Valid {
			r.Unexpected++
			r.example("unexpected rejected record %s in %s", s.ID, s.Key)
			continue
		}
		if rseen[s.ID] == 2 {
			r.Duplicates++
			r.example("duplicate rejected record %s (again in %s)", s.ID, s.Key)
		}
		if e.Reason != "" && e.Reason != s.Reason {
			r.RejectedReason++
			r.example("rejected record %s: reason %s, expected %s", s.ID, s.Reason, e.Reason)
		}
	}
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		e := want[id]
		if e.Valid && seen[id] == 0 {
			r.Missing++
			r.example("missing hit %s", id)
		}
		if !e.Valid && rseen[id] == 0 {
			r.RejectedMissing++
			r.example("missing rejected record %s (expected reason %s)", id, e.Reason)
		}
	}
	return r
}

// PartitionOffsets compares one partition's committed and end offsets.
type PartitionOffsets struct {
	Partition int   `json:"partition"`
	Committed int64 `json:"committed"`
	End       int64 `json:"end"`
}

// Done says whether the group has committed everything of the partition: its
// committed offset is the end offset, or the partition is empty and nothing
// is committed.
func (o PartitionOffsets) Done() bool {
	return o.Committed == o.End || (o.End == 0 && o.Committed < 0)
}

// EndOffsets returns the end offset of every partition of topic (nil, and no
// error, when the topic does not exist).
func EndOffsets(ctx context.Context, client *kafka.Client, topic string) (map[int]int64, error) {
	end, err := kafkaadmin.EndOffsets(ctx, client, topic, nil)
	if errors.Is(err, kafkaadmin.ErrUnknownTopic) {
		return nil, nil
	}
	return end, err
}

// Offsets reads the group's committed offsets (-1: none) and the topic's
// end offsets. Every error of the answers is returned, none is dropped.
func Offsets(ctx context.Context, client *kafka.Client, group, topic string) ([]PartitionOffsets, error) {
	end, err := EndOffsets(ctx, client, topic)
	if err != nil {
		return nil, err
	}
	if end == nil {
		return nil, fmt.Errorf("topic %q: %w", topic, kafka.UnknownTopicOrPartition)
	}
	parts := make([]int, 0, len(end))
	for p := range end {
		parts = append(parts, p)
	}
	sort.Ints(parts)
	committed, err := kafkaadmin.FetchCommitted(ctx, client, group, topic, parts)
	if err != nil {
		return nil, err
	}
	out := make([]PartitionOffsets, 0, len(parts))
	for _, p := range parts {
		out = append(out, PartitionOffsets{Partition: p, Committed: committed[p].Offset, End: end[p]})
	}
	return out, nil
}

// CheckOffsets adds the offset verdict to r.
func (r *Report) CheckOffsets(offs []PartitionOffsets) {
	for _, o := range offs {
		if !o.Done() {
			r.OffsetsBehind++
			r.example("partition %d: committed %d, end %d", o.Partition, o.Committed, o.End)
		}
	}
}
