package main

// The scaffolding every measurement shares: the exporter's settings and
// environment, the consumer group's state, /metrics scrapes, the active
// time, reading back what a peer wrote, and writing a report.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/hitexport/hitexport/cli"
	"github.com/hitexport/hitexport/config"
	"github.com/hitexport/hitexport/store"
	"github.com/hitexport/hitexport/verify"
)

// exporterVars are the HITEXPORT_* settings of an exporter measurement:
// the services, topic, group, c's format, compression and layout (set
// explicitly: partition unless c says window), key prefix and idle timeout.
// BENCH_SPOOL_DIR, if set, becomes the spool directory.
func exporterVars(e *Env, topic, group string, c Case, prefix string) map[string]string {
	vars := map[string]string{
		"HITEXPORT_KAFKA_BROKERS": e.Brokers, "HITEXPORT_KAFKA_TOPIC": topic, "HITEXPORT_KAFKA_GROUP": group,
		"HITEXPORT_S3_ENDPOINT": e.S3Endpoint, "HITEXPORT_S3_BUCKET": e.Bucket,
		"HITEXPORT_S3_ACCESS_KEY": e.AccessKey, "HITEXPORT_S3_SECRET_KEY": e.SecretKey,
		"HITEXPORT_FORMAT": c.Format, "HITEXPORT_COMPRESSION": c.Compression, "HITEXPORT_LAYOUT": c.layout(),
		"HITEXPORT_KEY_PREFIX": prefix, "HITEXPORT_IDLE_TIMEOUT": e.IdleTimeout.String(),
	}
	if d := os.Getenv("BENCH_SPOOL_DIR"); d != "" {
		vars["HITEXPORT_SPOOL_DIR"] = d
	}
	return vars
}

// childEnv is this process's environment without any HITEXPORT_* variable,
// plus vars.
func childEnv(vars map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HITEXPORT_") {
			env = append(env, kv)
		}
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

// groupStable reports whether Kafka says group is Stable.
func groupStable(ctx context.Context, client *kafka.Client, group string) bool {
	resp, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	return err == nil && len(resp.Groups) == 1 && resp.Groups[0].GroupState == "Stable"
}

// activeSpan is stable → done less the exporter's idle wait: after its last
// record (lastRead) the exporter waits IDLE_TIMEOUT by design before it
// closes the last window of a replay — a wait, not work; the uploads and
// commits after it stay in.
func activeSpan(stable, lastRead, done time.Time, idle time.Duration) time.Duration {
	active := done.Sub(stable)
	if tailWait := done.Sub(lastRead); tailWait > idle {
		active -= idle
	} else {
		active -= tailWait
	}
	return active
}

// metricSum sums the samples of a Prometheus metric (all label sets) at
// url, or -1 when it cannot be read.
func metricSum(url, name string) int64 {
	v, ok := metricSums(url, false, name)[name]
	if !ok {
		return -1
	}
	return int64(v)
}

// metricSums is metricSum of several metrics in one scrape; a metric that
// could not be read is missing from the map. plain asks for the text
// exposition without gzip (the measured process pays for the scrape; with
// 100 integrations /metrics has thousands of series); otherwise Go's
// client asks for gzip, as it always has for the main table.
func metricSums(url string, plain bool, names ...string) map[string]float64 {
	out := map[string]float64{}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return out
	}
	if plain {
		req.Header.Set("Accept-Encoding", "identity")
	}
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	for _, n := range names {
		out[n] = 0
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		for _, n := range names {
			if strings.HasPrefix(l, n+"{") || strings.HasPrefix(l, n+" ") {
				f := strings.Fields(l)
				v, _ := strconv.ParseFloat(f[len(f)-1], 64)
				out[n] += v
			}
		}
	}
	return out
}

// consumed is the exporter's hitexport_records_consumed_total (all
// partitions), or -1; consumedPlain the same without gzip.
func consumed(url string) int64 { return metricSum(url, "hitexport_records_consumed_total") }

func consumedPlain(url string) int64 {
	v, ok := metricSums(url, true, "hitexport_records_consumed_total")["hitexport_records_consumed_total"]
	if !ok {
		return -1
	}
	return int64(v)
}

// checkLines reads back every object a peer wrote under prefix, counts its
// lines into r (objects, bytes, Checked), requires between the valid hits
// and all hits of l, and deletes the objects (unless BENCH_KEEP=1).
func checkLines(e *Env, r *Result, prefix string, l Load, who string) error {
	lines, objects, size, keys, err := countLines(e, prefix)
	if err != nil {
		return err
	}
	r.Objects, r.OutBytes = objects, size
	r.Checked = fmt.Sprintf("%d lines in %d objects", lines, objects)
	if lines < l.Valid || lines > l.Hits {
		return fmt.Errorf("%s wrote %d lines; produced %d records, %d valid", who, lines, l.Hits, l.Valid)
	}
	b, err := e.bucket()
	if err != nil {
		return err
	}
	return e.cleanup(b, keys)
}

