package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what a run writes to .local/bench/.
type Report struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Machine  Machine   `json:"machine"`
	Command  string    `json:"command"`
	Settings any       `json:"settings"`
	Load     *Load     `json:"load,omitempty"`
	Results  []Result  `json:"results,omitempty"`
	Scale    []Result  `json:"scale,omitempty"`
	Targets  []Target  `json:"targets,omitempty"`
}

// Target is one of the targets, as measured.
type Target struct {
	Name     string  `json:"name"`
	Value    float64 `json:"value"`
	Want     string  `json:"want"`
	Met      bool    `json:"met"`
	Measured bool    `json:"measured"`
}

func settings(e *Env) map[string]any {
	return map[string]any{
		"hits": e.Hits, "partitions": e.Partitions, "seed": e.Seed, "span": e.Span.String(), "late": e.Late,
		"bad": e.Bad, "cases": fmt.Sprint(e.Cases), "repeat": e.Repeat, "warmup": e.Warmup, "peer": e.Peer,
		"peer_compression": e.PeerComp, "connect_flush_ms": e.FlushMs, "exporter_idle_timeout": e.IdleTimeout.String(),
		"scale": e.Scale, "scale_hits": e.ScaleHits, "scale_partitions": e.ScaleParts, "scale_case": e.ScaleCase.String(),
		"window_case": fmt.Sprint(e.Window), "broker_pid_file": e.BrokerPIDFile, "brokers": e.Brokers,
	}
}

func cmdRun(e *Env) error {
	rep := &Report{Started: time.Now().UTC(), Machine: machine(), Command: strings.Join(os.Args, " "), Settings: settings(e)}
	if _, err := os.Stat(e.Exporter); err != nil {
		return fmt.Errorf("exporter binary: %w (make build)", err)
	}
	if _, err := e.bucket(); err != nil {
		return fmt.Errorf("bucket %s: %w", e.Bucket, err)
	}
	l, err := ensureTopic(e, mainLoad(e))
	if err != nil {
		return err
	}
	rep.Load = &l
	windows := int(math.Ceil(float64(l.Span+time.Minute)/float64(10*time.Minute))) + 1
	maxRecords := l.Hits / (l.Partitions * windows)
	var limits, peers, connects, winRuns []Result
	otel := e.Otel
	if otel {
		if _, err := os.Stat(e.OtelBin); err != nil {
			logf("OTel Collector peer: %v (scripts/bench.sh builds it from bench/otelcol); skipped", err)
			otel = false
		}
	}
	cases := map[string][]Result{}
	for i := 0; i < e.Warmup; i++ {
		logf("warm-up round %d/%d (not recorded): limit and every case", i+1, e.Warmup)
		if _, err := runLimit(e, l); err != nil {
			return err
		}
		for _, c := range e.Cases {
			if _, err := runExporter(e, l, c, fmt.Sprintf("warmup-r%d", i+1)); err != nil {
				return err
			}
		}
	}
	for i := 0; i < e.Repeat; i++ {
		logf("round %d/%d: limit", i+1, e.Repeat)
		r, err := runLimit(e, l)
		if err != nil {
			return err
		}
		logf("  %s: %.0f hits/s, %.1f CPU s/1M, %.0f MiB", r.Name, r.HitsPerSec, r.CPUPer1M, r.PeakRSSMiB)
		limits = append(limits, r)
		for _, c := range e.Cases {
			r, err := runExporter(e, l, c, fmt.Sprintf("main-r%d", i+1))
			if err != nil {
				return err
			}
			logf("  %s: %.0f hits/s, %.1f CPU s/1M, %.0f MiB (%s)", r.Name, r.HitsPerSec, r.CPUPer1M, r.PeakRSSMiB, r.Checked)
			cases[c.String()] = append(cases[c.String()], r)
		}
		if e.Window != nil {
			r, err := runWindow(e, l, *e.Window, fmt.Sprintf("main-r%d", i+1))
			if err != nil {
				return err
			}
			logf("  %s: %.0f hits/s, %.1f CPU s/1M, %.0f MiB, %.1f s from the last commit to exit (%s)", r.Name, r.HitsPerSec, r.CPUPer1M, r.PeakRSSMiB, r.MergeSec, r.Checked)
			winRuns = append(winRuns, r)
		}
		if otel {
			r, err := runOtel(e, l, maxRecords, i+1)
			if err != nil {
				return err
			}
			logf("  %s: %.0f hits/s, %.1f CPU s/1M, %.0f MiB (%s)", r.Name, r.HitsPerSec, r.CPUPer1M, r.PeakRSSMiB, r.Checked)
			peers = append(peers, r)
		}
		if e.Peer {
			r, err := runConnect(e, l, maxRecords, i+1)
			if err != nil {
				return err
			}
			logf("  %s: %.0f hits/s, %.1f CPU s/1M, %.0f MiB (%s)", r.Name, r.HitsPerSec, r.CPUPer1M, r.PeakRSSMiB, r.Checked)
			connects = append(connects, r)
		}
	}
	rep.Results = append(rep.Results, median(limits))
	for _, c := range e.Cases {
		rep.Results = append(rep.Results, median(cases[c.String()]))
	}
	if len(winRuns) > 0 {
		rep.Results = append(rep.Results, median(winRuns))
	}
	if len(peers) > 0 {
		rep.Results = append(rep.Results, median(peers))
	}
	if len(connects) > 0 {
		rep.Results = append(rep.Results, median(connects))
	}
	if e.Scale {
		if rep.Scale, err = scaleRuns(e); err != nil {
			return err
		}
	}
	rep.Targets = targets(rep)
	rep.Finished = time.Now().UTC()
	printReport(os.Stdout, rep)
	if err := writeReport(e, rep); err != nil {
		return err
	}
	return integrationsStep(e)
}

