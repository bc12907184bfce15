#!/usr/bin/env bash
# Local S3 server for tests and demos: the Versity S3 Gateway (Apache-2.0) in posix mode.
# Commands and environment: scripts/s3.sh --help (the usage text below).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

S3_PORT="${S3_PORT:-9000}"
check_ports S3_PORT
S3_DATA_DIR="${S3_DATA_DIR:-$LOCAL_DIR/s3data}"
S3_DIR="${S3_DIR:-$LOCAL_DIR/s3}"
S3_ACCESS_KEY="${S3_ACCESS_KEY:-minioadmin}"
S3_SECRET_KEY="${S3_SECRET_KEY:-minioadmin}"
S3_VERBOSE="${S3_VERBOSE:-0}"
S3_START_TIMEOUT="${S3_START_TIMEOUT:-60}"
VERSITYGW_VERSION="${VERSITYGW_VERSION:-v1.8.0}"
VERSITYGW_PKG="github.com/versity/versitygw/cmd/versitygw"

BIN_DIR="$LOCAL_DIR/bin"
VGW="$BIN_DIR/versitygw"
VGW_STAMP="$BIN_DIR/.versitygw.version"
PIDFILE="$S3_DIR/versitygw.pid"
LOGFILE="$S3_DIR/versitygw.log"
S3_ENDPOINT="127.0.0.1:$S3_PORT"
S3_TLS_CERT="${S3_TLS_CERT:-}"
S3_TLS_KEY="${S3_TLS_KEY:-}"
[[ -n "$S3_TLS_CERT" && -n "$S3_TLS_KEY" || -z "$S3_TLS_CERT$S3_TLS_KEY" ]] || die "S3_TLS_CERT and S3_TLS_KEY go together"
S3_SCHEME=http
[[ -z "$S3_TLS_CERT" ]] || S3_SCHEME=https
# Text that identifies our server process in /proc/PID/cmdline.
PID_PATTERN="posix $S3_DATA_DIR"

installed() {
  [[ -x "$VGW" && -f "$VGW_STAMP" && "$(cat "$VGW_STAMP")" == "$VERSITYGW_VERSION" ]]
}

cmd_install() {
  if installed; then
    log "versitygw $VERSITYGW_VERSION already at $VGW"
    return 0
  fi
  command -v go >/dev/null 2>&1 || die "go not found: Go is needed to build versitygw"
  mkdir -p "$BIN_DIR"
  local buildlog="$LOCAL_DIR/versitygw-install.log"
  log "building $VERSITYGW_PKG@$VERSITYGW_VERSION into $BIN_DIR (first time: ~1-3 min)"
  # Build in a scratch dir so the repo's own go.mod/go.work play no part.
  if ! (cd "$BIN_DIR" && GOWORK=off GOBIN="$BIN_DIR" go install "$VERSITYGW_PKG@$VERSITYGW_VERSION") >"$buildlog" 2>&1; then
    show_log_tail "$buildlog" 40
    die "go install $VERSITYGW_PKG@$VERSITYGW_VERSION failed (full output: $buildlog)"
  fi
  [[ -x "$VGW" ]] || die "go install succeeded but $VGW is missing"
  echo "$VERSITYGW_VERSION" >"$VGW_STAMP"
  log "installed versitygw $VERSITYGW_VERSION at $VGW"
}

# http_answers: the server returns any HTTP response on / (anonymous requests get 403 AccessDenied).
http_answers() {
  local url="$S3_SCHEME://$S3_ENDPOINT/" code
  if command -v curl >/dev/null 2>&1; then
    # -k: a liveness probe only (the HTTPS certificate may come from the test CA of scripts/tls.sh).
    code="$(curl -k -s -o /dev/null -m 3 -w '%{http_code}' "$url" 2>/dev/null || true)"
    [[ "$code" =~ ^[1-5][0-9][0-9]$ ]]
  elif command -v python3 >/dev/null 2>&1; then
    python3 - "$url" <<'EOF' >/dev/null 2>&1
import ssl, sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=3, context=ssl._create_unverified_context())
except urllib.error.HTTPError:
    pass
EOF
  else
    port_open "$S3_PORT"
  fi
}

cmd_status() {
  if pid_alive "$PIDFILE" "$PID_PATTERN"; then
    echo "s3: running, pid $(cat "$PIDFILE"), endpoint $S3_SCHEME://$S3_ENDPOINT (access key $S3_ACCESS_KEY), data $S3_DATA_DIR, log $LOGFILE"
    return 0
  fi
  if port_open "$S3_PORT"; then
    echo "s3: port $S3_PORT is served by another process ($(port_owner "$S3_PORT")), not by $S3_DIR"
    return 1
  fi
  echo "s3: stopped (data $S3_DATA_DIR)"
  return 3
}

