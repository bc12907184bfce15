package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/hitexport/hitexport/config"
	"github.com/hitexport/hitexport/kafkaadmin"
	"github.com/hitexport/hitexport/pipeline"
	"github.com/hitexport/hitexport/store"
)

// ParseTime reads a replay or reset time: RFC 3339 (2026-11-28T16:00:00Z,
// fractions and offsets allowed) or Unix seconds (fractions allowed).
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) && f >= 0 && f < 1e11 {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339 (2026-11-28T16:00:00Z) or Unix seconds (1764345600)", s)
}

// ReplayOptions are the flags of "hitexport replay".
type ReplayOptions struct {
	// From and To select records by their Kafka timestamp: from the first
	// offset at or after From up to (excluding) the first offset at or after
	// To. A zero To means the end offsets at the start of the replay.
	From, To time.Time
	// Partitions limits the replay; empty means all.
	Partitions []int
	// DryRun prints the offset ranges and stops.
	DryRun bool
	// IgnoreBucket: do not read the spans of objects already in the bucket
	// (by default their records are skipped, so a replay only fills gaps).
	IgnoreBucket bool
	// Lookback: objects of windows starting up to this long before From are
	// consulted for spans reaching into the range (late and rejected objects
	// can start before it).
	Lookback time.Duration
	// Parallel is the number of partitions replayed at once.
	Parallel int
	// Progress receives a progress line every ProgressEvery (nil: none).
	Progress      io.Writer
	ProgressEvery time.Duration
}

// ReplayPartition is one partition's part of a replay.
type ReplayPartition struct {
	Partition int   `json:"partition"`
	From      int64 `json:"from_offset"`
	To        int64 `json:"to_offset"` // exclusive
	// Known is the number of spans of objects already in the bucket whose
	// records are skipped.
	Known int `json:"known_spans"`
	// Done is the next offset the replay would read; every record below it
	// (and at or after From) is in the bucket.
	Done int64 `json:"done_offset"`
	// Records is the number of records read.
	Records int64  `json:"records"`
	Err     string `json:"error,omitempty"`
}

// ReplaySummary is the result of a replay.
type ReplaySummary struct {
	Partitions []ReplayPartition `json:"partitions"`
	Records    int64             `json:"records"`
	Bytes      int64             `json:"bytes"`
	Objects    int64             `json:"objects_written"`
	Superseded int64             `json:"objects_already_present"`
	Skipped    int64             `json:"records_already_in_bucket"`
	Elapsed    time.Duration     `json:"elapsed_ns"`
}

