package main

// The integrations benchmark (issue 10 § Benchmark): the exporter with 1, 10
// and 100 integrations, each selecting 1/N of the hits by application_id,
// and with 10 integrations all selecting every hit, on one topic whose hits
// carry BENCH_INT_APPS (100) distinct application ids. The exporter runs in
// HITEXPORT_REGISTRY=file:PATH mode with a YAML registry the bench writes;
// every integration writes to the bench bucket under its own key_prefix.
// A round ends when every integration's consumer group
// (cli.IntegrationGroup: "<group>.<id>") has committed the end offset of
// every partition; the bucket is then checked: each integration holds
// exactly the hits its filter selects.
//
// Reading should not grow with N: one extra, in-process round per case
// (hitbench intexporter, cli.Run under a CPU profile) attributes the CPU to
// read (kafka-go), decode + select, encode + compress (with the spool),
// upload, the pipeline's own bookkeeping and the runtime.
//
//	BENCH_INTEGRATIONS=1        0 skips it (hitbench run); `hitbench integrations` runs only it
//	BENCH_INT_HITS=BENCH_HITS   hits in its topic            BENCH_INT_APPS=100  distinct application ids
//	BENCH_INT_CASES=1,10,100,all10   N integrations selecting 1/N each; allN: N selecting everything
//	BENCH_INT_CASE=ndjson/zstd  every integration's format/compression
//	BENCH_INT_PROFILE=1         0 skips the profiled round (and the share columns)
//	BENCH_REPEAT                rounds (shared with the main table)

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hitexport/hitexport/cli"
	"github.com/hitexport/hitexport/config"
	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/kafkaadmin"
)

// intCase is N integrations, each selecting 1/N of the hits, or (All) each
// selecting every hit.
type intCase struct {
	N   int
	All bool
}

func (c intCase) String() string {
	if c.All {
		return fmt.Sprintf("all%d", c.N)
	}
	return strconv.Itoa(c.N)
}

func (c intCase) selects() string {
	if c.All {
		return "all"
	}
	return fmt.Sprintf("1/%d", c.N)
}

// deliveries is how many integrations receive a hit.
func (c intCase) deliveries() int {
	if c.All {
		return c.N
	}
	return 1
}

type intEnv struct {
	On      bool
	Hits    int
	Apps    int
	Cases   []intCase
	Layout  Case
	Profile bool
	Go      string
}

func loadIntEnv(e *Env) intEnv {
	ie := intEnv{
		On:      getenv("BENCH_INTEGRATIONS", "1") != "0",
		Hits:    atoi("BENCH_INT_HITS", e.Hits),
		Apps:    atoi("BENCH_INT_APPS", 100),
		Profile: getenv("BENCH_INT_PROFILE", "1") != "0",
		Go:      getenv("GO", "go"),
	}
	for _, p := range strings.Split(getenv("BENCH_INT_CASES", "1,10,100,all10"), ",") {
		p = strings.TrimSpace(p)
		c := intCase{}
		if rest, ok := strings.CutPrefix(p, "all"); ok {
			c.All, p = true, rest
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			fail("BENCH_INT_CASES: %q is not N or allN", p)
		}
		c.N = n
		if !c.All && (n > ie.Apps || ie.Apps%n != 0) {
			fail("BENCH_INT_CASES: %d integrations cannot each select 1/%d of %d application ids (BENCH_INT_APPS)", n, n, ie.Apps)
		}
		ie.Cases = append(ie.Cases, c)
	}
	lc := parseCases(getenv("BENCH_INT_CASE", "ndjson/zstd"))
	if len(lc) != 1 {
		fail("BENCH_INT_CASE: one format/compression")
	}
	ie.Layout = lc[0]
	if ie.Hits < 1 || ie.Apps < 1 {
		fail("BENCH_INT_HITS and BENCH_INT_APPS must be at least 1")
	}
	return ie
}

