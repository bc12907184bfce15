#!/usr/bin/env bash
# Peak memory of one exporter replica draining a backlog, with the settings of
# deploy/kubernetes/configmap.yaml, against the local services (make services).
# The numbers behind the resources in deploy/kubernetes/deployment.yaml
# (docs/deployment.md, "Sizing").
#
#   deploy/sizing/peak-rss.sh                      # 6 partitions, 200000 hits
#   PARTITIONS=12 HITS=400000 GOMEMLIMIT=384MiB deploy/sizing/peak-rss.sh
#
# Prints: partitions, hits, seconds to drain, CPU seconds, peak RSS (VmHWM).
# Leaves a topic and a bucket named hitexport-rss-<pid> on the local services.
set -euo pipefail
cd "$(dirname "$0")/../.."
PARTITIONS="${PARTITIONS:-6}"
HITS="${HITS:-200000}"
PORT="${PORT:-18081}"
tmp="$(mktemp -d)"
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/hitexport" ./cmd/hitexport
go build -o "$tmp/hitgen" ./cmd/hitgen
name="hitexport-rss-$$"
export HITEXPORT_KAFKA_BROKERS="${HITEXPORT_KAFKA_BROKERS:-127.0.0.1:9092}"
export HITEXPORT_S3_ENDPOINT="${HITEXPORT_S3_ENDPOINT:-127.0.0.1:9000}"
export HITEXPORT_S3_ACCESS_KEY="${HITEXPORT_S3_ACCESS_KEY:-minioadmin}" HITEXPORT_S3_SECRET_KEY="${HITEXPORT_S3_SECRET_KEY:-minioadmin}"
export HITEXPORT_KAFKA_TOPIC="$name" HITEXPORT_KAFKA_GROUP="$name" HITEXPORT_S3_BUCKET="$name"
# As in the ConfigMap (TLS off for the local S3 server; shorter idle timeout
# so the drain ends sooner).
export HITEXPORT_FORMAT=ndjson HITEXPORT_COMPRESSION=zstd HITEXPORT_SPOOL_MEMORY=4194304 \
  HITEXPORT_MAX_OBJECT_BYTES=268435456 HITEXPORT_MAX_OPEN_OBJECTS=32 HITEXPORT_IDLE_TIMEOUT=5s \
  HITEXPORT_SPOOL_DIR="$tmp" HITEXPORT_HTTP_ADDR="127.0.0.1:$PORT" HITEXPORT_LOG_LEVEL=warn
"$tmp/hitgen" setup -partitions "$PARTITIONS" >"$tmp/gen.log" 2>&1
"$tmp/hitgen" produce -count "$HITS" -span 1h >>"$tmp/gen.log" 2>&1
metric() { curl -s "127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 ~ "^"m {s+=$2} END {print s+0}'; }
start=$(date +%s.%N)
"$tmp/hitexport" run 2>"$tmp/run.log" &
pid=$!
until [[ "$(metric hitexport_records_consumed_total)" -ge "$HITS" && "$(metric hitexport_lag_records)" == 0 ]]; do
  kill -0 "$pid" 2>/dev/null || { tail -20 "$tmp/run.log"; exit 1; }
  sleep 0.5
done
end=$(date +%s.%N)
hwm_kib=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
ticks=$(awk '{print $14+$15}' "/proc/$pid/stat")
kill -TERM "$pid"
wait "$pid" || true
pid=
awk -v p="$PARTITIONS" -v n="$HITS" -v s="$start" -v e="$end" -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v h="$hwm_kib" -v g="${GOMEMLIMIT:-off}" \
  'BEGIN { printf "partitions %d  hits %d  drain %.1f s  cpu %.1f s  peak RSS %.0f MiB  (GOMEMLIMIT %s)\n", p, n, e-s, t/hz, h/1024, g }'
