package main

// hitbench requests: the Kafka requests a client sends, by kind, counted on
// the client's side. The broker's JMX is not available here, and the
// benchmark's own request figure (TCP data segments, broker.go) does not say
// which requests they are; so this runs the plain read (kafka-go Reader, as
// "hitbench limit") and the exporter (in process, cli.Build, as "hitbench
// profile") over the main load with every connection to the brokers wrapped
// (the Dialer's DialFunc and the Transport's Dial), parses the Kafka framing
// of what is written (size, api key) and read (size; responses come in
// request order on a connection), and prints requests and response bytes per
// api key.

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/hitexport/hitexport/cli"
)

// apiNames are the Kafka api keys a kafka-go client sends.
var apiNames = map[int16]string{
	0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit", 9: "OffsetFetch",
	10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat", 13: "LeaveGroup", 14: "SyncGroup",
	15: "DescribeGroups", 18: "ApiVersions", 19: "CreateTopics", 20: "DeleteTopics",
}

func apiName(k int16) string {
	if n, ok := apiNames[k]; ok {
		return n
	}
	return fmt.Sprintf("api%d", k)
}

// apiStat is what was sent and received for one api key.
type apiStat struct {
	Requests  int64 `json:"requests"`
	RespBytes int64 `json:"response_bytes"`
	MaxResp   int64 `json:"max_response_bytes"`
	// Responses counts responses whose size was read; Small those under
	// 64 KiB (for fetches: a fetch that came back nearly empty).
	Responses int64 `json:"responses"`
	Small     int64 `json:"small_responses"`
}

// kafkaTap counts the requests and responses on every connection it wraps.
type kafkaTap struct {
	mu    sync.Mutex
	stats map[int16]*apiStat
	conns int64
	reads int64 // Read calls on the wrapped connections (socket reads)
	rbyte int64
}

func newKafkaTap() *kafkaTap { return &kafkaTap{stats: map[int16]*apiStat{}} }

// snapshot copies the counts.
func (t *kafkaTap) snapshot() (map[int16]apiStat, int64, int64, int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[int16]apiStat, len(t.stats))
	for k, v := range t.stats {
		out[k] = *v
	}
	return out, t.conns, t.reads, t.rbyte
}

func (t *kafkaTap) stat(k int16) *apiStat {
	s := t.stats[k]
	if s == nil {
		s = &apiStat{}
		t.stats[k] = s
	}
	return s
}

// dial wraps d (net.Dialer's DialContext when nil).
func (t *kafkaTap) dial(d func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if d == nil {
		d = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		t.mu.Lock()
		t.conns++
		t.mu.Unlock()
		return &tapConn{Conn: c, t: t}, nil
	}
}

// dialer is d (kafka-go's defaults when nil) with its connections tapped.
func (t *kafkaTap) dialer(d *kafka.Dialer) *kafka.Dialer {
	var nd kafka.Dialer
	if d != nil {
		nd = *d
	} else {
		nd = kafka.Dialer{Timeout: 10 * time.Second, DualStack: true}
	}
	nd.DialFunc = t.dial(nd.DialFunc)
	return &nd
}

// transport is tr (kafka-go's defaults when nil) with its connections tapped.
func (t *kafkaTap) transport(tr *kafka.Transport) *kafka.Transport {
	nt := &kafka.Transport{}
	if tr != nil {
		nt = &kafka.Transport{Dial: tr.Dial, DialTimeout: tr.DialTimeout, IdleTimeout: tr.IdleTimeout, MetadataTTL: tr.MetadataTTL,
			MetadataTopics: tr.MetadataTopics, ClientID: tr.ClientID, TLS: tr.TLS, SASL: tr.SASL, Context: tr.Context}
	}
	nt.Dial = t.dial(nt.Dial)
	return nt
}

// framer follows the Kafka framing of one direction of a connection: a
// 4-byte size, then that many bytes.
type framer struct {
	head []byte // the current frame's first bytes, up to 6 (size, api key)
	left int64  // bytes of the current frame's body still to come
	size int64
}

// feed consumes p and calls done for every frame whose head is complete
// (size and, for requests, the api key) and end for every frame complete.
func (f *framer) feed(p []byte, want int, start func(size int64, head []byte), end func(size int64)) {
	for len(p) > 0 {
		if f.left > 0 {
			n := min(int64(len(p)), f.left)
			f.left -= n
			p = p[n:]
			if f.left == 0 {
				end(f.size)
			}
			continue
		}
		n := min(want-len(f.head), len(p))
		f.head = append(f.head, p[:n]...)
		p = p[n:]
		if len(f.head) < want {
			return
		}
		f.size = int64(binary.BigEndian.Uint32(f.head[:4]))
		start(f.size, f.head)
		f.left = f.size - int64(want-4)
		f.head = f.head[:0]
		if f.left <= 0 {
			f.left = 0
			end(f.size)
		}
	}
}

// tapConn parses what passes through a connection.
type tapConn struct {
	net.Conn
	t        *kafkaTap
	mu       sync.Mutex
	pending  []int16 // api keys of the requests sent and not yet answered
	wf, rf   framer
	respKey  int16
	respSize int64
}

