package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/hits"
	"github.com/hitexport/hitexport/store"
)

// Regression (issue 9, bug 4): the default metrics were built before the
// spool default was set, so the spool gauges watched another SpoolStats.
func TestNewPartitionDefaultMetricsWatchItsSpool(t *testing.T) {
	p := NewPartition("t", 0, regressSettings(t), PartitionDeps{}, 0, CommitState{})
	if p.m.spool != p.spool {
		t.Fatalf("default metrics watch spool %p, the worker uses %p", p.m.spool, p.spool)
	}
	p.spool.Memory.Store(1234)
	if got := p.m.spool.Memory.Load(); got != 1234 {
		t.Errorf("spool gauge sees %d", got)
	}
}

func regressSettings(t testing.TB) *Settings {
	enc, err := encoders.New("ndjson")
	if err != nil {
		t.Fatal(err)
	}
	return &Settings{
		Layout:          Layout{Encoder: enc, Compression: encoders.None, Window: 10 * time.Minute},
		AllowedLateness: time.Minute, IdleTimeout: time.Minute, LateMaxAge: 5 * time.Minute,
		Limits:         hits.Limits{MaxBytes: 1 << 20, MaxFuture: time.Hour},
		MaxObjectBytes: 1 << 30, MaxOpenObjects: 16, SpoolMemory: 1 << 20, SpoolDir: t.TempDir(), Tick: time.Hour,
	}
}

// fakeFetcher delivers the records it holds at offsets, then returns
// nothing after a short wait (as a fetch does after MaxWait); the
// partition's high watermark is hwm.
type fakeFetcher struct {
	mu      sync.Mutex
	offsets []int64
	i       int
	next    int64
	hwm     int64
}

func (f *fakeFetcher) Read(ctx context.Context, buf []Message) (int, error) {
	f.mu.Lock()
	n := 0
	for n < len(buf) && f.i < len(f.offsets) {
		off := f.offsets[f.i]
		f.i++
		f.next = off + 1
		ms := int64(1687241400000) + off*1000
		v := fmt.Sprintf(`{"time":"%d","request_id":"r%d","uri":"/x"}`, ms/1000, off)
		buf[n] = Message{Offset: off, Time: time.UnixMilli(ms), Value: []byte(v)}
		n++
	}
	f.mu.Unlock()
	if n > 0 {
		return n, nil
	}
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(10 * time.Millisecond):
		return 0, nil
	}
}

func (f *fakeFetcher) Offset() int64        { f.mu.Lock(); defer f.mu.Unlock(); return f.next }
func (f *fakeFetcher) HighWatermark() int64 { f.mu.Lock(); defer f.mu.Unlock(); return f.hwm }
func (f *fakeFetcher) Close() error         { return nil }

func runRange(t *testing.T, f *fakeFetcher, end int64, giveUp time.Duration) (*store.Memory, *ReadProgress, error, time.Duration) {
	t.Helper()
	mem := store.NewMemory("b")
	up := &Uploader{Bucket: mem, Schedule: [][]time.Duration{{0}}}
	prog := &ReadProgress{}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := readPartition(ctx, nil, f, 16, ReadOptions{Start: 0, End: end, GiveUp: giveUp, Progress: prog}, slog.New(slog.DiscardHandler),
		func(func() int64) *Partition {
			return NewPartition("t", 0, regressSettings(t), PartitionDeps{Uploader: up}, 0, CommitState{})
		})
	return mem, prog, err, time.Since(start)
}

// The end offset of a range: reading stops there and what is open is
// uploaded.
func TestReadPartitionEndFlushes(t *testing.T) {
	mem, prog, err, _ := runRange(t, &fakeFetcher{offsets: []int64{0, 1, 2, 3, 4}, hwm: 5}, 3, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if prog.Records.Load() != 3 || prog.Next.Load() != 3 {
		t.Errorf("read %d records, next %d; want 3, 3", prog.Records.Load(), prog.Next.Load())
	}
	keys := mem.Keys()
	if len(keys) != 1 || !strings.HasSuffix(keys[0], "-t-0-0.ndjson") {
		t.Fatalf("objects %v", keys)
	}
	info, _ := mem.Stat(context.Background(), keys[0])
	if info.Metadata[MetaRecordCount] != "3" || info.Metadata[MetaLastOffset] != "2" {
		t.Errorf("object metadata %v", info.Metadata)
	}
}

// Regression (issue 9, bug 3): a range whose last offsets are never
// delivered (transaction markers, a retention gap) made replay wait
// forever. With the high watermark at or past the end, the range is done
// after the give-up time; below it, reading fails with a clear error.
func TestReadPartitionRangeEndNeverDelivered(t *testing.T) {
	// Offsets 3 and 4 are markers: never delivered, the high watermark is 5.
	mem, prog, err, took := runRange(t, &fakeFetcher{offsets: []int64{0, 1, 2}, hwm: 5}, 5, 100*time.Millisecond)
	if err != nil {
		t.Fatalf("markers at the end: %v", err)
	}
	if took > 5*time.Second {
		t.Errorf("took %s", took)
	}
	if len(mem.Keys()) != 1 || prog.Next.Load() != 5 {
		t.Errorf("objects %v, next %d", mem.Keys(), prog.Next.Load())
	}
	// The partition ends before the range (the end is beyond the high
	// watermark): give up with an error naming the offsets.
	_, _, err, took = runRange(t, &fakeFetcher{offsets: []int64{0, 1}, hwm: 2}, 9, 100*time.Millisecond)
	if !errors.Is(err, ErrRangeNotDelivered) || !strings.Contains(err.Error(), "at offset 2, the range ends at 9") {
		t.Fatalf("end beyond the high watermark: %v", err)
	}
	if took > 5*time.Second {
		t.Errorf("gave up after %s", took)
	}
}