cmd_start() {
  if pid_alive "$PIDFILE" "$PID_PATTERN"; then
    wait_ready
    return 0
  fi
  rm -f "$PIDFILE"
  if port_open "$S3_PORT"; then
    local owner
    owner="$(port_owner "$S3_PORT")"
    if [[ "$owner" == *versitygw* ]] && http_answers; then
      warn "127.0.0.1:$S3_PORT is already served by another versitygw (${owner}); using it. Stop/start from here will not affect it."
      return 0
    fi
    die "port 127.0.0.1:$S3_PORT is in use by ${owner:-an unknown process}; stop it or set S3_PORT"
  fi
  installed || cmd_install
  mkdir -p "$S3_DATA_DIR" "$S3_DIR"
  local args=(--port "$S3_ENDPOINT")
  [[ "$S3_VERBOSE" == 1 ]] || args+=(--quiet)
  [[ -z "$S3_TLS_CERT" ]] || args+=(--cert "$S3_TLS_CERT" --key "$S3_TLS_KEY")
  log "starting versitygw on $S3_SCHEME://$S3_ENDPOINT (data $S3_DATA_DIR)"
  echo "==== $(date -u +%FT%TZ) starting versitygw ${args[*]} posix $S3_DATA_DIR ====" >>"$LOGFILE"
  ROOT_ACCESS_KEY="$S3_ACCESS_KEY" ROOT_SECRET_KEY="$S3_SECRET_KEY" \
    start_and_wait "$PIDFILE" "$PID_PATTERN" "$S3_START_TIMEOUT" 0.2 http_answers "$LOGFILE" "$LOGFILE" \
    "$VGW" "${args[@]}" posix "$S3_DATA_DIR"
  log "ready — $(cmd_status)"
}

wait_ready() {
  wait_started "$PIDFILE" "$PID_PATTERN" "$S3_START_TIMEOUT" 0.2 http_answers "$LOGFILE"
  log "ready — $(cmd_status)"
}

cmd_stop() { stop_pidfile versitygw "$PIDFILE" "$PID_PATTERN"; }

usage() {
  cat <<EOF
Local S3 server for tests and demos: the Versity S3 Gateway (Apache-2.0) in posix mode.

Usage: scripts/s3.sh COMMAND
  install         build versitygw into LOCAL_DIR/bin (no-op when the wanted version is there)
  start           start the server and wait until it answers HTTP (no-op when running)
  stop | restart  SIGTERM, SIGKILL after ${STOP_TIMEOUT}s; data is kept
  status          print the state (exit 0 running, 1 port taken by another process, 3 stopped)
  ready           exit 0 if the server answers HTTP
  -h | --help     this text

The binary is built with \`go install $VERSITYGW_PKG@\$VERSITYGW_VERSION\`
into $BIN_DIR (only when missing). Buckets are directories of S3_DATA_DIR; objects are files,
user metadata is kept in extended attributes (the filesystem must support user xattrs).

Environment (current value in brackets):
  S3_PORT              listen port on 127.0.0.1 [$S3_PORT]
  S3_DATA_DIR          bucket root [$S3_DATA_DIR]
  S3_DIR               pid file and log [$S3_DIR]
  S3_ACCESS_KEY        root access key [$S3_ACCESS_KEY]
  S3_SECRET_KEY        root secret key [set: ${S3_SECRET_KEY:+yes}]
  S3_VERBOSE           1 = log every request to the log file [$S3_VERBOSE]
  S3_START_TIMEOUT     seconds to wait for the server to answer HTTP [$S3_START_TIMEOUT]
  VERSITYGW_VERSION    module version to install [$VERSITYGW_VERSION]
  S3_TLS_CERT          optional: serve HTTPS with this PEM certificate (e.g. server.pem of scripts/tls.sh) [$S3_TLS_CERT]
  S3_TLS_KEY           ... and this PEM key; both or neither (default: plain HTTP) [$S3_TLS_KEY]
  STOP_TIMEOUT         seconds between SIGTERM and SIGKILL on stop [$STOP_TIMEOUT]
  LOCAL_DIR            root of all local state [$LOCAL_DIR]
EOF
}

cmd_ready() { http_answers; }

service_main s3 "$@"