func cmdScale(e *Env) error {
	rep := &Report{Started: time.Now().UTC(), Machine: machine(), Command: strings.Join(os.Args, " "), Settings: settings(e)}
	var err error
	if rep.Scale, err = scaleRuns(e); err != nil {
		return err
	}
	rep.Targets = targets(rep)
	rep.Finished = time.Now().UTC()
	printReport(os.Stdout, rep)
	return writeReport(e, rep)
}

// scaleRuns runs the exporter over loads of N hits (BENCH_SCALE_HITS) all in
// one 10-minute window, spread over P partitions (BENCH_SCALE_PARTITIONS):
// each partition's window holds N/P hits.
func scaleRuns(e *Env) ([]Result, error) {
	var out []Result
	for _, parts := range e.ScaleParts {
		for _, n := range e.ScaleHits {
			l, err := ensureTopic(e, scaleLoad(e, n, parts))
			if err != nil {
				return nil, err
			}
			var rs []Result
			for i := 0; i < e.Repeat; i++ {
				r, err := runExporter(e, l, e.ScaleCase, fmt.Sprintf("scale-p%d-n%d-r%d", parts, n, i+1))
				if err != nil {
					return nil, err
				}
				r.WindowHits = n / parts
				logf("  scale %d partitions, %d hits in one window: %.0f hits/s, %.1f CPU s/1M, %.0f MiB (%s)",
					parts, n, r.HitsPerSec, r.CPUPer1M, r.PeakRSSMiB, r.Checked)
				rs = append(rs, r)
			}
			out = append(out, median(rs))
		}
	}
	return out, nil
}

func find(rs []Result, kind, c string) *Result {
	for i := range rs {
		if rs[i].Kind == kind && (c == "" || rs[i].Format+"/"+rs[i].Compression == c) {
			return &rs[i]
		}
	}
	return nil
}

