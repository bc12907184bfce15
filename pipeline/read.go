package pipeline

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/hitexport/hitexport/kafkaadmin"
)

// The read path. A partition is read with kafka-go's lower-level API — a
// connection to the partition's leader (kafka.Dialer.DialLeader) and one
// fetch at a time (Conn.ReadBatchWith) — by one goroutine that hands the
// records to the worker in chunks over one channel. Compared with a
// kafka.Reader this saves the Reader's per-record channel hand-off, its
// per-record read deadline and stats, and the relay goroutine that was in
// between; and the connection reads the socket through a large buffer
// (readBufferSize) instead of kafka-go's 4 KiB one, which also spares the
// broker the many small partial sends a slow 4 KiB reader causes.

const (
	// chunkRecords is the most records handed to the worker at once.
	chunkRecords = 256
	// readBufferSize is the socket read buffer under kafka-go's own 4 KiB
	// bufio.Reader: one read(2) takes up to this much.
	readBufferSize = 256 << 10
	// readTimeout bounds a read of the broker's response beyond MaxWait.
	readTimeout = 10 * time.Second
	// dialTimeout bounds finding the leader and connecting to it.
	dialTimeout = 10 * time.Second
	// backoffMin and backoffMax bound the wait between reconnects.
	backoffMin = 100 * time.Millisecond
	backoffMax = 2 * time.Second
)

// fetcher reads one partition in order.
type fetcher interface {
	// Read fills buf with the next records. It returns 0 and no error when
	// nothing came within about the fetch's MaxWait (so the caller can look
	// at the time), and an error only when ctx ended; it reconnects and
	// retries on every other error itself.
	Read(ctx context.Context, buf []Message) (int, error)
	// Offset is the next offset to read (negative until the start is
	// resolved).
	Offset() int64
	// HighWatermark is the partition's high watermark as of the last
	// fetch; -1 before the first.
	HighWatermark() int64
	// Close ends the fetcher; a Read in progress fails.
	Close() error
}

// ReadPartition reads one partition (no group) and feeds a Partition built
// by mk until ctx ends, stop is closed or (with o.End) the range is done. It
// returns the worker's error.
func ReadPartition(ctx context.Context, stop <-chan struct{}, ko KafkaOptions, id int, o ReadOptions, log *slog.Logger,
	mk func(hwm func() int64) *Partition) error {
	f := newConnFetcher(ko, id, o.Start, log)
	defer f.Close()
	return readPartition(ctx, stop, f, ko.Buffer, o, log, mk)
}

func readPartition(ctx context.Context, stop <-chan struct{}, f fetcher, buffer int, o ReadOptions, log *slog.Logger,
	mk func(hwm func() int64) *Partition) error {
	ctx, cancel := context.WithCancel(ctx)
	giveUp := o.GiveUp
	if giveUp <= 0 {
		giveUp = 15 * time.Second
	}
	pool := newChunkPool(buffer)
	var endReached atomic.Bool
	fetchErr := make(chan error, 1) // filled before chunks is closed
	var fetching sync.WaitGroup
	fetching.Add(1)
	go func() {
		defer fetching.Done()
		defer close(pool.chunks)
		lastProgress, lastWarn := time.Now(), time.Now()
		for {
			if o.End > 0 && f.Offset() >= o.End {
				endReached.Store(true)
				return
			}
			buf := pool.get()
			n, err := f.Read(ctx, buf)
			if err != nil {
				return // ctx ended
			}
			if n == 0 {
				if o.End > 0 {
					idle := time.Since(lastProgress)
					if idle < giveUp {
						continue
					}
					done, gerr := rangeDone(f, o.End, idle, giveUp)
					if gerr != nil {
						fetchErr <- gerr
						return
					}
					if done {
						log.Warn("the range's last offsets are never delivered (transaction markers or records deleted by retention); the range is done",
							"next_offset", f.Offset(), "range_end", o.End)
						endReached.Store(true)
						return
					}
					if time.Since(lastWarn) >= giveUp {
						lastWarn = time.Now()
						log.Warn("no record for a while; still waiting", "next_offset", f.Offset(), "range_end", o.End)
					}
				}
				continue
			}
			recs := buf[:n]
			end := false
			if o.End > 0 {
				for i, m := range recs {
					if m.Offset >= o.End {
						recs, end = recs[:i], true
						break
					}
				}
				if len(recs) > 0 && recs[len(recs)-1].Offset+1 >= o.End {
					end = true
				}
			}
			lastProgress = time.Now()
			if len(recs) > 0 {
				// Counted before the hand-off: the worker clears the chunk.
				var bytes int64
				for i := range recs {
					bytes += int64(len(recs[i].Value))
				}
				next := recs[len(recs)-1].Offset + 1
				select {
				case pool.chunks <- recs:
				case <-ctx.Done():
					return
				}
				if o.Progress != nil {
					o.Progress.Records.Add(int64(len(recs)))
					o.Progress.Bytes.Add(bytes)
					o.Progress.Next.Store(next)
				}
			}
			if end {
				endReached.Store(true)
				return
			}
		}
	}()
	p := mk(f.HighWatermark)
	if o.End > 0 {
		p.endOfInput = endReached.Load
	}
	err := p.runChunks(ctx, stop, pool)
	// Stop the fetching goroutine (a fetch in progress fails on the closed
	// connection) before the caller closes the fetcher.
	cancel()
	f.Close()
	fetching.Wait()
	if err == nil {
		select {
		case err = <-fetchErr:
		default:
		}
	}
	if err == nil && o.End > 0 && endReached.Load() && o.Progress != nil {
		o.Progress.Next.Store(o.End)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("partition worker stopped", "error", err.Error())
	}
	return err
}