// intLoad is the main load's shape with Apps distinct application ids.
func intLoad(e *Env, ie intEnv) Load {
	l := mainLoad(&Env{Hits: ie.Hits, Partitions: e.Partitions, Seed: e.Seed, Late: e.Late, Bad: e.Bad, Span: e.Span})
	l.Apps = ie.Apps
	l.Topic = fmt.Sprintf("hitbench-apps%d-n%d-p%d-s%d-l%g-b%g-%s", ie.Apps, ie.Hits, e.Partitions, e.Seed, e.Late, e.Bad, e.Span)
	return l
}

// IntResult is one case of the integrations table (the median round).
type IntResult struct {
	Result
	Integrations int    `json:"integrations"`
	Selects      string `json:"selects"`
	// Deliveries: hits delivered in all (sum over integrations).
	Deliveries int `json:"deliveries"`
	// Detaches: "target detached from the shared read" log lines (a target
	// reading on its own reader: reading that grows with N), whether at
	// assignment (far behind the shared read's start) or while running.
	Detaches int `json:"detaches"`
	// Rejoins: "target caught up and rejoined the shared read" log lines
	// (catch-up readers that reached the shared read; a build whose
	// start-detached targets logged no detach line still shows them).
	Rejoins int `json:"rejoins"`
	// Shares of the exporter's CPU by part, from the profiled round.
	Shares      map[string]float64 `json:"cpu_shares,omitempty"`
	ProfileFile string             `json:"profile,omitempty"`
	// ReadCPUPer1M: CPU seconds per million hits in the read path, from the
	// profiled round's samples (not from the shares × this row's CPU).
	ReadCPUPer1M float64 `json:"read_cpu_seconds_per_million_hits,omitempty"`
	// ProfileCPUPer1M: the profiled round's own CPU s/1M (its rusage).
	ProfileCPUPer1M float64 `json:"profiled_round_cpu_seconds_per_million_hits,omitempty"`
	// LimitSamples: the kafka-go read limit of the same round.
	LimitSamples []float64 `json:"limit_samples_hits_per_second,omitempty"`
	// CPUSamples: CPU s/1M of every round; CPUMedian their median (the
	// table's CPU column: steadier than the median-by-hits/s round's).
	CPUSamples []float64 `json:"cpu_samples_seconds_per_million_hits,omitempty"`
	CPUMedian  float64   `json:"cpu_median_seconds_per_million_hits,omitempty"`
}

// IntReport is what the integrations benchmark writes to .local/bench/.
type IntReport struct {
	Started  time.Time   `json:"started"`
	Finished time.Time   `json:"finished"`
	Machine  Machine     `json:"machine"`
	Command  string      `json:"command"`
	Settings any         `json:"settings"`
	Load     Load        `json:"load"`
	Limit    Result      `json:"limit"`
	Results  []IntResult `json:"results"`
}

// cmdIntegrations is `hitbench integrations`.
func cmdIntegrations(e *Env) error {
	ie := loadIntEnv(e)
	ie.On = true
	return runIntegrations(e, ie)
}

// integrationsStep is the integrations benchmark as part of `hitbench run`
// (BENCH_INTEGRATIONS=0 skips it).
func integrationsStep(e *Env) error {
	ie := loadIntEnv(e)
	if !ie.On {
		return nil
	}
	return runIntegrations(e, ie)
}