// Replay re-exports the records whose Kafka timestamps lie in [From, To)
// through the same partition workers as "run", without a consumer group and
// without commits: the objects get the deterministic keys the live path
// gives them, and the uploader's fencing leaves alone any key that already
// holds as many or more records. Every object still open at the end of a
// partition's range is uploaded. See docs/operations.md for what the result
// is at the edges of the range.
func Replay(ctx context.Context, cfg *config.Config, o ReplayOptions, log *slog.Logger, out io.Writer) (*ReplaySummary, error) {
	if !o.To.IsZero() && !o.To.After(o.From) {
		return nil, fmt.Errorf("--to (%s) must be after --from (%s)", o.To.UTC().Format(time.RFC3339), o.From.UTC().Format(time.RFC3339))
	}
	if o.Parallel < 1 {
		o.Parallel = 1
	}
	ko, err := KafkaOptions(cfg)
	if err != nil {
		return nil, err
	}
	client, err := KafkaClient(cfg)
	if err != nil {
		return nil, err
	}
	octx, cancel := context.WithTimeout(ctx, time.Minute)
	parts, err := topicPartitions(octx, client, cfg.KafkaTopic, o.Partitions)
	if err != nil {
		cancel()
		return nil, err
	}
	end, err := kafkaadmin.EndOffsets(octx, client, cfg.KafkaTopic, parts)
	if err != nil {
		cancel()
		return nil, err
	}
	from, err := kafkaadmin.OffsetsForTime(octx, client, cfg.KafkaTopic, parts, o.From, end)
	if err != nil {
		cancel()
		return nil, err
	}
	to := end
	if !o.To.IsZero() {
		if to, err = kafkaadmin.OffsetsForTime(octx, client, cfg.KafkaTopic, parts, o.To, end); err != nil {
			cancel()
			return nil, err
		}
	}
	cancel()

	sum := &ReplaySummary{}
	var total int64
	for _, p := range parts {
		rp := ReplayPartition{Partition: p, From: from[p], To: to[p], Done: from[p]}
		if rp.To < rp.From {
			rp.To = rp.From
		}
		total += rp.To - rp.From
		sum.Partitions = append(sum.Partitions, rp)
	}
	toS := "the end offsets"
	if !o.To.IsZero() {
		toS = o.To.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(out, "replay of topic %q, Kafka timestamps from %s to %s: %d offsets in %d partitions\n",
		cfg.KafkaTopic, o.From.UTC().Format(time.RFC3339), toS, total, len(parts))
	if o.DryRun {
		printReplay(out, sum, false)
		fmt.Fprintln(out, "dry run: nothing was read or written")
		return sum, nil
	}

	s3, err := Bucket(cfg)
	if err != nil {
		return nil, err
	}
	bucket := store.WithPrefix(s3, cfg.KeyPrefix)
	layout, err := Layout(cfg)
	if err != nil {
		return nil, err
	}
	if !o.IgnoreBucket {
		kctx, kcancel := context.WithTimeout(ctx, 10*time.Minute)
		known, err := knownSpans(kctx, bucket, cfg, layout.Keys, sum.Partitions, o.From.Add(-o.Lookback))
		if err == nil && cfg.Layout == string(pipeline.ObjectsWindow) {
			// The window layout's merged and staged parts.
			var ws map[int][]pipeline.Range
			ws, err = pipeline.WindowSpans(kctx, bucket, cfg.KafkaTopic, o.From.Add(-o.Lookback).UnixMilli())
			for p, rs := range ws {
				known[p] = append(known[p], rs...)
			}
		}
		kcancel()
		if err != nil {
			return nil, fmt.Errorf("reading the spans of objects already in the bucket (--ignore-bucket skips this): %w", err)
		}
		for i := range sum.Partitions {
			sum.Partitions[i].Known = len(known[sum.Partitions[i].Partition])
		}
		return replayRun(ctx, cfg, o, ko, bucket, layout, sum, known, total, log, out)
	}
	return replayRun(ctx, cfg, o, ko, bucket, layout, sum, nil, total, log, out)
}

// replayProgress is one partition's progress: what its reader delivered,
// and the offset below which every record is in the bucket.
type replayProgress struct {
	read pipeline.ReadProgress
	safe atomic.Int64
}

// replayTotals are summed from the upload outcomes and skipped records.
type replayTotals struct {
	mu         sync.Mutex
	objects    int64
	superseded int64
	skipped    int64
}

func (t *replayTotals) uploaded(_ pipeline.Upload, out pipeline.Outcome) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if out.Superseded {
		t.superseded++
	} else {
		t.objects++
	}
}

func (t *replayTotals) skip() {
	t.mu.Lock()
	t.skipped++
	t.mu.Unlock()
}

