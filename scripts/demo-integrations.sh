#!/usr/bin/env bash
# The second half of make demo: integrations. One exporter serves two
# customers' buckets, managed at runtime through the admin API (the CLI and
# the console), with the Kafka registry. It reads the demo topic (hits-demo,
# produced by scripts/demo.sh), adds two integrations with the CLI, tests
# them, waits for their files, lists their buckets and leaves the exporter
# running so the console can be opened. make demo-stop stops it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
demo="$root/.local/demo"
mkdir -p "$demo"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# Stop an exporter left by an earlier demo.
if [[ -f "$demo/exporter.pid" ]]; then
  kill -TERM "$(cat "$demo/exporter.pid")" 2>/dev/null || true
  sleep 1
  rm -f "$demo/exporter.pid"
fi

export HITEXPORT_KAFKA_BROKERS=127.0.0.1:9092
export HITEXPORT_KAFKA_TOPIC=hits-demo
export HITEXPORT_KAFKA_GROUP=hitexport-demo-integrations
# The deployment's own bucket: rejected (malformed) records of every topic.
export HITEXPORT_S3_ENDPOINT=127.0.0.1:9000
export HITEXPORT_S3_BUCKET=hitlogs-demo-rejected
export HITEXPORT_S3_ACCESS_KEY=minioadmin
export HITEXPORT_S3_SECRET_KEY=minioadmin
export HITEXPORT_IDLE_TIMEOUT=3s
export HITEXPORT_HTTP_ADDR=127.0.0.1:9465
export HITEXPORT_LOG_FORMAT=text
# The window layout (the default): one object per window per integration,
# hitlogs-{timestamp}.<ext>; merged soon after every partition closed it.
export HITEXPORT_MERGE_INTERVAL=2s
export HITEXPORT_REGISTRY=kafka
export HITEXPORT_REGISTRY_TOPIC=hitexport.integrations.demo
export HITEXPORT_SECRETS_KEY_FILE="$demo/secrets.key"
export HITEXPORT_ADMIN_ADDR=127.0.0.1:8081
export HITEXPORT_ADMIN_TOKEN_FILE="$demo/admin-token"
export HITEXPORT_ADMIN_URL=http://127.0.0.1:8081

[[ -s "$HITEXPORT_SECRETS_KEY_FILE" ]] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$HITEXPORT_SECRETS_KEY_FILE"
[[ -s "$HITEXPORT_ADMIN_TOKEN_FILE" ]] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$HITEXPORT_ADMIN_TOKEN_FILE"
chmod 600 "$HITEXPORT_SECRETS_KEY_FILE" "$HITEXPORT_ADMIN_TOKEN_FILE"
printf minioadmin >"$demo/customer.access-key"
printf minioadmin >"$demo/customer.secret-key"

step "the customers' buckets (acme, beta) and the deployment's bucket for rejected records"
bin/hitgen bucket customer-acme customer-beta hitlogs-demo-rejected

step "hitexport run with the Kafka registry and the admin API on $HITEXPORT_ADMIN_ADDR"
nohup bin/hitexport run >"$demo/integrations.log" 2>&1 &
echo $! >"$demo/exporter.pid"
for _ in $(seq 1 60); do
  bin/hitexport integrations list >/dev/null 2>&1 && break
  sleep 0.5
done
for id in $(bin/hitexport integrations list -o json | python3 -c 'import json,sys; print(" ".join(i["id"] for i in json.load(sys.stdin)["integrations"]))'); do
  bin/hitexport integrations delete "$id" >/dev/null
done

common=(--endpoint 127.0.0.1:9000 --access-key-file "$demo/customer.access-key" --secret-key-file "$demo/customer.secret-key" --start earliest)

step "Test integration (a wrong secret first, then the right one)"
printf wrong >"$demo/wrong.secret-key"
bin/hitexport integrations test --name acme --endpoint 127.0.0.1:9000 --bucket customer-acme \
  --access-key-file "$demo/customer.access-key" --secret-key-file "$demo/wrong.secret-key" || true
bin/hitexport integrations test --name acme --bucket customer-acme "${common[@]}" --format ndjson --compression gzip

step "Add integration: acme (NDJSON + gzip, applications 1 and 2, Hive folders) and beta (OCSF + zstd, every hit)"
bin/hitexport integrations add --name acme --bucket customer-acme "${common[@]}" --format ndjson --compression gzip \
  --match application_id=1,2 --prefix 'waf/dt={yyyy}-{mm}-{dd}/hour={hh}/'
bin/hitexport integrations add --name beta --bucket customer-beta "${common[@]}" --format ocsf --compression zstd

step "waiting for both integrations to deliver their windows"
for _ in $(seq 1 120); do
  lags=$(bin/hitexport integrations list -o json | python3 -c '
import json,sys
its=json.load(sys.stdin)["integrations"]
print(" ".join("%s=%s" % (i["name"], (i["status"]["lag_records"] if i["status"].get("last_delivery") else "none")) for i in its))')
  case "$lags" in *=none*|*=[1-9]*) sleep 1 ;; *) break ;; esac
done
bin/hitexport integrations list

step "what the customers received"
for name in acme beta; do
  echo "integration $name (hitexport verify --integration $name -list):"
  bin/hitexport verify --integration "$name" -wait 90s -list 2>/dev/null | grep -E 'hitlogs-' | head -8 || true
done

cat <<EOF

The exporter keeps running (pid $(cat "$demo/exporter.pid"), log $demo/integrations.log).
Console:     http://$HITEXPORT_ADMIN_ADDR/
Token file:  $HITEXPORT_ADMIN_TOKEN_FILE   (paste its content to sign in)
CLI:         HITEXPORT_ADMIN_URL=$HITEXPORT_ADMIN_URL HITEXPORT_ADMIN_TOKEN_FILE=$HITEXPORT_ADMIN_TOKEN_FILE bin/hitexport integrations list
Stop it:     make demo-stop
EOF
