package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/hitexport/hitexport/config"
	"github.com/hitexport/hitexport/hits"
	"github.com/hitexport/hitexport/integrations"
	"github.com/hitexport/hitexport/kafkaadmin"
	"github.com/hitexport/hitexport/pipeline"
	"github.com/hitexport/hitexport/registry"
	"github.com/hitexport/hitexport/store"
	"github.com/hitexport/hitexport/verify"
)

// VerifyOptions are the flags of "hitexport verify".
type VerifyOptions struct {
	Manifest string        // NDJSON of verify.Expect; empty: only the bucket and offsets are checked
	Wait     time.Duration // wait up to this long for the committed offsets to reach the end offsets
	List     bool          // print every object
	Sample   int           // print this many decoded records of the first object
	JSON     bool          // print the report as JSON
	// Integration (an id or a name) checks that integration's bucket (its
	// destination under its key prefix) and its consumer group
	// (IntegrationGroup) instead of the HITEXPORT_S3_* bucket and
	// HITEXPORT_KAFKA_GROUP; the manifest is filtered by its filter (the
	// topic's records say which hits match). With the env registry it is
	// "default" and nothing changes.
	Integration string
	// Rejected checks the deployment's bucket (HITEXPORT_S3_*) for the
	// rejected records only (the kafka and file registries put them there,
	// committed by the group "<HITEXPORT_KAFKA_GROUP>.rejected"): hits in it
	// are unexpected, the manifest's hits are not looked for.
	Rejected bool
}

// verifyScope is what one verify run checks: a bucket seen under a
// prefix, the group and topic whose committed offsets must reach the end,
// and which manifest entries are expected there.
type verifyScope struct {
	bucket store.Bucket
	prefix string
	group  string
	topic  string
	keep   func(ctx context.Context, m []verify.Expect) ([]verify.Expect, error)
}

func (v verifyScope) filter(ctx context.Context, m []verify.Expect) ([]verify.Expect, error) {
	if v.keep == nil {
		return m, nil
	}
	return v.keep(ctx, m)
}

// scope resolves the options to what is checked.
func verifyScopeOf(ctx context.Context, cfg *config.Config, o VerifyOptions) (verifyScope, error) {
	switch {
	case o.Integration != "" && o.Rejected:
		return verifyScope{}, fmt.Errorf("--integration and --rejected exclude each other")
	case o.Rejected:
		if cfg.RegistryKind() == "env" {
			return verifyScope{}, fmt.Errorf("--rejected: with HITEXPORT_REGISTRY=env the rejected records are in the one bucket; run verify without it")
		}
		b, err := Bucket(cfg)
		if err != nil {
			return verifyScope{}, err
		}
		return verifyScope{bucket: b, prefix: cfg.KeyPrefix, group: cfg.KafkaGroup + ".rejected", topic: cfg.KafkaTopic,
			keep: func(_ context.Context, m []verify.Expect) ([]verify.Expect, error) {
				var out []verify.Expect
				for _, e := range m {
					if !e.Valid {
						out = append(out, e)
					}
				}
				return out, nil
			}}, nil
	case o.Integration != "" && !(cfg.RegistryKind() == "env" && o.Integration == registry.DefaultID):
		reg, err := OpenRegistry(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			return verifyScope{}, err
		}
		list, err := reg.List(ctx)
		reg.Close()
		if err != nil {
			return verifyScope{}, err
		}
		var it *integrations.Integration
		for i := range list {
			if list[i].ID == o.Integration || list[i].Name == o.Integration {
				it = &list[i]
				break
			}
		}
		if it == nil {
			return verifyScope{}, fmt.Errorf("--integration %q: no integration with that id or name in the registry", o.Integration)
		}
		b, err := integrationBucket(it.Destination)
		if err != nil {
			return verifyScope{}, err
		}
		f := it.Filter
		lit, _ := integrations.SplitKeyPrefix(it.KeyPrefix)
		return verifyScope{bucket: b, prefix: lit, group: IntegrationGroup(cfg, it.ID), topic: f.Topic,
			keep: func(ctx context.Context, m []verify.Expect) ([]verify.Expect, error) {
				return filterManifest(ctx, cfg, f, m)
			}}, nil
	}
	b, err := Bucket(cfg)
	if err != nil {
		return verifyScope{}, err
	}
	return verifyScope{bucket: b, prefix: cfg.KeyPrefix, group: cfg.KafkaGroup, topic: cfg.KafkaTopic}, nil
}