func runIntegrations(e *Env, ie intEnv) error {
	rep := &IntReport{Started: time.Now().UTC(), Machine: machine(), Command: strings.Join(os.Args, " "),
		Settings: map[string]any{"hits": ie.Hits, "applications": ie.Apps, "partitions": e.Partitions, "cases": fmt.Sprint(ie.Cases),
			"layout": ie.Layout.String(), "repeat": e.Repeat, "profile": ie.Profile, "exporter_idle_timeout": e.IdleTimeout.String()}}
	if _, err := os.Stat(e.Exporter); err != nil {
		return fmt.Errorf("exporter binary: %w (make build)", err)
	}
	if _, err := e.bucket(); err != nil {
		return fmt.Errorf("bucket %s: %w", e.Bucket, err)
	}
	l, err := ensureTopic(e, intLoad(e, ie))
	if err != nil {
		return err
	}
	rep.Load = l
	perApp, err := appCounts(l)
	if err != nil {
		return err
	}
	var limits []Result
	rounds := map[intCase][]IntResult{}
	for i := 0; i < e.Repeat; i++ {
		logf("integrations round %d/%d: limit", i+1, e.Repeat)
		r, err := runLimit(e, l)
		if err != nil {
			return err
		}
		logf("  %s: %.0f hits/s, %.1f CPU s/1M", r.Name, r.HitsPerSec, r.CPUPer1M)
		limits = append(limits, r)
		for _, c := range ie.Cases {
			r, err := runIntCase(e, ie, l, c, perApp, fmt.Sprintf("r%d", i+1), "")
			if err != nil {
				return err
			}
			logf("  %d integrations selecting %s: %.0f hits/s, %.2f CPU s/1M, %.0f MiB, %d objects, %d detaches, %d rejoins (%s)",
				c.N, c.selects(), r.HitsPerSec, r.CPUPer1M, r.PeakRSSMiB, r.Objects, r.Detaches, r.Rejoins, r.Checked)
			rounds[c] = append(rounds[c], r)
		}
	}
	rep.Limit = median(limits)
	for _, c := range ie.Cases {
		m := medianInt(rounds[c])
		for _, lr := range limits {
			m.LimitSamples = append(m.LimitSamples, round(lr.HitsPerSec, 0))
		}
		if ie.Profile {
			pf := filepath.Join(e.Out, "profiles", fmt.Sprintf("%s-integrations-%s.pprof", e.RunID, c))
			pr, err := runIntCase(e, ie, l, c, perApp, "prof", pf)
			if err != nil {
				return err
			}
			var sampled float64
			if m.Shares, sampled, err = cpuShares(ie.Go, pf); err != nil {
				logf("  profile of %s: %v (no share columns)", c, err)
			} else {
				m.ProfileFile = pf
				m.ReadCPUPer1M = m.Shares["read"] * sampled / float64(l.Hits) * 1e6
				m.ProfileCPUPer1M = pr.CPUPer1M
				logf("  profiled round, %d integrations selecting %s: %.0f hits/s, %.2f CPU s/1M; shares %s",
					c.N, c.selects(), pr.HitsPerSec, pr.CPUPer1M, fmtShares(m.Shares))
			}
		}
		rep.Results = append(rep.Results, m)
	}
	rep.Finished = time.Now().UTC()
	printIntReport(os.Stdout, rep)
	return writeIntReport(e, rep)
}

func medianInt(rs []IntResult) IntResult {
	var base []Result
	for _, r := range rs {
		base = append(base, r.Result)
	}
	m := median(base)
	var cpus []float64
	for _, r := range rs {
		cpus = append(cpus, round(r.CPUPer1M, 2))
	}
	out := IntResult{Result: m}
	for _, r := range rs {
		if r.Result.HitsPerSec == m.HitsPerSec {
			out = r
			out.Result = m
			break
		}
	}
	out.CPUSamples = cpus
	out.CPUMedian = medianOf(cpus)
	return out
}

func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// cpuRatio is the median over rounds of a's CPU s/1M over b's in the same
// round.
func cpuRatio(a, b IntResult) float64 {
	if len(a.CPUSamples) == 0 || len(a.CPUSamples) != len(b.CPUSamples) {
		return a.CPUPer1M / b.CPUPer1M
	}
	var rs []float64
	for i := range a.CPUSamples {
		if b.CPUSamples[i] > 0 {
			rs = append(rs, a.CPUSamples[i]/b.CPUSamples[i])
		}
	}
	return medianOf(rs)
}

// appCounts counts the valid hits of the load per application id (the load
// is a pure function of its settings: generated again, not read back).
func appCounts(l Load) (map[int]int, error) {
	out := map[int]int{}
	key := []byte(`"application_id":[`)
	err := l.chunks(func(recs []gen.Record) error {
		for _, r := range recs {
			if !r.Expect.Valid {
				continue
			}
			i := bytes.Index(r.Value, key)
			if i < 0 {
				return fmt.Errorf("a generated hit without application_id: %.80s", r.Value)
			}
			rest := r.Value[i+len(key):]
			j := bytes.IndexAny(rest, ",]")
			id, err := strconv.Atoi(string(rest[:j]))
			if err != nil {
				return fmt.Errorf("application_id %q: %v", rest[:j], err)
			}
			out[id]++
		}
		return nil
	})
	return out, err
}

