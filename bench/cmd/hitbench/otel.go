package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
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
	p, bm, err := startMeasured(e, cmd, logPath, "otel", l.Hits)
	if err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.Timeout)
	defer cancel()
	stable, done, werr := waitExported(ctx, e, p, group, fmt.Sprintf("http://127.0.0.1:%d/metrics", port), l.Hits)
	bp, bok, segments := endBroker(e, bm, p)
	cpu, rss, _ := p.stop(30 * time.Second)
	if werr != nil {
		return Result{}, fmt.Errorf("otel collector: %v\n%s", werr, tail(logPath, 30))
	}
	r := Result{Name: "OTel Collector kafka→awss3 body/gzip", Kind: "peer", Format: "body", Compression: "gzip",
		Topic: l.Topic, Partitions: l.Partitions,
		WallSec: done.Sub(p.start).Seconds(), ActiveSec: done.Sub(stable).Seconds(), RequestsPer1M: perMillion(segments, l.Hits),
		Note: fmt.Sprintf("OpenTelemetry Collector contrib v0.115.0 (bench/otelcol: kafkareceiver encoding=text → batch send_batch_size=%d timeout=1s → awss3exporter marshaler=body compression=gzip)", maxRecords)}
	r.setBroker(bp, bok, l.Hits)
	r.finish(l.Hits, l.Bytes, cpu, rss)
	return r, checkLines(e, &r, prefix+"/", l, "otel collector")
}

// waitExported polls until the collector's exporter has sent hits log
// records (otelcol_exporter_sent_log_records: uploaded to S3), noting when
// its consumer group was first Stable.
func waitExported(ctx context.Context, e *Env, p *proc, group, metricsURL string, hits int) (stable, done time.Time, err error) {
	w := newWatch(ctx, e, p, group)
	err = w.run(func(now time.Time) (bool, error) {
		if failed := metricSum(metricsURL, "otelcol_exporter_send_failed_log_records"); failed > 0 {
			return false, fmt.Errorf("the exporter failed to send %d log records", failed)
		}
		done = now
		return metricSum(metricsURL, "otelcol_exporter_sent_log_records") >= int64(hits), nil
	})
	return w.stable, done, err
}