// filterManifest keeps the manifest's hits whose record in the topic
// matches the filter (rejected records are not an integration's). Hits the
// topic does not hold are kept (they are reported missing).
func filterManifest(ctx context.Context, cfg *config.Config, f integrations.Filter, m []verify.Expect) ([]verify.Expect, error) {
	match, err := topicMatches(ctx, cfg, f)
	if err != nil {
		return nil, err
	}
	return keepMatching(m, match), nil
}

// keepMatching keeps the valid hits of m that match says match, and those
// it does not know.
func keepMatching(m []verify.Expect, match map[string]bool) []verify.Expect {
	var out []verify.Expect
	for _, e := range m {
		if !e.Valid {
			continue
		}
		if ok, seen := match[e.ID]; seen && !ok {
			continue
		}
		out = append(out, e)
	}
	return out
}

// topicMatches reads every record of the filter's topic and says, per
// request_id of a valid hit, whether the filter matches it.
func topicMatches(ctx context.Context, cfg *config.Config, f integrations.Filter) (map[string]bool, error) {
	conn, err := KafkaConn(cfg)
	if err != nil {
		return nil, err
	}
	c := conn.Client(20 * time.Second)
	end, err := kafkaadmin.EndOffsets(ctx, c, f.Topic, nil)
	if err != nil {
		return nil, err
	}
	parts := make([]int, 0, len(end))
	for p := range end {
		parts = append(parts, p)
	}
	first, err := kafkaadmin.FirstOffsets(ctx, c, f.Topic, parts)
	if err != nil {
		return nil, err
	}
	m := integrations.NewMatcher([]integrations.Filter{f})
	dst := make([]bool, 1)
	out := map[string]bool{}
	for _, p := range parts {
		if first[p] >= end[p] {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: cfg.KafkaBrokers, Topic: f.Topic, Partition: p,
			Dialer: conn.Dialer(), MaxWait: 200 * time.Millisecond, MaxBytes: 16 << 20})
		if err := r.SetOffset(first[p]); err != nil {
			r.Close()
			return nil, err
		}
		for {
			msg, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				return nil, fmt.Errorf("reading %s/%d: %w", f.Topic, p, err)
			}
			if _, reason := hits.Decode(msg.Value, msg.Time, hits.Limits{}); reason == "" {
				var id struct {
					RequestID string `json:"request_id"`
				}
				if json.Unmarshal(msg.Value, &id) == nil && id.RequestID != "" {
					m.Match(msg.Value, dst)
					out[id.RequestID] = dst[0]
				}
			}
			if msg.Offset+1 >= end[p] {
				break
			}
		}
		r.Close()
	}
	return out, nil
}

// Verify runs the invariant checker and prints its report; it returns
// whether every invariant holds.
func Verify(ctx context.Context, cfg *config.Config, o VerifyOptions, out io.Writer) (bool, error) {
	scope, err := verifyScopeOf(ctx, cfg, o)
	if err != nil {
		return false, err
	}
	b := scope.bucket
	client, err := KafkaClient(cfg)
	if err != nil {
		return false, err
	}
	offs, err := waitOffsets(ctx, o.Wait, time.Second, func(ctx context.Context) ([]verify.PartitionOffsets, error) {
		return verify.Offsets(ctx, client, scope.group, scope.topic)
	})
	if err != nil {
		return false, fmt.Errorf("offsets: %w", err)
	}
	c, err := verify.ReadBucket(ctx, b, scope.prefix)
	if err != nil {
		return false, err
	}
	// Window layout: merges finish after the commits; --wait waits for them.
	for deadline := time.Now().Add(o.Wait); len(c.Pending) > 0 && time.Now().Before(deadline) && ctx.Err() == nil; {
		time.Sleep(time.Second)
		if c, err = verify.ReadBucket(ctx, b, scope.prefix); err != nil {
			return false, err
		}
	}
	var manifest []verify.Expect
	if o.Manifest != "" {
		if manifest, err = readManifest(o.Manifest); err != nil {
			return false, err
		}
		if manifest, err = scope.filter(ctx, manifest); err != nil {
			return false, err
		}
	}
	rep := verify.Compare(c, manifest, cfg.Window)
	if o.Manifest == "" {
		// Without a manifest, every record found is "unexpected" and none is
		// missing: only duplicates and offsets mean something.
		rep.Unexpected, rep.Missing, rep.RejectedMissing, rep.RejectedReason = 0, 0, 0, 0
		rep.Duplicates = duplicates(c)
		rep.Examples = nil
	}
	rep.CheckOffsets(offs)
	if o.List {
		if err := listObjects(ctx, b, scope.prefix, out); err != nil {
			return false, err
		}
	}
	if o.Sample > 0 {
		sample(ctx, b, cfg, c, o.Sample, out)
	}
	if o.JSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(struct {
			verify.Report
			Offsets []verify.PartitionOffsets `json:"offsets"`
		}{rep, offs})
	} else {
		printReport(out, rep, offs, c, o.Manifest != "")
	}
	return rep.OK(), nil
}

