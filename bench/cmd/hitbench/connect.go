package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Connect's launch defaults (bin/connect-standalone.sh and
// bin/kafka-run-class.sh of Apache Kafka 4.1).
var connectJVM = []string{"-Xms256M", "-Xmx2G", "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
	"-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent", "-XX:MaxInlineLevel=15",
	"-Djava.awt.headless=true"}

// runConnect measures Kafka Connect standalone with the S3 sink (Aiven's when
// BENCH_AIVEN_LIB names its jars, else bench/connect's stand-in) writing JSON
// lines of the topic to the same bucket, until its consumer group
// connect-<name> has committed the end offsets. Connect commits a sink's
// offsets to Kafka after each flush (offset.flush.interval.ms), and the sink
// writes its files in that flush, so "committed at the end" means "every
// record is in the bucket", as for the exporter.
func runConnect(e *Env, l Load, maxRecords, round int) (Result, error) {
	name := fmt.Sprintf("%s-connect-%s-r%d", e.RunID, e.PeerComp, round)
	prefix := "hitbench/" + name + "/"
	dir := filepath.Join(e.Out, "connect-runs", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, err
	}
	libs, err := filepath.Glob(filepath.Join(e.ConnectLibs, "*.jar"))
	if err != nil || len(libs) == 0 {
		return Result{}, fmt.Errorf("no Kafka Connect jars in %s (scripts/bench.sh builds them with bench/connect/pom.xml)", e.ConnectLibs)
	}
	class := "hitbench.connect.S3JsonlSinkConnector"
	connector := "bench/connect stand-in for Aiven's S3 sink"
	cp := filepath.Join(e.ConnectLibs, "*")
	if e.AivenLib != "" {
		class = "io.aiven.kafka.connect.s3.AivenKafkaConnectS3SinkConnector"
		connector = "Aiven's S3 sink (" + e.AivenLib + ")"
		cp += string(os.PathListSeparator) + filepath.Join(e.AivenLib, "*")
	}
	port := freePort()
	worker := strings.Join([]string{
		"bootstrap.servers=" + e.Brokers,
		"key.converter=org.apache.kafka.connect.storage.StringConverter",
		"value.converter=org.apache.kafka.connect.json.JsonConverter",
		"value.converter.schemas.enable=false",
		"offset.storage.file.filename=" + filepath.Join(dir, "connect.offsets"),
		"offset.flush.interval.ms=" + strconv.Itoa(e.FlushMs),
		"listeners=http://127.0.0.1:" + strconv.Itoa(port),
		"plugin.discovery=hybrid_warn",
		// The exporter's fetch settings (config defaults).
		"consumer.fetch.min.bytes=65536",
		"consumer.fetch.max.wait.ms=250",
		"consumer.max.partition.fetch.bytes=16777216",
		"consumer.fetch.max.bytes=16777216",
		"consumer.auto.offset.reset=earliest",
		"",
	}, "\n")
	tasks := l.Partitions
	sink := strings.Join([]string{
		"name=" + name,
		"connector.class=" + class,
		"tasks.max=" + strconv.Itoa(tasks),
		"topics=" + l.Topic,
		"aws.access.key.id=" + e.AccessKey,
		"aws.secret.access.key=" + e.SecretKey,
		"aws.s3.bucket.name=" + e.Bucket,
		"aws.s3.endpoint=http://" + e.S3Endpoint,
		"aws.s3.region=us-east-1",
		"aws.s3.prefix=" + prefix, // Aiven 2.x
		"file.name.prefix=" + prefix,
		"format.output.type=jsonl",
		"format.output.fields=value",
		"file.compression.type=" + e.PeerComp,
		"file.max.records=" + strconv.Itoa(maxRecords),
		"errors.tolerance=all",
		"",
	}, "\n")
	wp, sp := filepath.Join(dir, "worker.properties"), filepath.Join(dir, "sink.properties")
	if err := os.WriteFile(wp, []byte(worker), 0o600); err != nil {
		return Result{}, err
	}
	if err := os.WriteFile(sp, []byte(sink), 0o600); err != nil {
		return Result{}, err
	}
	java := "java"
	if h := os.Getenv("JAVA_HOME"); h != "" {
		java = filepath.Join(h, "bin", "java")
	}
	args := append(append([]string{}, connectJVM...),
		"-Dlog4j2.configurationFile="+filepath.Join(e.Root, "bench", "connect", "log4j2.properties"),
		"-cp", cp, "org.apache.kafka.connect.cli.ConnectStandalone", wp, sp)
	cmd := exec.Command(java, args...)
	logPath := filepath.Join(e.Out, "logs", name+".log")
	p, bm, err := startMeasured(e, cmd, logPath, "connect", l.Hits)
	if err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.Timeout)
	defer cancel()
	stable, _, done, werr := waitCommitted(ctx, e, p, "connect-"+name, l.Topic, "", l.Hits, nil)
	bp, bok, segments := endBroker(e, bm, p)
	cpu, rss, _ := p.stop(60 * time.Second)
	if werr != nil {
		return Result{}, fmt.Errorf("kafka connect: %v\n%s", werr, tail(logPath, 30))
	}
	r := Result{Name: "our own sink on Kafka Connect jsonl/" + e.PeerComp, Kind: "connect", RequestsPer1M: perMillion(segments, l.Hits), Format: "jsonl", Compression: e.PeerComp,
		Topic: l.Topic, Partitions: l.Partitions,
		WallSec: done.Sub(p.start).Seconds(), ActiveSec: done.Sub(stable).Seconds(),
		Note: fmt.Sprintf("%s; tasks.max=%d, offset.flush.interval.ms=%d, file.max.records=%d, JVM %s",
			connector, tasks, e.FlushMs, maxRecords, strings.Join(connectJVM[:2], " "))}
	r.setBroker(bp, bok, l.Hits)
	r.finish(l.Hits, l.Bytes, cpu, rss)
	return r, checkLines(e, &r, prefix, l, "kafka connect")
}