func targets(rep *Report) []Target {
	var ts []Target
	lim := find(rep.Results, "limit", "")
	peer := find(rep.Results, "peer", "")
	nz := find(rep.Results, "exporter", "ndjson/zstd")
	t := Target{Name: "ndjson+zstd end to end / kafka-go read limit (hits/s)", Want: ">= 0.65"}
	if lim != nil && nz != nil {
		t.Value, t.Measured = ratio(nz, lim), true
		t.Met = t.Value >= 0.65
	}
	ts = append(ts, t)
	t = Target{Name: "ndjson+zstd exporter CPU s per 1M hits", Want: "<= 5.5"}
	if nz != nil {
		t.Value, t.Measured = nz.CPUPer1M, true
		t.Met = t.Value <= 5.5
	}
	ts = append(ts, t)
	t = Target{Name: "broker net CPU per hit: ndjson+zstd exporter / plain read", Want: "<= 1.20"}
	// Medians over rounds of the net figures (raw − idle); not judged when
	// a round's net figure is at or below zero (brokerRatio).
	if v, ok := brokerRatio(nz, lim); ok {
		t.Value, t.Measured = v, true
		t.Met = t.Value <= 1.2
	}
	ts = append(ts, t)
	t = Target{Name: "ocsf+zstd exporter CPU s per 1M hits", Want: "<= 9.0"}
	if oz := find(rep.Results, "exporter", "ocsf/zstd"); oz != nil {
		t.Value, t.Measured = oz.CPUPer1M, true
		t.Met = t.Value <= 9
	}
	ts = append(ts, t)
	t = Target{Name: "ndjson+zstd / OTel Collector peer (hits/s)", Want: ">= 3.0"}
	if peer != nil && nz != nil {
		t.Value, t.Measured = ratio(nz, peer), true
		t.Met = t.Value >= 3
	}
	ts = append(ts, t)
	t = Target{Name: "CPU per hit: ndjson+zstd / OTel Collector peer", Want: "< 1.0"}
	if peer != nil && nz != nil {
		t.Value, t.Measured = nz.CPUPer1M/peer.CPUPer1M, true
		t.Met = t.Value < 1
	}
	ts = append(ts, t)
	// Scaling: the single-partition rows (a window of N hits in one partition).
	var small, big *Result
	for i := range rep.Scale {
		r := &rep.Scale[i]
		if r.Partitions != 1 {
			continue
		}
		if small == nil || r.WindowHits < small.WindowHits {
			small = r
		}
		if big == nil || r.WindowHits > big.WindowHits {
			big = r
		}
	}
	t = Target{Name: "peak RSS with the largest window, 1 partition (MiB)", Want: "<= 150"}
	if big != nil {
		t.Name = fmt.Sprintf("peak RSS with a %d-hit window, 1 partition (MiB)", big.WindowHits)
		t.Value, t.Measured = big.PeakRSSMiB, true
		t.Met = t.Value <= 150
	}
	ts = append(ts, t)
	// Informational: from 100k hits on, the spool (SPOOL_MEMORY) and the fetch
	// pipeline are full, so this is the growth with the window alone.
	var mid *Result
	for i := range rep.Scale {
		r := &rep.Scale[i]
		if r.Partitions == 1 && r != small && r != big && (mid == nil || r.WindowHits > mid.WindowHits) {
			mid = r
		}
	}
	if mid != nil && big != nil {
		ts = append(ts, Target{Name: fmt.Sprintf("(info) peak RSS %d-hit window / %d-hit window, 1 partition", big.WindowHits, mid.WindowHits),
			Want: "-", Value: big.PeakRSSMiB / mid.PeakRSSMiB, Measured: true, Met: true})
	}
	t = Target{Name: "peak RSS largest window / smallest window, 1 partition", Want: "<= 1.20"}
	if big != nil && small != nil && big != small {
		t.Name = fmt.Sprintf("peak RSS %d-hit window / %d-hit window, 1 partition", big.WindowHits, small.WindowHits)
		t.Value, t.Measured = big.PeakRSSMiB/small.PeakRSSMiB, true
		t.Met = t.Value <= 1.2
	}
	ts = append(ts, t)
	return ts
}

// brokerRatio is a's median net broker CPU per hit over b's. It is not
// given (ok false) when a round of either came out at or below zero: the
// broker's background then moved as much as the client used, and the
// figures are noise.
func brokerRatio(a, b *Result) (float64, bool) {
	if a == nil || b == nil || a.BrokerCPUPer1M <= 0 || b.BrokerCPUPer1M <= 0 {
		return 0, false
	}
	for _, v := range append(append([]float64(nil), a.BrokerNetSamples...), b.BrokerNetSamples...) {
		if v <= 0 {
			return 0, false
		}
	}
	return a.BrokerCPUPer1M / b.BrokerCPUPer1M, true
}

// diffMedian is the median over rounds of a's CPU s/1M less b's in the same
// round (the difference of the medians when the rounds do not pair up).
func diffMedian(a, b *Result) float64 {
	if len(a.CPUSamples) == 0 || len(a.CPUSamples) != len(b.CPUSamples) {
		return a.CPUPer1M - b.CPUPer1M
	}
	var d []float64
	for i := range a.CPUSamples {
		d = append(d, a.CPUSamples[i]-b.CPUSamples[i])
	}
	return medianOf(d)
}

func fmtOpt(v float64, ok bool, format string) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