// intItem is one integration of the registry file (registry.File's YAML).
type intItem struct {
	ID          string `yaml:"id"`
	Name        string `yaml:"name"`
	Destination struct {
		Endpoint  string `yaml:"endpoint"`
		Bucket    string `yaml:"bucket"`
		AccessKey string `yaml:"access_key"`
		SecretKey string `yaml:"secret_key"`
	} `yaml:"destination"`
	Format      string `yaml:"format"`
	Compression string `yaml:"compression"`
	KeyPrefix   string `yaml:"key_prefix"`
	Filter      struct {
		Topic string           `yaml:"topic"`
		Match map[string][]any `yaml:"match,omitempty"`
	} `yaml:"filter"`
	Start string `yaml:"start"`
}

// intApps are the application ids integration i of c selects (nil: all).
func intApps(c intCase, apps, i int) []int {
	if c.All {
		return nil
	}
	var ids []int
	for a := 1; a <= apps; a++ {
		if a%c.N == i {
			ids = append(ids, a)
		}
	}
	return ids
}

// runIntCase runs the exporter (bin/hitexport; with profile set, hitbench
// intexporter with a CPU profile) with c's integrations until every
// integration's group has committed the end offsets, then checks and
// empties the bucket and deletes the groups.
func runIntCase(e *Env, ie intEnv, l Load, c intCase, perApp map[int]int, tag, profile string) (IntResult, error) {
	name := fmt.Sprintf("%s-int-%s-%s", e.RunID, c, tag)
	root := "hitbench/" + name + "/"
	group := "hitbench-" + name
	dir := filepath.Join(e.Out, "int-runs", name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return IntResult{}, err
	}
	var items []intItem
	want := map[string]int{}
	for i := 0; i < c.N; i++ {
		var it intItem
		it.ID = fmt.Sprintf("b%03d", i)
		it.Name = it.ID
		it.Destination.Endpoint, it.Destination.Bucket = e.S3Endpoint, e.Bucket
		it.Destination.AccessKey, it.Destination.SecretKey = e.AccessKey, e.SecretKey
		it.Format, it.Compression = ie.Layout.Format, ie.Layout.Compression
		it.KeyPrefix = root + it.ID + "/"
		it.Filter.Topic = l.Topic
		it.Start = "earliest"
		if ids := intApps(c, ie.Apps, i); ids != nil {
			vals := make([]any, len(ids))
			for k, id := range ids {
				vals[k] = id
				want[it.ID] += perApp[id]
			}
			it.Filter.Match = map[string][]any{"application_id": vals}
		} else {
			want[it.ID] = l.Valid
		}
		items = append(items, it)
	}
	raw, err := yaml.Marshal(items)
	if err != nil {
		return IntResult{}, err
	}
	regPath := filepath.Join(dir, "registry.yaml")
	if err := os.WriteFile(regPath, raw, 0o600); err != nil {
		return IntResult{}, err
	}
	logPath := filepath.Join(e.Out, "logs", name+".log")
	addr := "127.0.0.1:" + strconv.Itoa(freePort())
	vars := exporterVars(e, l.Topic, group, ie.Layout, root+"_deployment/")
	vars["HITEXPORT_REGISTRY"] = "file:" + regPath
	vars["HITEXPORT_HTTP_ADDR"] = addr
	cfg, err := config.Parse(vars)
	if err != nil {
		return IntResult{}, err
	}
	groups := map[string]string{} // group → integration id
	for _, it := range items {
		groups[cli.IntegrationGroup(cfg, it.ID)] = it.ID
	}
	var cmd *exec.Cmd
	if profile == "" {
		cmd = exec.Command(e.Exporter, "run")
	} else {
		self, err := os.Executable()
		if err != nil {
			return IntResult{}, err
		}
		if err := os.MkdirAll(filepath.Dir(profile), 0o755); err != nil {
			return IntResult{}, err
		}
		cmd = exec.Command(self, "intexporter", profile)
	}
	cmd.Env = childEnv(vars)
	p, err := startProc(cmd, logPath)
	if err != nil {
		return IntResult{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.Timeout)
	defer cancel()
	stable, lastRead, done, werr := waitIntegrations(ctx, e, p, group, groups, l, "http://"+addr+"/metrics")
	cpu, rss, _ := p.stop(60 * time.Second)
	defer deleteGroups(e, append(keys(groups), group, group+".rejected"))
	if werr != nil {
		return IntResult{}, fmt.Errorf("exporter with %d integrations: %v\n%s", c.N, werr, tail(logPath, 20))
	}
	active := activeSpan(stable, lastRead, done, e.IdleTimeout)
	r := IntResult{Result: Result{Name: fmt.Sprintf("hitexport %s, %d × %s", ie.Layout, c.N, c.selects()), Kind: "integrations",
		Format: ie.Layout.Format, Compression: ie.Layout.Compression, Topic: l.Topic, Partitions: l.Partitions,
		WallSec: done.Sub(p.start).Seconds(), ActiveSec: active.Seconds(), TailSec: done.Sub(lastRead).Seconds()},
		Integrations: c.N, Selects: c.selects(), Deliveries: l.Valid * c.deliveries(), Detaches: countLogLines(logPath, "detached from the shared read"),
		Rejoins: countLogLines(logPath, "rejoined the shared read")}
	r.finish(l.Hits, l.Bytes, cpu, rss)
	if err := checkIntegrations(e, root, want, &r); err != nil {
		return r, err
	}
	return r, nil
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// waitIntegrations polls until every group of groups has committed the end
// offset of every partition of the topic. It returns when the membership
// group was first seen Stable, when the exporter had read every record
// (hitexport_records_consumed_total; if it never gets there, when the groups
// were seen done) and when the last group finished. Until every record was
// read the groups are polled once a second (the shared read's counter misses
// what a detached target reads on its own reader), then every tick (a few
// OffsetFetch requests per tick, not N), each only until it is done.
func waitIntegrations(ctx context.Context, e *Env, p *proc, membership string, groups map[string]string, l Load, metricsURL string) (stable, lastRead, done time.Time, err error) {
	w := newWatch(ctx, e, p, membership)
	ends, err := endOffsets(ctx, w.client, l.Topic)
	if err != nil {
		return stable, lastRead, done, err
	}
	var parts []int
	for part := range ends {
		parts = append(parts, part)
	}
	sort.Ints(parts)
	pending := keys(groups)
	var lastPoll, lastScrape time.Time
	err = w.run(func(now time.Time) (bool, error) {
		if lastRead.IsZero() {
			if time.Since(lastScrape) < 200*time.Millisecond {
				return false, nil
			}
			lastScrape = now
			n := consumedPlain(metricsURL)
			if n >= int64(l.Hits) {
				lastRead = now
			} else if time.Since(lastPoll) < time.Second {
				// Still reading, or reading where the shared read's counter
				// does not see it (a target that starts detached reads on its
				// own reader), or no metrics yet: poll the groups once a second.
				return false, nil
			}
		}
		lastPoll = now
		var still []string
		for _, g := range pending {
			offs, err := kafkaadmin.FetchCommitted(ctx, w.client, g, l.Topic, parts)
			if err != nil {
				still = append(still, g)
				continue
			}
			ok := true
			for _, part := range parts {
				if c := offs[part]; c.Offset != ends[part] && !(ends[part] == 0 && c.Offset < 0) {
					ok = false
					break
				}
			}
			if !ok {
				still = append(still, g)
			}
		}
		pending = still
		if len(pending) == 0 && lastRead.IsZero() {
			lastRead = now
		}
		return len(pending) == 0, nil
	})
	if err != nil && len(pending) > 0 {
		err = fmt.Errorf("%w (%d groups pending, e.g. %s)", err, len(pending), pending[0])
	}
	return w.stable, lastRead, time.Now(), err
}

func deleteGroups(e *Env, groups []string) {
	if e.Keep {
		return
	}
	client := kafkaClient(e)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, g := range groups {
		_ = kafkaadmin.DeleteGroup(ctx, client, g)
	}
}

// checkIntegrations sums the record counts of each integration's objects
// (under root/<id>/) and compares them with the hits its filter selects;
// then deletes every object of the run unless BENCH_KEEP=1.
func checkIntegrations(e *Env, root string, want map[string]int, r *IntResult) error {
	b, objs, err := listPrefix(e, root)
	if err != nil {
		return err
	}
	ctx := context.Background()
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
		r.Objects++
		r.OutBytes += o.Size
	}
	got := map[string]int{}
	var stray int
	for _, k := range keys {
		id, _, _ := strings.Cut(strings.TrimPrefix(k, root), "/")
		info, err := b.Stat(ctx, k)
		if err != nil {
			return err
		}
		n, _ := strconv.Atoi(info.Metadata["record-count"])
		if _, ok := want[id]; !ok || info.Metadata["kind"] == "rejected" {
			stray += n
			continue
		}
		got[id] += n
	}
	var bad []string
	total := 0
	for id, w := range want {
		total += got[id]
		if got[id] != w {
			bad = append(bad, fmt.Sprintf("%s holds %d, its filter selects %d", id, got[id], w))
		}
	}
	sort.Strings(bad)
	r.Checked = fmt.Sprintf("%d records delivered in %d objects to %d integrations, each exactly its filter's hits", total, len(keys), len(want))
	if len(bad) > 0 || stray > 0 {
		if len(bad) > 3 {
			bad = append(bad[:3], fmt.Sprintf("and %d more", len(bad)-3))
		}
		return fmt.Errorf("%s: %s; %d records outside the integrations' prefixes", r.Name, strings.Join(bad, "; "), stray)
	}
	return e.cleanup(b, keys)
}

// countLogLines counts the lines of a file containing s.
func countLogLines(path, s string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			n++
		}
	}
	return n
}

