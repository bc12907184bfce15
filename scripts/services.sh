#!/usr/bin/env bash
# Local services the project tests against (Kafka and an S3 server on loopback, state under .local).
# Commands: scripts/services.sh --help (the usage text below).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA="$SCRIPTS_DIR/kafka.sh"
S3="$SCRIPTS_DIR/s3.sh"

usage() {
  cat <<EOF
Local services the project tests against, on loopback, with all state under LOCAL_DIR (git-ignored):
  Kafka 4.1 (KRaft single node)  bootstrap 127.0.0.1:${KAFKA_PORT:-9092}
  Versity S3 Gateway (posix)     http://127.0.0.1:${S3_PORT:-9000}, access/secret key minioadmin/minioadmin

Usage: scripts/services.sh COMMAND
  up             install what is missing and start both (no-op for what already runs)
  down           stop both (SIGTERM, SIGKILL after ~${STOP_TIMEOUT}s); data is kept
  status         print the state of both (exit 0 only if both run)
  install        install both without starting them
  start-kafka | stop-kafka | restart-kafka
  start-s3    | stop-s3    | restart-s3
  env            print shell exports pointing hitexport at these services
  clean          stop both and delete their data (keeps downloaded jars and binaries)
  -h | --help    this text

Works from any cwd. Progress goes to stderr. scripts/kafka.sh --help and scripts/s3.sh --help list
the environment variables (ports, dirs, timeouts) each service understands. LOCAL_DIR: $LOCAL_DIR
EOF
}

cmd_status() {
  local rc=0
  "$KAFKA" status || rc=1
  "$S3" status || rc=1
  return $rc
}

cmd_up() {
  local t0=$SECONDS
  # Install both first (the versitygw build and the Maven download are the slow parts), then start.
  "$KAFKA" install
  "$S3" install
  "$S3" start
  "$KAFKA" start
  log "services up in $((SECONDS - t0))s:"
  cmd_status
}

cmd_env() {
  cat <<EOF
export HITEXPORT_KAFKA_BROKERS=127.0.0.1:${KAFKA_PORT:-9092}
export HITEXPORT_S3_ENDPOINT=127.0.0.1:${S3_PORT:-9000}
export HITEXPORT_S3_ACCESS_KEY=${S3_ACCESS_KEY:-minioadmin}
export HITEXPORT_S3_SECRET_KEY=${S3_SECRET_KEY:-minioadmin}
export HITEXPORT_S3_TLS=false
EOF
}

cmd_clean() {
  "$KAFKA" stop
  "$S3" stop
  local kdir="${KAFKA_DIR:-$LOCAL_DIR/kafka}" sdata="${S3_DATA_DIR:-$LOCAL_DIR/s3data}"
  log "deleting $kdir/data $kdir/cluster.id $sdata"
  rm -rf "$kdir/data" "$kdir/cluster.id" "$sdata"
}

case "${1:-}" in
  up) cmd_up ;;
  down)
    rc=0
    "$KAFKA" stop || rc=1
    "$S3" stop || rc=1
    exit $rc
    ;;
  status) cmd_status ;;
  install) "$KAFKA" install && "$S3" install ;;
  start-kafka) "$KAFKA" start ;;
  stop-kafka) "$KAFKA" stop ;;
  restart-kafka) "$KAFKA" restart ;;
  start-s3) "$S3" start ;;
  stop-s3) "$S3" stop ;;
  restart-s3) "$S3" restart ;;
  env) cmd_env ;;
  clean) cmd_clean ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