// printBroker prints the broker's CPU per phase: raw, idle (the idle
// phase's CPU scaled to the phase's length), net, and the requests the
// client sent, with the ratios to the plain read.
func printBroker(w io.Writer, rep *Report, lim *Result) {
	fmt.Fprintln(w, "\nbroker (the Kafka process's utime+stime from /proc/<pid>/stat; an idle phase of about the same length, no client of the")
	fmt.Fprintln(w, "benchmark running, just before each phase; CPU s per 1M hits, each column the median over rounds):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measurement\tphase s\tidle s\traw\tidle\tnet\tnet ÷ limit\tnet per round\trequests/1M\tkafka-go fetches/1M\tcommits/1M\t")
	for _, r := range rep.Results {
		ok := r.BrokerCPUPer1M > notMeasured
		sec, isec := "-", "-"
		if r.Broker != nil {
			sec, isec = fmt.Sprintf("%.1f", r.Broker.Sec), fmt.Sprintf("%.1f", r.Broker.IdleSec)
		}
		xl := ""
		if v, vok := brokerRatio(&r, lim); vok && r.Kind != "limit" {
			xl = fmt.Sprintf("%.2f", v)
		}
		var per []string
		for _, v := range r.BrokerNetSamples {
			per = append(per, fmt.Sprintf("%.2f", v))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Name, sec, isec,
			fmtOpt(r.BrokerRawPer1M, ok, "%.2f"), fmtOpt(r.BrokerIdlePer1M, ok, "%.2f"), fmtOpt(r.BrokerCPUPer1M, ok, "%.2f"), xl,
			strings.Join(per, " "), fmtOpt(r.RequestsPer1M, r.RequestsPer1M >= 0, "%.0f"), fmtOpt(r.FetchesPer1M, r.FetchesPer1M > 0, "%.0f"),
			fmtOpt(r.CommitsPer1M, r.CommitsPer1M > 0, "%.0f"))
	}
	tw.Flush()
	fmt.Fprintln(w, "net ÷ limit: medians; blank when a round's net figure of either is ≤ 0 (the broker's background moved as much as the")
	fmt.Fprintln(w, "  client used: noise, not a measurement — BENCH_BROKER=dedicated gives the broker to the benchmark alone)")
	if cfg, err := exporterDefaults(); err == nil {
		fmt.Fprintf(w, "fetch settings (config defaults, both): MinBytes %d, MaxBytes %d, MaxWait %s; exporter: kafka-go Conn.ReadBatch, one fetch\n",
			cfg.KafkaMinBytes, cfg.KafkaMaxBytes, cfg.KafkaMaxWait)
		fmt.Fprintf(w, "  in flight per partition, socket read through a 256 KiB buffer; limit: kafka-go Reader (queue %d, its own 4 KiB socket reads)\n", cfg.FetchBuffer)
	}
	fmt.Fprintln(w, "requests/1M: TCP data segments the client sent to the broker's port until its last record (ss -ti data_segs_out; a")
	fmt.Fprintln(w, "  request is one small segment: fetches, plus group heartbeats, metadata and commits); kafka-go fetches: ReaderStats.Fetches;")
	fmt.Fprintln(w, "  commits: the exporter's partition commits until its last record (hitexport_commits_total; each a write to __consumer_offsets;")
	fmt.Fprintln(w, "  the partitions' commits go in one OffsetCommit request at most every HITEXPORT_COMMIT_INTERVAL, 1 s); by kind: hitbench requests FORMAT/COMPRESSION")
}