// listPrefix lists every object under prefix.
func listPrefix(e *Env, prefix string) (*store.S3, []store.ObjectInfo, error) {
	b, err := e.bucket()
	if err != nil {
		return nil, nil, err
	}
	var objs []store.ObjectInfo
	err = b.List(context.Background(), prefix, func(o store.ObjectInfo) error {
		objs = append(objs, o)
		return nil
	})
	return b, objs, err
}

// writeJSONReport writes rep as <name>-<run id>.json and <name>-latest.json
// (latest.json for the main report) under the results directory.
func writeJSONReport(e *Env, name, latest string, rep any) (string, error) {
	if err := os.MkdirAll(e.Out, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(e.Out, name+"-"+e.RunID+".json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return "", err
	}
	return path, os.WriteFile(filepath.Join(e.Out, latest), b, 0o644)
}

// watch polls a measured child every 50 ms until step says it is done:
// it fails when ctx ends or the child exits early, samples the child's peak
// RSS each time and notes when the consumer group was first Stable (the
// start of consumption; the child's start if never seen).
type watch struct {
	ctx    context.Context
	p      *proc
	client *kafka.Client
	group  string
	stable time.Time
}

func newWatch(ctx context.Context, e *Env, p *proc, group string) *watch {
	client := kafkaClient(e)
	client.Timeout = 10 * time.Second
	return &watch{ctx: ctx, p: p, client: client, group: group}
}

func (w *watch) run(step func(now time.Time) (done bool, err error)) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return fmt.Errorf("not done in time: %w", w.ctx.Err())
		case <-tick.C:
		}
		if gone, werr := w.p.exited(); gone {
			return fmt.Errorf("process exited early: %v", werr)
		}
		w.p.sampleHWM()
		now := time.Now()
		if w.stable.IsZero() && groupStable(w.ctx, w.client, w.group) {
			w.stable = now
		}
		done, err := step(now)
		if err != nil {
			return err
		}
		if done {
			if w.stable.IsZero() {
				w.stable = w.p.start
			}
			return nil
		}
	}
}

// startMeasured runs the broker's idle phase, then starts cmd (its output
// to logPath) and the broker phase key.
func startMeasured(e *Env, cmd *exec.Cmd, logPath, key string, hits int) (*proc, brokerMeter, error) {
	bm := startBroker(e, key, hits)
	p, err := startProc(cmd, logPath)
	return p, bm, err
}

// endBroker closes the broker phase of p and counts the requests p sent
// the broker so far (sentSegments).
func endBroker(e *Env, bm brokerMeter, p *proc) (BrokerPhase, bool, int64) {
	bp, ok := bm.end()
	return bp, ok, sentSegments(p.cmd.Process.Pid, brokerPort(e.Brokers))
}

// startProfiles starts a CPU profile into path and, with
// BENCH_HEAP_PROFILE=FILE, a heap profile at the highest heap seen; stop
// ends both (more calls do nothing).
func startProfiles(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	heapDone := make(chan struct{})
	if hp := os.Getenv("BENCH_HEAP_PROFILE"); hp != "" {
		go peakHeapProfile(hp, heapDone)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			close(heapDone)
			f.Close()
		})
	}, nil
}

// waitAllCommitted polls every interval until the group has committed every
// partition of topic to its end, calling each (when set) before each look.
func waitAllCommitted(ctx context.Context, client *kafka.Client, group, topic string, every time.Duration, each func()) error {
	for {
		if each != nil {
			each()
		}
		offs, err := verify.Offsets(ctx, client, group, topic)
		if err != nil {
			return err
		}
		all := true
		for _, o := range offs {
			all = all && o.Committed == o.End
		}
		if all {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

// buildInProcess wires the exporter in this process (cli.Build, as
// "hitexport run" does) for case c over load l, in a group and key prefix
// of its own named after what; it returns the prefix too.
func buildInProcess(e *Env, l Load, c Case, what string) (*config.Config, *cli.Parts, string, error) {
	name := fmt.Sprintf("%s-%s-%s-%s", e.RunID, what, c.Format, c.Compression)
	prefix := "hitbench/" + name + "/"
	vars := exporterVars(e, l.Topic, "hitbench-"+name, c, prefix)
	vars["HITEXPORT_LOG_LEVEL"] = "warn"
	cfg, err := config.Parse(vars)
	if err != nil {
		return nil, nil, "", err
	}
	parts, err := cli.Build(cfg, cli.NewLogger(cfg))
	if err != nil {
		return nil, nil, "", err
	}
	return cfg, parts, prefix, nil
}

// cleanupPrefix deletes the objects under prefix (unless BENCH_KEEP=1).
func cleanupPrefix(e *Env, prefix string) error {
	b, objs, err := listPrefix(e, prefix)
	if err != nil {
		return err
	}
	keys := make([]string, len(objs))
	for i, o := range objs {
		keys[i] = o.Key
	}
	return e.cleanup(b, keys)
}
