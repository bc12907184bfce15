package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// The real peer: the OpenTelemetry Collector (contrib v0.115.0) built from
// upstream components only (bench/otelcol: kafkareceiver → batch processor →
// awss3exporter), reading the same topic as a consumer group and writing the
// hits' bodies as lines to the same S3 server. awss3exporter v0.115.0 knows
// gzip only, so its objects are gzip; the batch processor cuts batches of
// file.max.records hits (as the Connect peer), each one S3 object.

// runOtel measures the collector on the main load.
func runOtel(e *Env, l Load, maxRecords, round int) (Result, error) {
	name := fmt.Sprintf("%s-otel-r%d", e.RunID, round)
	prefix := "hitbench/" + name
	group := "hitbench-" + name
	dir := filepath.Join(e.Out, "otelcol", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, err
	}
	port := freePort()
	brokers := `"` + strings.Join(strings.Split(e.Brokers, ","), `", "`) + `"`
	cfg := fmt.Sprintf(`receivers:
  kafka:
    brokers: [%s]
    topic: %s
    group_id: %s
    client_id: otelcol-peer
    initial_offset: earliest
    encoding: text
    protocol_version: 2.1.0
    min_fetch_size: 65536
    max_fetch_size: 16777216
processors:
  batch:
    send_batch_size: %d
    send_batch_max_size: %d
    timeout: 1s
exporters:
  awss3:
    s3uploader:
      region: us-east-1
      s3_bucket: %s
      s3_prefix: %s
      endpoint: http://%s
      s3_force_path_style: true
      disable_ssl: true
      compression: gzip
    marshaler: body
service:
  telemetry:
    logs:
      level: warn
    metrics:
      address: 127.0.0.1:%d
  pipelines:
    logs:
      receivers: [kafka]
      processors: [batch]
      exporters: [awss3]
`, brokers, l.Topic, group, maxRecords, maxRecords, e.Bucket, prefix, e.S3Endpoint, port)
	cp := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cp, []byte(cfg), 0o600); err != nil {
		return Result{}, err
	}
	cmd := exec.Command(e.OtelBin, "--config", cp)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+e.AccessKey, "AWS_SECRET_ACCESS_KEY="+e.SecretKey, "AWS_REGION=us-east-1")
	logPath := filepath.Join(e.Out, "logs", name+".log")
	bm := startBroker(e)
	p, err := startProc(cmd, logPath)
	if err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.Timeout)
	defer cancel()
	stable, done, werr := waitExported(ctx, e, p, group, fmt.Sprintf("http://127.0.0.1:%d/metrics", port), l.Hits)
	brokerCPU := bm.per1M(l.Hits)
	cpu, rss, _ := p.stop(30 * time.Second)
	if werr != nil {
		return Result{}, fmt.Errorf("otel collector: %v\n%s", werr, tail(logPath, 30))
	}
	r := Result{Name: "OTel Collector kafka→awss3 body/gzip", Kind: "peer", Format: "body", Compression: "gzip",
		Topic: l.Topic, Partitions: l.Partitions,
		WallSec: done.Sub(p.start).Seconds(), ActiveSec: done.Sub(stable).Seconds(), BrokerCPUPer1M: brokerCPU, BrokerBackground: bm.background,
		Note: fmt.Sprintf("OpenTelemetry Collector contrib v0.115.0 (bench/otelcol: kafkareceiver encoding=text → batch send_batch_size=%d timeout=1s → awss3exporter marshaler=body compression=gzip)", maxRecords)}
	r.finish(l.Hits, l.Bytes, cpu, rss)
	lines, objects, size, keys, err := countLines(e, prefix+"/")
	if err != nil {
		return r, err
	}
	r.Objects, r.OutBytes = objects, size
	r.Checked = fmt.Sprintf("%d lines in %d objects", lines, objects)
	if lines < l.Valid || lines > l.Hits {
		return r, fmt.Errorf("otel collector wrote %d lines; produced %d records, %d valid", lines, l.Hits, l.Valid)
	}
	b, err := e.bucket()
	if err != nil {
		return r, err
	}
	return r, e.cleanup(b, keys)
}

// waitExported polls until the collector's exporter has sent hits log
// records (otelcol_exporter_sent_log_records: uploaded to S3), noting when
// its consumer group was first Stable.
func waitExported(ctx context.Context, e *Env, p *proc, group, metricsURL string, hits int) (stable, done time.Time, err error) {
	client := kafkaClient(e)
	client.Timeout = 10 * time.Second
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return stable, done, fmt.Errorf("not done in time: %w", ctx.Err())
		case <-tick.C:
		}
		if gone, werr := p.exited(); gone {
			return stable, done, fmt.Errorf("process exited early: %v", werr)
		}
		p.sampleHWM()
		now := time.Now()
		if stable.IsZero() {
			resp, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
			if err == nil && len(resp.Groups) == 1 && resp.Groups[0].GroupState == "Stable" {
				stable = now
			}
		}
		if failed := metricSum(metricsURL, "otelcol_exporter_send_failed_log_records"); failed > 0 {
			return stable, done, fmt.Errorf("the exporter failed to send %d log records", failed)
		}
		if metricSum(metricsURL, "otelcol_exporter_sent_log_records") >= int64(hits) {
			if stable.IsZero() {
				stable = p.start
			}
			return stable, now, nil
		}
	}
}

// metricSum sums the samples of a Prometheus metric (all label sets).
func metricSum(url, name string) int64 {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var n float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, name+"{") || strings.HasPrefix(l, name+" ") {
			f := strings.Fields(l)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			n += v
		}
	}
	return int64(n)
}