func printReport(w io.Writer, rep *Report) {
	m := rep.Machine
	fmt.Fprintf(w, "\nmachine: %d CPUs (%s), %d MiB RAM, load %s at start, %s\n", m.CPUs, m.CPUModel, m.MemoryMiB, m.Load1, m.Go)
	if rep.Load != nil {
		l := rep.Load
		fmt.Fprintf(w, "load: topic %s — %d hits (%d valid), %d partitions, %.1f MB of values (avg %.0f B/hit), event time %s\n\n",
			l.Topic, l.Hits, l.Valid, l.Partitions, float64(l.Bytes)/1e6, l.AvgBytes, (l.Span + time.Minute).String())
		lim := find(rep.Results, "limit", "")
		peer := find(rep.Results, "peer", "")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		if len(rep.Results[0].Samples) > 1 {
			fmt.Fprintf(w, "medians of %d rounds; ÷ columns: median of the per-round ratios\n", len(rep.Results[0].Samples))
		}
		fmt.Fprintln(tw, "measurement\thits/s\tMB/s\tCPU s/1M\tbroker CPU s/1M\tpeak RSS MiB\twall s\tobjects\t÷ limit\t÷ peer\tCPU ÷ peer\t")
		for _, r := range rep.Results {
			xl, xp, cp := "", "", ""
			if lim != nil && r.Kind != "limit" {
				xl = fmt.Sprintf("%.2f", ratio(&r, lim))
			}
			if peer != nil && r.Kind == "exporter" {
				xp = fmt.Sprintf("%.2f", ratio(&r, peer))
				cp = fmt.Sprintf("%.2f", r.CPUPer1M/peer.CPUPer1M)
			}
			bc := "-"
			if r.BrokerCPUPer1M > notMeasured {
				bc = fmt.Sprintf("%.2f", r.BrokerCPUPer1M)
			}
			fmt.Fprintf(tw, "%s\t%.0f\t%.1f\t%.2f\t%s\t%.0f\t%.1f\t%s\t%s\t%s\t%s\t\n", r.Name, r.HitsPerSec, r.MBPerSec, r.CPUPer1M,
				bc, r.PeakRSSMiB, r.WallSec, objs(r), xl, xp, cp)
		}
		tw.Flush()
		fmt.Fprintln(w, "CPU s/1M: the measured process's CPU (exporter, reader or peer); broker CPU s/1M: the Kafka broker process's net CPU")
		fmt.Fprintln(w, "  while it read (raw − idle phase; below)")
		if win := find(rep.Results, "window", ""); win != nil {
			if part := find(rep.Results, "exporter", win.Format+"/"+win.Compression); part != nil {
				printWindow(w, win, part)
			}
		}
		printBroker(w, rep, lim)
		if peer != nil && peer.Note != "" {
			fmt.Fprintf(w, "peer: %s\n", peer.Note)
		}
		if c := find(rep.Results, "connect", ""); c != nil && c.Note != "" {
			fmt.Fprintf(w, "our own sink on Kafka Connect (not a real product; bench/connect): %s\n", c.Note)
		}
	}
	if len(rep.Scale) > 0 {
		fmt.Fprintf(w, "\nscaling (hitexport %s/%s, every hit in one 10-minute window):\n", rep.Scale[0].Format, rep.Scale[0].Compression)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "partitions\thits\twindow hits/partition\thits/s\tCPU s/1M hits\tpeak RSS MiB\tobjects\t")
		for _, r := range rep.Scale {
			fmt.Fprintf(tw, "%d\t%d\t%d\t%.0f\t%.2f\t%.0f\t%d\t\n", r.Partitions, r.Hits, r.WindowHits, r.HitsPerSec, r.CPUPer1M, r.PeakRSSMiB, r.Objects)
		}
		tw.Flush()
	}
	if len(rep.Targets) > 0 {
		fmt.Fprintln(w, "\ntargets (issue):")
		for _, t := range rep.Targets {
			v := "not measured"
			if t.Measured {
				v = fmt.Sprintf("%.2f", t.Value)
				if t.Met {
					v += "  met"
				} else {
					v += "  NOT met"
				}
			}
			fmt.Fprintf(w, "  %-62s want %-7s got %s\n", t.Name, t.Want, v)
		}
	}
	fmt.Fprintln(w)
}

// printWindow sets the window layout's row against the partition layout's
// of the same case: the merge's CPU and the bytes written per hit.
func printWindow(w io.Writer, win, part *Result) {
	perHit := func(b int64) float64 { return float64(b) / float64(win.Hits) }
	written := win.StagedBytes + win.OutBytes + win.InternalBytes
	fmt.Fprintf(w, "window layout (%s/%s, merges included: from the start to the process's exit after its last merge sweep,\n", win.Format, win.Compression)
	fmt.Fprintf(w, "  %.1f s after its last commit): CPU %.2f s/1M vs %.2f in the partition layout → merge %+.2f CPU s/1M (median of per-round differences)\n",
		win.MergeSec, win.CPUPer1M, part.CPUPer1M, diffMedian(win, part))
	if win.StagedBytes >= 0 {
		fmt.Fprintf(w, "  bytes written per hit: partition %.1f (its objects); window %.1f = staged parts %.1f + final objects %.1f + merger records %.1f → %+.1f B/hit (%+.0f %%)\n",
			perHit(part.OutBytes), perHit(written), perHit(win.StagedBytes), perHit(win.OutBytes), perHit(win.InternalBytes),
			perHit(written)-perHit(part.OutBytes), 100*(float64(written)/float64(part.OutBytes)-1))
		fmt.Fprintf(w, "  (the merge also reads the staged parts back: %.1f B/hit; objects: partition %d, window %d final)\n",
			perHit(win.StagedBytes), part.Objects, win.Objects)
	}
}

func objs(r Result) string {
	if r.Objects == 0 {
		return ""
	}
	return fmt.Sprint(r.Objects)
}

func writeReport(e *Env, rep *Report) error {
	path, err := writeJSONReport(e, "results", "latest.json", rep)
	if err != nil {
		return err
	}
	logf("results written to %s (and latest.json)", path)
	return nil
}