// waitOffsets reads the offsets until every partition is done (committed at
// the end, or empty with no commit: verify's own rule), wait has passed or
// ctx ends (Ctrl-C), polling every poll.
func waitOffsets(ctx context.Context, wait, poll time.Duration, read func(context.Context) ([]verify.PartitionOffsets, error)) ([]verify.PartitionOffsets, error) {
	deadline := time.Now().Add(wait)
	for {
		offs, err := read(ctx)
		if err == nil && atEnd(offs) || !time.Now().Before(deadline) {
			return offs, err
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			if err == nil {
				err = ctx.Err()
			}
			return offs, err
		case <-t.C:
		}
	}
}

func atEnd(offs []verify.PartitionOffsets) bool {
	for _, o := range offs {
		if !o.Done() {
			return false
		}
	}
	return true
}

func duplicates(c *verify.Contents) int {
	seen := map[string]int{}
	n := 0
	for _, h := range c.Hits {
		if seen[h.ID]++; seen[h.ID] == 2 {
			n++
		}
	}
	return n
}

func readManifest(path string) ([]verify.Expect, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []verify.Expect
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e verify.Expect
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("manifest %s: %w", path, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

func listObjects(ctx context.Context, b store.Bucket, prefix string, out io.Writer) error {
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tKIND\tRECORDS\tBYTES\tOFFSETS\tWINDOW")
	var infos []store.ObjectInfo
	if err := b.List(ctx, prefix, func(o store.ObjectInfo) error { infos = append(infos, o); return nil }); err != nil {
		return err
	}
	for _, o := range infos {
		st, err := b.Stat(ctx, o.Key)
		if err != nil {
			return err
		}
		m := st.Metadata
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s-%s\t%s\n", o.Key, m["kind"], m["record-count"], o.Size,
			m["first-offset"], m["last-offset"], m["window-start"])
	}
	return tw.Flush()
}

func sample(ctx context.Context, b store.Bucket, cfg *config.Config, c *verify.Contents, n int, out io.Writer) {
	if len(c.Hits) == 0 {
		return
	}
	key := c.Hits[0].Key
	rc, err := b.Get(ctx, key)
	if err != nil {
		return
	}
	defer rc.Close()
	dr, err := pipeline.CompressionOf(key).NewReader(rc)
	if err != nil {
		return
	}
	defer dr.Close()
	fmt.Fprintf(out, "\nfirst %d records of %s (decompressed):\n", n, key)
	sc := bufio.NewScanner(dr)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for i := 0; i < n && sc.Scan(); i++ {
		line := sc.Text()
		if len(line) > 400 {
			line = line[:400] + "…"
		}
		fmt.Fprintln(out, "  "+line)
	}
}

func printReport(out io.Writer, r verify.Report, offs []verify.PartitionOffsets, c *verify.Contents, withManifest bool) {
	fmt.Fprintf(out, "\nbucket: %d objects, %d bytes; by format %s\n", c.Objects, c.Bytes, formatCounts(c.ByFormat))
	fmt.Fprintf(out, "records in the bucket: %d hits, %d rejected\n", r.HitsInBucket, r.RejectedInBucket)
	if r.Pending > 0 {
		fmt.Fprintf(out, "window layout: %d staged parts or merge manifests not finished\n", r.Pending)
	}
	if withManifest {
		fmt.Fprintf(out, "produced: %d (%d valid hits, %d malformed)\n", r.Produced, r.ProducedValid, r.ProducedRejected)
		fmt.Fprintf(out, "missing: %d  duplicated: %d  wrong window: %d  unexpected: %d  rejected missing: %d  rejected with another reason: %d\n",
			r.Missing, r.Duplicates, r.WrongWindow, r.Unexpected, r.RejectedMissing, r.RejectedReason)
	} else {
		fmt.Fprintf(out, "duplicated hits: %d (no manifest given: missing hits cannot be told)\n", r.Duplicates)
	}
	for _, o := range offs {
		fmt.Fprintf(out, "partition %d: committed %d, end %d\n", o.Partition, o.Committed, o.End)
	}
	for _, e := range r.Examples {
		fmt.Fprintln(out, "  "+e)
	}
	if r.OK() {
		fmt.Fprintln(out, "OK: every invariant holds")
	} else {
		fmt.Fprintln(out, "VIOLATED: see above")
	}
}

func formatCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