// cmdIntExporter is `hitbench intexporter OUT.pprof`: "hitexport run" in
// process (cli.Run, configured by the HITEXPORT_* environment) under a CPU
// profile, until SIGTERM.
func cmdIntExporter(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: hitbench intexporter OUT.pprof")
	}
	cfg, err := config.Parse(nil)
	if err != nil {
		return err
	}
	stop, err := startProfiles(args[0])
	if err != nil {
		return err
	}
	// cli.Run stops on the first SIGTERM (its own signal.Notify) and
	// returns: the profile is complete.
	code := cli.Run(cfg)
	stop()
	if code != 0 {
		return fmt.Errorf("exporter exited with %d", code)
	}
	return nil
}

// peakHeapProfile writes a heap profile to path whenever the heap in use
// reaches a new high, until done is closed.
func peakHeapProfile(path string, done <-chan struct{}) {
	var peak uint64
	for {
		select {
		case <-done:
			return
		case <-time.After(100 * time.Millisecond):
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse > peak {
			peak = ms.HeapInuse
			if hf, err := os.Create(path); err == nil {
				_ = pprof.Lookup("heap").WriteTo(hf, 0)
				hf.Close()
			}
		}
	}
}

// shareParts are the CPU attribution's parts, in table order.
var shareParts = []string{"read", "decode+select", "encode+compress", "upload", "offsets", "pipeline", "runtime", "scrape"}

// sharePatterns map a stack frame's function to its part: a sample belongs
// to the part of its innermost frame that matches (runtime, syscall and the
// standard library's plumbing do not match, so an allocation or a read(2)
// counts for the code that asked for it; samples with no matching frame,
// such as the garbage collector's background work and the scheduler, are
// "runtime").
var sharePatterns = []struct{ part, prefix string }{
	// kafka-go's Client (OffsetCommit/OffsetFetch of the per-integration
	// groups, list offsets) and the consumer group's membership: "offsets";
	// its Reader (fetch, record batches): "read".
	{"offsets", "github.com/segmentio/kafka-go/protocol"},
	{"offsets", "github.com/segmentio/kafka-go.(*Client)"},
	{"offsets", "github.com/segmentio/kafka-go.(*Transport)"},
	{"offsets", "github.com/segmentio/kafka-go.(*conn)"},
	{"offsets", "github.com/segmentio/kafka-go.(*connPool)"},
	{"offsets", "github.com/segmentio/kafka-go.(*connGroup)"},
	{"offsets", "github.com/segmentio/kafka-go.(*Generation)"},
	{"offsets", "github.com/segmentio/kafka-go.(*ConsumerGroup)"},
	{"offsets", "github.com/hitexport/hitexport/pipeline.commitOffsets"},
	{"offsets", "github.com/hitexport/hitexport/pipeline.listOffsets"},
	{"offsets", "github.com/hitexport/hitexport/pipeline.(*Group).resumeTarget"},
	{"read", "github.com/segmentio/kafka-go"},
	{"read", "github.com/hitexport/hitexport/pipeline.(*kafkaRecordReader)"},
	{"read", "github.com/hitexport/hitexport/pipeline.(*kafkaLog)"},
	{"decode+select", "github.com/hitexport/hitexport/hits."},
	{"decode+select", "github.com/hitexport/hitexport/internal/jsonscan"},
	{"decode+select", "github.com/hitexport/hitexport/integrations."},
	{"encode+compress", "github.com/hitexport/hitexport/encoders."},
	{"encode+compress", "github.com/klauspost/compress"},
	{"encode+compress", "compress/"},
	{"encode+compress", "github.com/hitexport/hitexport/pipeline.(*Spool)"},
	{"encode+compress", "github.com/hitexport/hitexport/pipeline.(*object)"},
	{"encode+compress", "github.com/hitexport/hitexport/pipeline.(*countingWriter)"},
	{"upload", "github.com/minio/"},
	{"upload", "github.com/hitexport/hitexport/store."},
	{"upload", "net/http."},
	{"upload", "crypto/"},
	{"upload", "github.com/hitexport/hitexport/pipeline.(*Uploader)"},
	{"pipeline", "github.com/hitexport/hitexport/"},
	{"pipeline", "github.com/prometheus/"},
}

func framePart(fn string) string {
	for _, p := range sharePatterns {
		if strings.HasPrefix(fn, p.prefix) {
			return p.part
		}
	}
	return ""
}

// cpuShares attributes a CPU profile to shareParts (`go tool pprof -traces`)
// and returns the seconds sampled.
func cpuShares(goTool, profile string) (map[string]float64, float64, error) {
	out, err := exec.Command(goTool, "tool", "pprof", "-traces", profile).Output()
	if err != nil {
		return nil, 0, fmt.Errorf("go tool pprof -traces: %v", err)
	}
	return parseTraces(bytes.NewReader(out))
}

// parseTraces reads `go tool pprof -traces` output: stacks separated by
// dashed lines, the first line of each "<value> <leaf function>", then one
// function per line towards the root.
func parseTraces(r io.Reader) (map[string]float64, float64, error) {
	sums := map[string]float64{}
	var total float64
	var val float64
	var part string
	inStack, scrape := false, false
	flush := func() {
		if inStack {
			if part == "" {
				part = "runtime"
			}
			if scrape { // the bench's own /metrics polls, wherever they spend
				part = "scrape"
			}
			sums[part] += val
			total += val
		}
		inStack, scrape, part, val = false, false, "", 0
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "-----") {
			flush()
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if !inStack && !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "\t") {
			continue // header lines (File:, Type:, …)
		}
		if !inStack {
			d, err := parseDurationValue(f[0])
			if err != nil || len(f) < 2 {
				continue
			}
			inStack, val = true, d
			f = f[1:]
		}
		if part == "" {
			part = framePart(f[0])
		}
		if strings.HasPrefix(f[0], "github.com/prometheus/client_golang/prometheus/promhttp") {
			scrape = true
		}
	}
	flush()
	if total == 0 {
		return nil, 0, errors.New("empty profile")
	}
	for k := range sums {
		sums[k] /= total
	}
	return sums, total, sc.Err()
}

