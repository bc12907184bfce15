#!/usr/bin/env bash
# make bench: the benchmarks of docs/performance.md, against the real local services (make services).
#
#   1. builds bench/cmd/hitbench (bin/hitbench) and, for the peer, Kafka Connect 4.1.2 with the S3 sink
#      (bench/connect/pom.xml → .local/bench/connect/libs, only when missing or changed);
#   2. runs the Go micro-benchmarks briefly (go test -run x -bench . -benchmem ./...);
#   3. runs `hitbench run`: loads a topic once with realistic hits, then measures the kafka-go read limit,
#      hitexport end to end per format × compression and Kafka Connect + S3 sink on the same topic, prints the
#      table and writes .local/bench/results-<time>.json (and latest.json).
#      Then (BENCH_INTEGRATIONS=1) the integrations table on its own topic (.local/bench/integrations-<time>.json).
#
# Environment (all optional):
#   BENCH_HITS=1000000         hits in the topic            BENCH_PARTITIONS=4   partitions
#   BENCH_CASES=all            or e.g. ndjson/none,ndjson/zstd,json/gzip,ocsf/zstd
#   BENCH_REPEAT=1             repeats of every measurement (the table shows medians)
#   BENCH_WARMUP=1             unrecorded rounds first (limit and every case): the broker's JIT and the page cache warm
#   BENCH_OTEL=1               0 skips the real peer: the OpenTelemetry Collector (contrib v0.115.0,
#                              kafkareceiver → batch → awss3exporter), built from bench/otelcol into bin/otelcol-peer
#                              (its own go.mod; modules from the Go proxy; BENCH_OTEL_BUILD_TIMEOUT=900 s)
#   BENCH_PEER=1               0 skips our own sink on Kafka Connect   BENCH_PEER_COMPRESSION=zstd (gzip, none)
#   BENCH_CONNECT_FLUSH_MS=5000  Connect's offset.flush.interval.ms (the sink writes its files then)
#   BENCH_AIVEN_LIB=DIR        run Aiven's S3 sink from the jars in DIR instead of the stand-in
#   BENCH_SCALE=1              also the scaling run (1, 4, 16 partitions × 10k, 100k, 1M hits in one window)
#   BENCH_INTEGRATIONS=1       0 skips the integrations table (1, 10, 100 integrations selecting 1/N by
#                              application_id, 10 selecting all; bench/cmd/hitbench/integrations.go: BENCH_INT_HITS,
#                              BENCH_INT_APPS=100, BENCH_INT_CASES=1,10,100,all10, BENCH_INT_CASE=ndjson/zstd, BENCH_INT_PROFILE=1)
#   BENCH_GO=1                 0 skips the Go micro-benchmarks; BENCH_GO_TIME=200ms their -benchtime
#   BENCH_WINDOW_CASE=ndjson/zstd  the case also measured in the window layout (merges included); 0 skips it
#   BENCH_BROKER=shared        dedicated: start a broker of our own for the run (scripts/kafka.sh on BENCH_BROKER_PORT=19092,
#                              controller BENCH_BROKER_PORT+1, data in BENCH_BROKER_DIR=.local/bench/broker-<port>; the
#                              shared broker's jars), stopped at the end: its CPU is then the benchmark's alone
#   BENCH_BROKER_PIDFILE       the broker's pid file (default .local/kafka/kafka.pid, as scripts/kafka.sh writes it)
#   BENCH_FRESH=1              produce the topic again even if an identical one exists
#   BENCH_KEEP=1               keep the objects written (default: deleted after each measurement)
#   BENCH_SPAN=1h BENCH_LATE=0.02 BENCH_BAD=0 BENCH_SEED=1   shape of the load (gen.Generate)
#   HITEXPORT_KAFKA_BROKERS, HITEXPORT_S3_ENDPOINT, HITEXPORT_S3_ACCESS_KEY, HITEXPORT_S3_SECRET_KEY  services
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
GO="${GO:-go}"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
OUT="${BENCH_OUT:-$ROOT/.local/bench}"
mkdir -p "$OUT/logs"
log() { printf '[bench] %s\n' "$*" >&2; }

log "building bin/hitexport and bin/hitbench"
"$GO" build -o bin/hitexport ./cmd/hitexport
"$GO" build -o bin/hitbench ./bench/cmd/hitbench