// rangeDone decides, after no record came for idle, whether the rest of a
// range [next, end) will never be delivered: the high watermark is at or past
// end (what is below it and was not delivered are transaction markers or
// deleted records). With the high watermark below end, it fails after
// 4×giveUp without a record.
func rangeDone(f fetcher, end int64, idle, giveUp time.Duration) (bool, error) {
	next, hwm := f.Offset(), f.HighWatermark()
	if hwm >= 0 && hwm >= end {
		return true, nil
	}
	if idle >= 4*giveUp {
		hw := "unknown"
		if hwm >= 0 {
			hw = strconv.FormatInt(hwm, 10)
		}
		return false, fmt.Errorf("%w: no record for %s at offset %d, the range ends at %d and the partition's high watermark is %s",
			ErrRangeNotDelivered, idle.Round(time.Second), next, end, hw)
	}
	return false, nil
}

// chunkPool carries the chunks of records a partition's fetching goroutine
// reads to the goroutine that handles them, and the handled chunks' slices
// back (replay's reader and the fanout's shared read).
type chunkPool struct {
	chunks chan []Message
	free   chan []Message
}

// newChunkPool's queue holds about buffer records: buffer/chunkRecords
// chunks (at least one), plus the one being filled and the one being handled.
func newChunkPool(buffer int) *chunkPool {
	depth := max(1, (buffer+chunkRecords-1)/chunkRecords)
	return &chunkPool{chunks: make(chan []Message, depth), free: make(chan []Message, depth+2)}
}

// get is an empty chunk of chunkRecords slots.
func (c *chunkPool) get() []Message {
	select {
	case b := <-c.free:
		return b[:chunkRecords]
	default:
		return make([]Message, chunkRecords)
	}
}

// put gives a chunk back once nothing refers to it (its records cleared).
func (c *chunkPool) put(b []Message) {
	select {
	case c.free <- b[:cap(b)]:
	default:
	}
}

// runChunks handles chunks from the pool until ctx ends (the generation is over
// or the hard shutdown deadline passed), stop is closed (soft shutdown) or
// the chunks channel is closed: it handles every record of a chunk, gives
// the chunk back, and looks at ctx, stop and the ticker between chunks (a
// chunk is at most chunkRecords records). Objects still open at the end are
// discarded (they were never committed, so the next owner reads their
// records again), except at the end of a range (endOfInput).
func (p *Partition) runChunks(ctx context.Context, stop <-chan struct{}, pool *chunkPool) error {
	tick := p.s.Tick
	if tick <= 0 {
		tick = time.Second
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	defer p.Close()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-stop:
			return nil
		case recs, ok := <-pool.chunks:
			if !ok {
				return p.inputClosed(ctx)
			}
			for i := range recs {
				if err := p.Handle(ctx, recs[i]); err != nil {
					return err
				}
				recs[i] = Message{} // let the values go
			}
			pool.put(recs)
		case r := <-p.uploadResults():
			if err := p.applyUpload(r); err != nil {
				return err
			}
		case <-t.C:
			if err := p.Tick(ctx); err != nil {
				return err
			}
		}
	}
}

