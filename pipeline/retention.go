package pipeline

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hitexport/hitexport/store"
)

// DefaultMergedRetention is how long the window layout keeps a window's
// done records and offsets indexes after its last merge when
// Merger.MergedRetention is zero.
const DefaultMergedRetention = 7 * 24 * time.Hour

// mergeAfterTaken merges parts of window w as its next late object when the
// name the merge chose (the window's own or late-<after+1>) is taken by
// final objects whose done record is gone (removed after MergedRetention,
// or by hand): the next number after every late object in the bucket. The
// done records that said which offsets those objects hold are gone, so
// records of parts that were merged before (a replay of an old window)
// are written again: never lost, possibly twice.
func (m *Merger) mergeAfterTaken(ctx context.Context, w int64, after int, parts []mergePart) error {
	ws := strconv.FormatInt(w/1000, 10)
	prefix := m.Layout.Keys.Dir(w, m.Layout.Integration) + keyName + ws
	n := after
	if err := m.Bucket.List(ctx, prefix, func(o store.ObjectInfo) error {
		if k, ok := ParseWindowKey(o.Key); ok && k.Window == w {
			n = max(n, k.Late)
		}
		return nil
	}); err != nil {
		return err
	}
	m.Log.Warn("window's object name is taken by objects without a done record (done records removed after MERGED_RETENTION, or deleted); its staged parts are merged into its next late object and may repeat records those objects hold",
		"window_start", time.UnixMilli(w).UTC().Format(time.RFC3339), "late", n+1, "parts", len(parts))
	err := m.merge(ctx, w, n+1, parts)
	if errors.Is(err, errNameTaken) {
		return errors.New("the next late object's name is taken too; retried on the next sweep")
	}
	return err
}

// expire removes the bookkeeping of windows that can no longer matter: a
// window's done records (_hitexport/merged/<w>*.json) and its offsets
// indexes (_hitexport/offsets/…/<w>/…) are deleted together once the newest
// of them is older than MergedRetention and nothing of the window is
// pending (no staged part, no manifest, no partition holding late records
// of it). Indexes go first, then the late done records from the highest
// number down, the window's own done record last, so a run cut short
// leaves a state the merger handles (docs/objects.md, "Retention").
func (m *Merger) expire(ctx context.Context, pending map[int64]bool) error {
	keep := m.MergedRetention
	if keep <= 0 {
		keep = DefaultMergedRetention
	}
	cut := m.Now().Add(-keep)
	type win struct {
		newest  time.Time
		done    []string
		indexes []string
	}
	wins := map[int64]*win{}
	at := func(w int64) *win {
		if wins[w] == nil {
			wins[w] = &win{}
		}
		return wins[w]
	}
	if err := m.Bucket.List(ctx, mergedDir, func(o store.ObjectInfo) error {
		name := strings.TrimSuffix(strings.TrimPrefix(o.Key, mergedDir), ".json")
		ws, _, _ := strings.Cut(name, "_")
		sec, err := strconv.ParseInt(ws, 10, 64)
		if err != nil || !strings.HasSuffix(o.Key, ".json") {
			return nil
		}
		x := at(sec * 1000)
		x.done = append(x.done, o.Key)
		if o.LastModified.After(x.newest) {
			x.newest = o.LastModified
		}
		return nil
	}); err != nil {
		return err
	}
	if err := m.Bucket.List(ctx, offsetsDir, func(o store.ObjectInfo) error {
		sp, ok := parseOffsetsKey(o.Key)
		if !ok || sp.Topic != m.Topic {
			return nil
		}
		x := at(sp.Window)
		x.indexes = append(x.indexes, o.Key)
		if o.LastModified.After(x.newest) {
			x.newest = o.LastModified
		}
		return nil
	}); err != nil {
		return err
	}
	progress, err := progressMarkers(ctx, m.Bucket, m.Topic)
	if err != nil {
		return err
	}
	for _, pr := range progress {
		for _, w := range pr.LateOpen {
			pending[w] = true
		}
	}
	ws := make([]int64, 0, len(wins))
	for w, x := range wins {
		if !pending[w] && x.newest.Before(cut) {
			ws = append(ws, w)
		}
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i] < ws[j] })
	for _, w := range ws {
		x := wins[w]
		if len(x.done) > 0 {
			// Done record names carry no topic: only this topic's are
			// removed.
			mf, err := m.readManifest(ctx, x.done[0])
			if store.IsNotFound(err) {
				continue
			}
			if err != nil {
				return err
			}
			if mf.Topic != m.Topic {
				continue
			}
		}
		// The window's own done record ("<w>.json") sorts before its late
		// ones ("<w>_late-NNN.json"): delete in reverse order.
		sort.Strings(x.done)
		var keys []string
		keys = append(keys, x.indexes...)
		for i := len(x.done) - 1; i >= 0; i-- {
			keys = append(keys, x.done[i])
		}
		for _, k := range keys {
			if err := m.Bucket.Delete(ctx, k); err != nil && !store.IsNotFound(err) {
				return err
			}
			m.Stats.Expired.Add(1)
		}
		m.Log.Info("merge records of a window removed after the retention", "window_start", time.UnixMilli(w).UTC().Format(time.RFC3339),
			"done_records", len(x.done), "offsets_indexes", len(x.indexes), "retention", keep.String())
	}
	return nil
}