func parseDurationValue(s string) (float64, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	return d.Seconds(), nil
}

func fmtShares(s map[string]float64) string {
	var out []string
	for _, p := range shareParts {
		out = append(out, fmt.Sprintf("%s %.0f%%", p, 100*s[p]))
	}
	return strings.Join(out, ", ")
}

func printIntReport(w io.Writer, rep *IntReport) {
	m := rep.Machine
	l := rep.Load
	fmt.Fprintf(w, "\nintegrations (issue 10): machine %d CPUs (%s), load %s at start\n", m.CPUs, m.CPUModel, m.Load1)
	fmt.Fprintf(w, "load: topic %s — %d hits (%d valid), %d partitions, %d application ids, avg %.0f B/hit\n",
		l.Topic, l.Hits, l.Valid, l.Partitions, l.Apps, l.AvgBytes)
	if len(rep.Results) == 0 {
		return
	}
	fmt.Fprintf(w, "exporter %s/%s, HITEXPORT_REGISTRY=file:, one key_prefix per integration; medians of %d rounds (hits/s, CPU each);\n"+
		"÷ columns: median of the per-round ratios; RSS, wall, objects, detaches, rejoins: the median-by-hits/s round\n",
		rep.Results[0].Format, rep.Results[0].Compression, len(rep.Limit.Samples))
	base := rep.Results[0]
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "integrations\teach selects\thits/s\tCPU s/1M hits\tCPU ÷ first\tpeak RSS MiB\twall s\tobjects\tdetaches\trejoins\t÷ limit\t"
	if rep.Results[0].Shares != nil {
		head += "read CPU s/1M\tread share\tdecode+select\tencode+compress\tupload\toffsets\tpipeline\truntime/GC\tscrape\t"
	}
	fmt.Fprintln(tw, head)
	lim := rep.Limit
	fmt.Fprintf(tw, "kafka-go read (limit)\t-\t%.0f\t%.2f\t\t%.0f\t%.1f\t\t\t\t\t\n", lim.HitsPerSec, lim.CPUPer1M, lim.PeakRSSMiB, lim.WallSec)
	for _, r := range rep.Results {
		limR := Result{HitsPerSec: lim.HitsPerSec, Samples: r.LimitSamples}
		cpu := r.CPUMedian
		if cpu == 0 {
			cpu = r.CPUPer1M
		}
		line := fmt.Sprintf("%d\t%s\t%.0f\t%.2f\t%.2f\t%.0f\t%.1f\t%d\t%d\t%d\t%.2f\t", r.Integrations, r.Selects, r.HitsPerSec, cpu,
			cpuRatio(r, base), r.PeakRSSMiB, r.WallSec, r.Objects, r.Detaches, r.Rejoins, ratio(&r.Result, &limR))
		if r.Shares != nil {
			line += fmt.Sprintf("%.2f\t", r.ReadCPUPer1M)
			for _, p := range shareParts {
				line += fmt.Sprintf("%.0f%%\t", 100*r.Shares[p])
			}
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
	if rep.Results[0].Shares != nil {
		fmt.Fprintln(w, "read CPU s/1M and shares: CPU profile of one extra in-process round per row (hitbench intexporter, `go tool pprof -traces`):")
		fmt.Fprintln(w, "  a sample counts for the innermost frame that names a part (read: kafka-go Reader; offsets: kafka-go Client, group")
		fmt.Fprintln(w, "  membership and commits; scrape: the bench's /metrics polls; runtime: GC and scheduler with no such frame)")
	}
	fmt.Fprintln(w)
}

func writeIntReport(e *Env, rep *IntReport) error {
	path, err := writeJSONReport(e, "integrations", "integrations-latest.json", rep)
	if err != nil {
		return err
	}
	logf("integrations results written to %s (and integrations-latest.json)", path)
	return nil
}