// connFetcher reads a partition from its leader with kafka-go's Conn.
type connFetcher struct {
	ko     KafkaOptions
	id     int
	log    *slog.Logger
	dialer *kafka.Dialer

	next     atomic.Int64 // next offset; negative: kafka.FirstOffset or LastOffset
	hwm      atomic.Int64
	mu       sync.Mutex // guards conn against Close
	conn     *kafka.Conn
	closed   bool
	batch    *kafka.Batch
	failures int // consecutive failed fetches or dials
	// base, when set, bounds connects instead of each Read's context: the
	// context of the reader's whole life (a catch-up reader's worker).
	base context.Context
}

func newConnFetcher(ko KafkaOptions, id int, start int64, log *slog.Logger) *connFetcher {
	f := &connFetcher{ko: ko, id: id, log: log, dialer: bufferedDialer(ko.Dialer)}
	f.next.Store(start)
	f.hwm.Store(-1)
	return f
}

// bufferedDialer is d (or kafka-go's defaults) whose connections read the
// socket through a readBufferSize buffer. TLS and SASL stay d's: the buffer
// sits under them, on the TCP connection.
func bufferedDialer(d *kafka.Dialer) *kafka.Dialer {
	var nd kafka.Dialer
	if d != nil {
		nd = *d
	} else {
		nd = kafka.Dialer{Timeout: dialTimeout, DualStack: true}
	}
	dial := nd.DialFunc
	if dial == nil {
		dial = (&net.Dialer{
			LocalAddr:     nd.LocalAddr,
			DualStack:     nd.DualStack,
			FallbackDelay: nd.FallbackDelay,
			KeepAlive:     nd.KeepAlive,
		}).DialContext
	}
	nd.DialFunc = func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := dial(ctx, network, address)
		if err != nil {
			return nil, err
		}
		return &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, readBufferSize)}, nil
	}
	return &nd
}

// bufferedConn reads through a large buffer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (f *connFetcher) Offset() int64        { return f.next.Load() }
func (f *connFetcher) HighWatermark() int64 { return f.hwm.Load() }

func (f *connFetcher) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	if f.conn != nil {
		err := f.conn.Close()
		f.conn = nil
		return err
	}
	return nil
}

func (f *connFetcher) Read(ctx context.Context, buf []Message) (int, error) {
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if f.failures > 0 {
			if sleepCtx(ctx, backoff(f.failures)) != nil {
				return 0, ctx.Err()
			}
		}
		conn := f.current()
		if conn == nil {
			// A connect is bounded by the reader's life (base), not by this
			// read's deadline: a catch-up reader reads a tick at a time, and
			// a dial that had to wait its turn or a slow broker would be
			// abandoned and restarted every tick — with hundreds of readers
			// connecting at once, none would ever get through.
			cctx := ctx
			if f.base != nil {
				cctx = f.base
			}
			var err error
			if conn, err = f.connect(cctx); err != nil {
				if cctx.Err() != nil {
					return 0, cctx.Err()
				}
				if ctx.Err() != nil {
					return 0, ctx.Err()
				}
				f.fail("connecting to the partition's leader failed; retrying", err)
				continue
			}
		}
		if f.batch == nil {
			conn.SetReadDeadline(time.Now().Add(f.ko.MaxWait + readTimeout))
			f.batch = conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: f.ko.MinBytes, MaxBytes: f.ko.MaxBytes, MaxWait: f.ko.MaxWait})
			if err := f.batch.Err(); err != nil {
				f.batch.Close()
				f.batch = nil
				if f.handle(ctx, conn, err) {
					continue
				}
				return 0, nil
			}
			f.hwm.Store(f.batch.HighWaterMark())
		}
		// One deadline per chunk, not per record.
		conn.SetReadDeadline(time.Now().Add(readTimeout))
		n := 0
		for n < len(buf) {
			m, err := f.batch.ReadMessage()
			if err != nil {
				next := f.batch.Offset()
				f.batch.Close()
				f.batch = nil
				if next > f.next.Load() {
					f.next.Store(next) // past compacted records at a batch's end
				}
				if errors.Is(err, io.EOF) {
					f.failures = 0
					return n, nil
				}
				if n > 0 {
					// Hand over what was read; the error comes back on
					// the next fetch, which starts after these records.
					f.drop(conn)
					return n, nil
				}
				if f.handle(ctx, conn, err) {
					break
				}
				return 0, nil
			}
			buf[n] = Message{Offset: m.Offset, Time: m.Time, Key: m.Key, Value: m.Value}
			n++
			f.next.Store(m.Offset + 1)
		}
		if n > 0 {
			f.failures = 0
			return n, nil
		}
	}
}

