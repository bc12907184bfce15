#!/usr/bin/env bash
# make demo: the one-command tour. Starts the local services (make does),
# resets topic "hits-demo" and bucket "hitlogs-demo", produces a realistic mix
# of hits over the past hour (several attack types, out-of-order and late
# records, a few malformed ones), runs "hitexport check", runs the exporter
# until every window is closed, uploaded and committed, stops it with SIGTERM,
# and prints the objects with a decoded sample and the invariant check.
# The window layout (the default): one object per window in Hive folders,
# dt=YYYY-MM-DD/hour=HH/hitlogs-{timestamp}.ndjson.gz, late files beside it.
# LAYOUT=partition make demo shows the partition layout instead.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
demo="$root/.local/demo"
mkdir -p "$demo"
rm -f "$demo/manifest.ndjson"

export HITEXPORT_KAFKA_BROKERS=127.0.0.1:9092
export HITEXPORT_KAFKA_TOPIC=hits-demo
export HITEXPORT_KAFKA_GROUP=hitexport-demo
export HITEXPORT_S3_ENDPOINT=127.0.0.1:9000
export HITEXPORT_S3_BUCKET=hitlogs-demo
export HITEXPORT_S3_ACCESS_KEY=minioadmin
export HITEXPORT_S3_SECRET_KEY=minioadmin
export HITEXPORT_FORMAT="${FORMAT:-ndjson}"
export HITEXPORT_COMPRESSION="${COMPRESSION:-gzip}"
export HITEXPORT_IDLE_TIMEOUT=3s
export HITEXPORT_LAYOUT="${LAYOUT:-window}"
export HITEXPORT_KEY_TEMPLATE='dt={yyyy}-{mm}-{dd}/hour={hh}/hitlogs-{timestamp}{ext}'
export HITEXPORT_MERGE_INTERVAL=2s
export HITEXPORT_LATE_MAX_AGE=20s
export HITEXPORT_HTTP_ADDR=127.0.0.1:9464
export HITEXPORT_LOG_FORMAT=text

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

go build -o bin/hitgen ./cmd/hitgen
step "reset topic $HITEXPORT_KAFKA_TOPIC (4 partitions) and bucket $HITEXPORT_S3_BUCKET"
bin/hitgen setup -reset -partitions 4

step "produce 5000 hits over the past hour (2% late by 15 min, 1% malformed)"
bin/hitgen produce -count 5000 -seed 42 -manifest "$demo/manifest.ndjson"

step "hitexport check (Test integration)"
bin/hitexport check

step "hitexport run (format $HITEXPORT_FORMAT, compression $HITEXPORT_COMPRESSION, 10-minute windows, layout $HITEXPORT_LAYOUT)"
bin/hitexport run >"$demo/run.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
bin/hitexport verify -wait 120s >/dev/null || true
sleep 1
echo "metrics excerpt:"
curl -fsS http://127.0.0.1:9464/metrics | grep -E '^hitexport_(records_consumed_total|records_rejected_total\{reason="(not_json|missing_time)"|records_late_total|objects_uploaded_total|committed_offset)' | head -20 || true
kill -TERM $pid
wait $pid || true
trap - EXIT
grep -c 'object uploaded' "$demo/run.log" | sed 's/^/upload log lines: /'

step "objects in s3://$HITEXPORT_S3_BUCKET, a decoded sample, and the invariant check"
# The exporter's own folder (_hitexport/: progress markers, merge records) is
# left out of the listing: customers' tools skip it too.
bin/hitexport verify -manifest "$demo/manifest.ndjson" -list -sample 2 | tee "$demo/verify.txt" | grep -v '^_hitexport/'

step "what the customer sees (hits objects, without rejected/ and _hitexport/)"
awk '$1 ~ /hitlogs-/ && $1 !~ /^(rejected|_hitexport)\// && ($2 == "hits" || $2 == "late") { print $4, $1 }' "$demo/verify.txt" | sort -k2 >"$demo/objects.txt"
head -12 "$demo/objects.txt" | awk '{ printf "  %8d B  %s\n", $1, $2 }'
[[ $(wc -l <"$demo/objects.txt") -gt 12 ]] && echo "  …"
sort -n "$demo/objects.txt" | awk '{ s[NR] = $1 } END { if (NR) printf "%d objects of hits; smallest %d B, median %d B\n", NR, s[1], s[int((NR + 1) / 2)] }'
echo
echo "exporter log: $demo/run.log"