func replayRun(ctx context.Context, cfg *config.Config, o ReplayOptions, ko pipeline.KafkaOptions, bucket store.Bucket,
	layout pipeline.Layout, sum *ReplaySummary, known map[int][]pipeline.Range, total int64, log *slog.Logger, out io.Writer) (*ReplaySummary, error) {
	start := time.Now()
	spool := &pipeline.SpoolStats{}
	m := pipeline.NewMetrics(nil, spool)
	up := &pipeline.Uploader{Bucket: bucket, Schedule: cfg.Retry, AttemptTimeout: 2 * time.Minute, Log: log, Metrics: m}
	settings := Settings(cfg, layout)
	window := cfg.Layout == string(pipeline.ObjectsWindow)
	if window {
		// Parts are staged as the live path stages them (same keys); the
		// merge below (or any running replica's) turns them into the
		// window's objects, or drops them where the window's objects hold
		// their records already.
		settings.Stager = &pipeline.Stager{Bucket: bucket}
	}
	totals := &replayTotals{}

	prog := make([]replayProgress, len(sum.Partitions))
	for i, rp := range sum.Partitions {
		prog[i].read.Next.Store(rp.From)
		prog[i].safe.Store(rp.From)
	}
	sums := func() (read, records, bytes int64) {
		for i, rp := range sum.Partitions {
			read += prog[i].read.Next.Load() - rp.From
			records += prog[i].read.Records.Load()
			bytes += prog[i].read.Bytes.Load()
		}
		return
	}
	stopProgress := make(chan struct{})
	var progressWG sync.WaitGroup
	if o.Progress != nil && o.ProgressEvery > 0 {
		progressWG.Add(1)
		go func() {
			defer progressWG.Done()
			t := time.NewTicker(o.ProgressEvery)
			defer t.Stop()
			for {
				select {
				case <-stopProgress:
					return
				case <-t.C:
					read, records, bytes := sums()
					fmt.Fprintln(o.Progress, progressLine(read, total, records, bytes, time.Since(start)))
				}
			}
		}()
	}

	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	for i := range sum.Partitions {
		rp := &sum.Partitions[i]
		if rp.To <= rp.From {
			continue
		}
		wg.Add(1)
		go func(i int, rp *ReplayPartition) {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				rp.Err = ctx.Err().Error()
				return
			}
			defer func() { <-sem }()
			err := replayPartition(ctx, cfg, ko, settings, up, m, spool, log, *rp, known[rp.Partition], &prog[i], totals)
			if err != nil {
				rp.Err = err.Error()
			}
		}(i, rp)
	}
	wg.Wait()
	close(stopProgress)
	progressWG.Wait()

	for i := range sum.Partitions {
		sum.Partitions[i].Done = prog[i].safe.Load()
		sum.Partitions[i].Records = prog[i].read.Records.Load()
	}
	if window && ctx.Err() == nil {
		if err := replayMerge(ctx, cfg, bucket, layout, log, out); err != nil {
			return sum, fmt.Errorf("merging the staged parts (a running exporter or the next replay finishes it): %w", err)
		}
	}
	read, records, bytes := sums()
	sum.Records, sum.Bytes = records, bytes
	sum.Objects, sum.Superseded, sum.Skipped = totals.objects, totals.superseded, totals.skipped
	sum.Elapsed = time.Since(start)
	if o.Progress != nil {
		fmt.Fprintln(o.Progress, progressLine(read, total, sum.Records, sum.Bytes, sum.Elapsed))
	}
	printReplay(out, sum, true)
	fmt.Fprintf(out, "%d records (%s) in %s: %d objects written, %d already in the bucket with as many or more records (left alone), %d records skipped as already in the bucket\n",
		sum.Records, humanBytes(sum.Bytes), sum.Elapsed.Round(time.Millisecond), sum.Objects, sum.Superseded, sum.Skipped)
	var failed []string
	for _, rp := range sum.Partitions {
		if rp.Err != "" {
			failed = append(failed, fmt.Sprintf("partition %d stopped at offset %d: %s", rp.Partition, rp.Done, rp.Err))
		}
	}
	if len(failed) > 0 {
		return sum, errors.New(strings.Join(failed, "; ") + " (every record below the offset named is in the bucket; replay the rest again)")
	}
	return sum, nil
}

// replayPartition feeds the records [rp.From, rp.To) of one partition to a
// fresh partition worker through pipeline.ReadPartition, which uploads what
// is still open at the end. The worker never idles (no Tick): windows close
// by event time, size and the open-object limit only, so the result depends
// on the records alone.
func replayPartition(ctx context.Context, cfg *config.Config, ko pipeline.KafkaOptions, s *pipeline.Settings, up *pipeline.Uploader,
	m *pipeline.Metrics, spool *pipeline.SpoolStats, log *slog.Logger, rp ReplayPartition, known []pipeline.Range,
	prog *replayProgress, totals *replayTotals) error {
	plog := log.With("topic", cfg.KafkaTopic, "partition", rp.Partition, "replay", true)
	// No group commits: the committer only records how far everything is in
	// the bucket, and lets the worker prune its spans as the live path does.
	commit := func(_ context.Context, offset int64, _ pipeline.CommitState) error {
		if offset > prog.safe.Load() {
			prog.safe.Store(offset)
		}
		return nil
	}
	noTick := *s
	noTick.Tick = 1<<63 - 1
	err := pipeline.ReadPartition(ctx, nil, ko, rp.Partition, pipeline.ReadOptions{Start: rp.From, End: rp.To, Progress: &prog.read}, plog,
		func(func() int64) *pipeline.Partition {
			return pipeline.NewPartition(cfg.KafkaTopic, rp.Partition, &noTick, pipeline.PartitionDeps{
				Uploader: up, Commit: commit, Log: log, Metrics: m, Spool: spool,
				Uploaded: totals.uploaded, Skipped: totals.skip,
			}, rp.From, pipeline.CommitState{Ranges: known})
		})
	if err != nil {
		return err
	}
	prog.safe.Store(rp.To)
	return nil
}