func (f *connFetcher) current() *kafka.Conn {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conn
}

// connect dials the partition's leader through the first broker that
// answers and resolves the start offset.
func (f *connFetcher) connect(ctx context.Context) (*kafka.Conn, error) {
	if err := paceDial(ctx); err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	conn, err := f.dialLeader(dctx)
	if err != nil {
		return nil, err
	}
	if next := f.next.Load(); next < 0 {
		// One ListOffsets request, for the end asked for (ReadOffsets
		// would send two).
		conn.SetDeadline(time.Now().Add(readTimeout))
		var off int64
		if next == kafka.LastOffset {
			off, err = conn.ReadLastOffset()
		} else {
			off, err = conn.ReadFirstOffset()
		}
		conn.SetDeadline(time.Time{})
		if err != nil {
			conn.Close()
			return nil, err
		}
		f.next.Store(off)
	}
	if _, err := conn.Seek(f.next.Load(), kafka.SeekAbsolute|kafka.SeekDontCheck); err != nil {
		conn.Close()
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		conn.Close()
		return nil, context.Canceled
	}
	f.conn = conn
	return conn, nil
}

// dialLeader connects to the partition's leader: as the topic's metadata
// looked up in the last leaderTTL says (one Metadata request serves every
// partition of the topic that connects meanwhile), or, without it, with a
// lookup through the first broker that answers. A failed connect forgets the
// cached metadata, so a reconnect after a leader change looks up afresh.
func (f *connFetcher) dialLeader(ctx context.Context) (*kafka.Conn, error) {
	key := f.leaderKey()
	if p, ok := leaders.get(key, f.id); ok {
		conn, err := f.dialer.DialPartition(ctx, "tcp", "", p)
		if err == nil {
			return conn, nil
		}
		leaders.forget(key)
		if ctx.Err() != nil {
			return nil, err
		}
	}
	var err error
	for _, b := range f.ko.Brokers {
		if parts, lerr := f.dialer.LookupPartitions(ctx, "tcp", b, f.ko.Topic); lerr == nil {
			leaders.put(key, parts)
			if p, ok := leaders.get(key, f.id); ok {
				conn, derr := f.dialer.DialPartition(ctx, "tcp", "", p)
				if derr == nil {
					return conn, nil
				}
				leaders.forget(key)
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// No answer, no leader in it (an election, a partition just
		// created) or its leader refused: as before, kafka-go's own lookup,
		// which retries what is temporary.
		var conn *kafka.Conn
		if conn, err = f.dialer.DialLeader(ctx, "tcp", b, f.ko.Topic, f.id); err == nil {
			return conn, nil
		}
	}
	if err == nil {
		err = errors.New("no broker")
	}
	return nil, err
}

// leaderTTL is how long a topic's looked-up partition leaders are used for
// the connects of its other partitions.
const leaderTTL = 10 * time.Second

type leaderKey struct{ brokers, topic string }

// leaderKey is the cache entry of f's topic on f's brokers.
func (f *connFetcher) leaderKey() leaderKey {
	return leaderKey{brokers: strings.Join(f.ko.Brokers, ","), topic: f.ko.Topic}
}

// leaders caches the partition leaders of the topics the process reads.
var leaders = leaderCache{m: map[leaderKey]leaderEntry{}}

type leaderEntry struct {
	parts []kafka.Partition
	at    time.Time
}

type leaderCache struct {
	mu sync.Mutex
	m  map[leaderKey]leaderEntry
}

// get is partition id's descriptor from a lookup of the last leaderTTL, if it
// has a leader.
func (c *leaderCache) get(k leaderKey, id int) (kafka.Partition, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || time.Since(e.at) > leaderTTL {
		return kafka.Partition{}, false
	}
	for _, p := range e.parts {
		if p.ID == id && p.Leader.ID >= 0 && p.Leader.Host != "" && p.Leader.Port > 0 {
			return p, true
		}
	}
	return kafka.Partition{}, false
}

func (c *leaderCache) put(k leaderKey, parts []kafka.Partition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = leaderEntry{parts: parts, at: time.Now()}
}

func (c *leaderCache) forget(k leaderKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
}

// handle decides what a failed fetch means; it reports whether to fetch
// again at once (true) or to return to the caller first (false).
func (f *connFetcher) handle(ctx context.Context, conn *kafka.Conn, err error) bool {
	switch {
	case ctx.Err() != nil:
		return false
	case errors.Is(err, kafka.RequestTimedOut):
		// Nothing within the broker's wait: fetch again.
		f.failures = 0
		return false
	case errors.Is(err, kafka.OffsetOutOfRange):
		conn.SetDeadline(time.Now().Add(readTimeout))
		first, last, oerr := conn.ReadOffsets()
		conn.SetDeadline(time.Time{})
		if oerr != nil {
			f.drop(conn)
			f.fail("reading the partition's offsets failed; retrying", oerr)
			return true
		}
		next := f.next.Load()
		switch {
		case next < first:
			f.log.Warn("the next offset is no longer in the partition (deleted by retention); skipping to the first offset",
				"next_offset", next, "first_offset", first, "skipped", first-next)
			f.next.Store(first)
			conn.Seek(first, kafka.SeekAbsolute|kafka.SeekDontCheck)
			f.failures = 0
			return true
		case next < last:
			f.failures = 0
			return true
		default:
			// Past the end (the partition was recreated, or its leader is
			// behind): wait and try again.
			f.fail("the next offset is past the partition's end; retrying", err)
			return false
		}
	default:
		// Leader change, broker restart, connection lost, or another
		// broker error: reconnect (to the leader of now) after a backoff.
		f.drop(conn)
		f.fail("fetch failed; retrying", err)
		return false
	}
}

// drop closes conn; the next Read connects again, to the leader a new
// lookup names (the cached one may be why the fetch failed).
func (f *connFetcher) drop(conn *kafka.Conn) {
	leaders.forget(f.leaderKey())
	conn.Close()
	f.mu.Lock()
	if f.conn == conn {
		f.conn = nil
	}
	f.mu.Unlock()
}

// fail counts a failure; the first ones are routine (a leader moving) and
// logged at debug level, from the third on at warn.
func (f *connFetcher) fail(msg string, err error) {
	f.failures++
	lvl := slog.LevelDebug
	if f.failures >= 3 {
		lvl = slog.LevelWarn
	}
	f.log.Log(context.Background(), lvl, msg, "next_offset", f.next.Load(), "attempt", f.failures, "error", kafkaadmin.Hint(err).Error())
}

func backoff(attempt int) time.Duration {
	d := backoffMin << min(attempt-1, 10)
	return min(d, backoffMax)
}

// dialSpacing is the least time between two leader dials of the process.
// Many integrations starting behind each open a catch-up reader per
// partition at once (100 × 4 connections, each dial two TCP connections:
// bootstrap and leader); unpaced, that burst overflows the broker's accept
// backlog (socket.listen.backlog.size, 50 by default), the dials time out
// and retry together. Paced, 400 readers are connected in about 8 s.
const dialSpacing = 20 * time.Millisecond

var dialGate struct {
	mu   sync.Mutex
	next time.Time
}

// paceDial waits for the process's next dial slot (or ctx). A waiter takes
// a slot only when it is due, so waiters that give up (their ctx ended) do
// not push the slots of the others into the future.
func paceDial(ctx context.Context) error {
	for {
		dialGate.mu.Lock()
		now := time.Now()
		if !now.Before(dialGate.next) {
			dialGate.next = now.Add(dialSpacing)
			dialGate.mu.Unlock()
			return ctx.Err()
		}
		wait := dialGate.next.Sub(now)
		dialGate.mu.Unlock()
		if err := sleepCtx(ctx, wait); err != nil {
			return err
		}
	}
}