if [[ "${BENCH_OTEL:-1}" != "0" ]]; then
  stamp="$(cat bench/otelcol/go.mod bench/otelcol/go.sum bench/otelcol/main.go | sha256sum | cut -d' ' -f1)"
  if [[ ! -x bin/otelcol-peer || ! -f bin/.otelcol-peer.stamp || "$(cat bin/.otelcol-peer.stamp)" != "$stamp" ]]; then
    log "building the OpenTelemetry Collector peer (bench/otelcol → bin/otelcol-peer; first build a few minutes)"
    if (cd bench/otelcol && timeout "${BENCH_OTEL_BUILD_TIMEOUT:-900}" "$GO" build -o ../../bin/otelcol-peer .) >"$OUT/logs/otelcol-build.log" 2>&1; then
      echo "$stamp" >bin/.otelcol-peer.stamp
    else
      tail -n 20 "$OUT/logs/otelcol-build.log" >&2
      log "the OpenTelemetry Collector peer could not be built (see $OUT/logs/otelcol-build.log); it is skipped"
      rm -f bin/otelcol-peer
    fi
  fi
fi

if [[ "${BENCH_PEER:-1}" != "0" ]]; then
  LIBS="$ROOT/.local/bench/connect/libs"
  stamp="$(cat bench/connect/pom.xml $(find bench/connect/src -type f | sort) | sha256sum | cut -d' ' -f1)"
  if [[ ! -f "$LIBS/.stamp" || "$(cat "$LIBS/.stamp")" != "$stamp" ]]; then
    command -v mvn >/dev/null 2>&1 || { log "mvn not found: Maven is needed for the Kafka Connect peer (BENCH_PEER=0 skips it)"; exit 1; }
    log "fetching Kafka Connect 4.1.2 and building the S3 sink (bench/connect/pom.xml) into $LIBS"
    rm -rf "$LIBS"
    mvn -q -B -f bench/connect/pom.xml package dependency:copy-dependencies >"$OUT/logs/connect-mvn.log" 2>&1 ||
      { tail -n 30 "$OUT/logs/connect-mvn.log" >&2; exit 1; }
    echo "$stamp" >"$LIBS/.stamp"
  fi
fi

if [[ "${BENCH_GO:-1}" != "0" ]]; then
  gofile="$OUT/gobench-$(date -u +%Y%m%dt%H%M%S).txt"
  log "Go micro-benchmarks (-benchtime ${BENCH_GO_TIME:-200ms}) → $gofile"
  rc=0
  "$GO" test -run '^$' -bench . -benchmem -benchtime "${BENCH_GO_TIME:-200ms}" ./... >"$gofile" 2>&1 || rc=$?
  grep -E '^(Benchmark|ok|FAIL|pkg:|---|panic)' "$gofile" | grep -v 'no test files' || true
  ((rc == 0)) || { log "Go benchmarks failed (exit $rc), see $gofile"; exit 1; }
fi

if [[ "${BENCH_BROKER:-shared}" == dedicated ]]; then
  # A broker nobody else uses: same jars and settings as scripts/kafka.sh's, its own port, data and pid file.
  export KAFKA_PORT="${BENCH_BROKER_PORT:-19092}"
  export KAFKA_CONTROLLER_PORT="$((KAFKA_PORT + 1))"
  export KAFKA_DIR="${BENCH_BROKER_DIR:-$ROOT/.local/bench/broker-$KAFKA_PORT}"
  export KAFKA_LIBS="${KAFKA_LIBS:-$ROOT/.local/kafka/libs}"
  log "starting a dedicated broker on 127.0.0.1:$KAFKA_PORT (data $KAFKA_DIR)"
  scripts/kafka.sh start >&2
  trap 'log "stopping the dedicated broker"; scripts/kafka.sh stop >&2 || true' EXIT
  export HITEXPORT_KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT" BENCH_BROKER_PIDFILE="$KAFKA_DIR/kafka.pid"
elif [[ "${BENCH_BROKER:-shared}" != shared ]]; then
  log "BENCH_BROKER must be shared or dedicated"; exit 2
fi

log "end-to-end benchmark (hitbench run)"
bin/hitbench run