func (c *tapConn) Write(p []byte) (int, error) {
	// Parsed before it is sent: the request is pending before its answer
	// can come.
	c.mu.Lock()
	c.wf.feed(p, 6, func(_ int64, head []byte) {
		k := int16(binary.BigEndian.Uint16(head[4:6]))
		c.pending = append(c.pending, k)
		c.t.mu.Lock()
		c.t.stat(k).Requests++
		c.t.mu.Unlock()
	}, func(int64) {})
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.t.mu.Lock()
	c.t.reads++
	c.t.rbyte += int64(n)
	c.t.mu.Unlock()
	c.rf.feed(p[:n], 4, func(size int64, _ []byte) {
		c.respKey = -1
		if len(c.pending) > 0 {
			c.respKey = c.pending[0]
			c.pending = c.pending[1:]
		}
		c.respSize = size
	}, func(size int64) {
		c.t.mu.Lock()
		s := c.t.stat(c.respKey)
		s.Responses++
		s.RespBytes += size + 4
		s.MaxResp = max(s.MaxResp, size+4)
		if size+4 < 64<<10 {
			s.Small++
		}
		c.t.mu.Unlock()
	})
	c.mu.Unlock()
	return n, err
}

// printTap prints one client's counts per api key.
func printTap(name string, hits int, st map[int16]apiStat, conns, reads, rbytes int64) {
	fmt.Printf("\n%s: %d connections, %d socket reads (%.1f KiB each on average)\n", name, conns, reads, float64(rbytes)/1024/float64(max(reads, 1)))
	tw := tabwriter.NewWriter(os.Stdout, 2, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "request\trequests\tper 1M hits\tresponse MiB\tKiB per response\tlargest KiB\tunder 64 KiB\t")
	var keys []int16
	var total int64
	for k, s := range st {
		keys = append(keys, k)
		total += s.Requests
	}
	sort.Slice(keys, func(i, j int) bool { return st[keys[i]].Requests > st[keys[j]].Requests })
	for _, k := range keys {
		s := st[k]
		per := 0.0
		if s.Responses > 0 {
			per = float64(s.RespBytes) / 1024 / float64(s.Responses)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.1f\t%.1f\t%.1f\t%d\t\n", apiName(k), s.Requests, float64(s.Requests)*1e6/float64(hits),
			float64(s.RespBytes)/(1<<20), per, float64(s.MaxResp)/1024, s.Small)
	}
	fmt.Fprintf(tw, "all\t%d\t%.0f\t\t\t\t\t\n", total, float64(total)*1e6/float64(hits))
	tw.Flush()
}

// cmdRequests: hitbench requests FORMAT/COMPRESSION — the plain read's and
// the exporter's requests by kind over the main load (in process, tapped).
func cmdRequests(e *Env, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: hitbench requests FORMAT/COMPRESSION")
	}
	c := parseCases(args[0])[0]
	l, err := ensureTopic(e, mainLoad(e))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.Timeout)
	defer cancel()

	// The plain read, as "hitbench limit" reads.
	lt := newKafkaTap()
	lr, err := readLimit(ctx, e.Brokers, l.Topic, lt.dialer(nil))
	if err != nil {
		return err
	}
	st, conns, reads, rb := lt.snapshot()
	fmt.Printf("topic %s: %d hits, %d partitions\n", l.Topic, l.Hits, l.Partitions)
	printTap(fmt.Sprintf("kafka-go Reader (limit): %d records in %.2fs, ReaderStats.Fetches %d", lr.Records,
		time.Duration(lr.DoneNs-lr.StartNs).Seconds(), lr.Fetches), l.Hits, st, conns, reads, rb)

	// The exporter, as "hitbench profile" runs it.
	cfg, parts, prefix, err := buildInProcess(e, l, c, "requests")
	if err != nil {
		return err
	}
	xt := newKafkaTap()
	parts.Group.Kafka.Dialer = xt.dialer(parts.Group.Kafka.Dialer)
	parts.Group.Kafka.Transport = xt.transport(parts.Group.Kafka.Transport)
	stop := make(chan struct{})
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- parts.Group.Run(stop) }()
	client := kafkaClient(e)
	var atLast map[int16]apiStat
	var lastConns, lastReads, lastBytes int64
	var lastAt time.Duration
	if err := waitAllCommitted(ctx, client, cfg.KafkaGroup, l.Topic, 50*time.Millisecond, func() {
		if atLast == nil && consumedInProcess(parts) >= float64(l.Hits) {
			atLast, lastConns, lastReads, lastBytes = xt.snapshot()
			lastAt = time.Since(start)
		}
	}); err != nil {
		return err
	}
	elapsed := time.Since(start)
	st, conns, reads, rb = xt.snapshot()
	close(stop)
	if err := <-done; err != nil {
		return err
	}
	if atLast != nil {
		printTap(fmt.Sprintf("hitexport %s until its last record read (%.2fs)", c, lastAt.Seconds()), l.Hits, atLast, lastConns, lastReads, lastBytes)
	}
	printTap(fmt.Sprintf("hitexport %s until every offset committed (%.2fs, incl. the %s idle wait)", c, elapsed.Seconds(), e.IdleTimeout),
		l.Hits, st, conns, reads, rb)
	return cleanupPrefix(e, prefix)
}

// consumedInProcess is the in-process exporter's hitexport_records_consumed_total.
func consumedInProcess(parts *cli.Parts) float64 {
	mfs, err := parts.Registry.Gather()
	if err != nil {
		return 0
	}
	var n float64
	for _, mf := range mfs {
		if !strings.HasSuffix(mf.GetName(), "records_consumed_total") {
			continue
		}
		for _, m := range mf.GetMetric() {
			n += m.GetCounter().GetValue()
		}
	}
	return n
}