// knownSpans lists the objects of the topic's replayed partitions already in
// the bucket whose offset spans can reach into the range: every object whose
// first offset lies in the range, and those starting before it whose window
// starts at or after since. Their records are skipped by the workers (as
// after a restart), so a replay over a bucket that still holds part of the
// range adds only what is missing and never a second copy.
func knownSpans(ctx context.Context, b store.Bucket, cfg *config.Config, keys pipeline.KeyTemplate, parts []ReplayPartition, since time.Time) (map[int][]pipeline.Range, error) {
	byPart := map[int]ReplayPartition{}
	for _, rp := range parts {
		byPart[rp.Partition] = rp
	}
	type cand struct {
		key       string
		part      int
		window    int64
		first     int64
		rejected  bool
		windowSec int64
	}
	var cands []cand
	// Under the key template's literal beginning (hitlogs- by default).
	for _, prefix := range []string{keys.ListPrefix(), "rejected/" + keys.ListPrefix()} {
		err := b.List(ctx, prefix, func(oi store.ObjectInfo) error {
			k, ok := pipeline.ParseKey(oi.Key)
			if !ok || k.Topic != cfg.KafkaTopic {
				return nil
			}
			rejected, ws, part, first := k.Kind == pipeline.KindRejected, k.Window/1000, k.Partition, k.First
			rp, ok := byPart[part]
			if !ok || first >= rp.To {
				return nil
			}
			if first < rp.From && ws < since.Unix() {
				return nil
			}
			c := cand{key: oi.Key, part: part, window: ws * 1000, first: first, rejected: rejected, windowSec: ws}
			if rejected {
				c.window = pipeline.RejectedWindow
			}
			cands = append(cands, c)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	out := map[int][]pipeline.Range{}
	for _, c := range cands {
		info, err := b.Stat(ctx, c.key)
		if err != nil {
			if store.IsNotFound(err) {
				continue
			}
			return nil, err
		}
		md := info.Metadata
		if md[pipeline.MetaTopic] != cfg.KafkaTopic || md[pipeline.MetaPartition] != strconv.Itoa(c.part) {
			continue
		}
		first, err1 := strconv.ParseInt(md[pipeline.MetaFirstOffset], 10, 64)
		last, err2 := strconv.ParseInt(md[pipeline.MetaLastOffset], 10, 64)
		if err1 != nil || err2 != nil || first != c.first || last < byPart[c.part].From {
			continue
		}
		out[c.part] = append(out[c.part], pipeline.Range{Window: c.window, First: first, Last: last})
	}
	return out, nil
}

func printReplay(out io.Writer, sum *ReplaySummary, ran bool) {
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	if ran {
		fmt.Fprintln(tw, "PARTITION\tFROM OFFSET\tTO OFFSET\tKNOWN SPANS\tRECORDS READ\tDONE TO\tERROR")
	} else {
		fmt.Fprintln(tw, "PARTITION\tFROM OFFSET\tTO OFFSET\tRECORDS")
	}
	for _, rp := range sum.Partitions {
		if ran {
			fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%s\n", rp.Partition, rp.From, rp.To, rp.Known, rp.Records, rp.Done, orDash(rp.Err))
		} else {
			fmt.Fprintf(tw, "%d\t%d\t%d\t%d\n", rp.Partition, rp.From, rp.To, rp.To-rp.From)
		}
	}
	_ = tw.Flush()
}

// progressLine is one line of replay progress: percent by offsets, records,
// bytes, rate and the time left at that rate.
func progressLine(read, total, records, bytes int64, elapsed time.Duration) string {
	pct := 100.0
	if total > 0 {
		pct = 100 * float64(read) / float64(total)
	}
	secs := elapsed.Seconds()
	rate, eta := 0.0, "?"
	if secs > 0 {
		rate = float64(records) / secs
		if offRate := float64(read) / secs; offRate > 0 {
			eta = (time.Duration(float64(total-read)/offRate) * time.Second).Round(time.Second).String()
		}
	}
	if read >= total {
		eta = "0s"
	}
	return fmt.Sprintf("replay: %5.1f%% (%d/%d offsets), %d records, %s, %.0f records/s, %s/s, ETA %s",
		pct, read, total, records, humanBytes(bytes), rate, humanBytes(int64(float64(bytes)/math.Max(secs, 1e-9))), eta)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// replayMerge runs one merge sweep after a replay in the window layout:
// windows every partition has closed (progress markers of the live
// exporter) are merged now; a final object that exists wins (parts whose
// records it holds are dropped).
func replayMerge(ctx context.Context, cfg *config.Config, bucket store.Bucket, layout pipeline.Layout, log *slog.Logger, out io.Writer) error {
	m, err := Merger(cfg, bucket, layout, log)
	if err != nil {
		return err
	}
	m.Hook = nil
	m.Stats = &pipeline.MergeStats{}
	if err := m.SweepAll(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "window layout: %d merges, %d objects written from %d staged parts\n",
		m.Stats.Merges.Load(), m.Stats.Objects.Load(), m.Stats.PartsRead.Load())
	return nil
}
