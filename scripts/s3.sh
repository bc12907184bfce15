#!/usr/bin/env bash
# Local S3 server for tests and demos: the Versity S3 Gateway (Apache-2.0) in posix mode.
#
#   scripts/s3.sh install|start|stop|restart|status|ready
#
# The binary is built with `go install github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION`
# into $LOCAL_DIR/bin (only when missing). Buckets are directories of $S3_DATA_DIR; objects are files,
# user metadata is kept in extended attributes (the filesystem must support user xattrs).
# Environment:
#   S3_PORT              listen port on 127.0.0.1 (default 9000)
#   S3_DATA_DIR          bucket root (default <repo>/.local/s3data)
#   S3_DIR               pid file and log (default <repo>/.local/s3)
#   S3_ACCESS_KEY        root access key (default minioadmin)
#   S3_SECRET_KEY        root secret key (default minioadmin)
#   S3_VERBOSE           1 = log every request to the log file (default 0: quiet)
#   S3_START_TIMEOUT     seconds to wait for the server to answer HTTP (default 60)
#   VERSITYGW_VERSION    module version to install (default v1.8.0)
#   S3_TLS_CERT          optional: serve HTTPS with this PEM certificate (e.g. server.pem of scripts/tls.sh) …
#   S3_TLS_KEY           … and this PEM key; both or neither (default: plain HTTP)
#   LOCAL_DIR            root of all local state (default <repo>/.local)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

S3_PORT="${S3_PORT:-9000}"
[[ "$S3_PORT" =~ ^[0-9]+$ ]] || die "S3_PORT must be a port number, got '$S3_PORT'"
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
    log "s3: versitygw $VERSITYGW_VERSION already at $VGW"
    return 0
  fi
  command -v go >/dev/null 2>&1 || die "go not found: Go is needed to build versitygw"
  mkdir -p "$BIN_DIR"
  local buildlog="$LOCAL_DIR/versitygw-install.log"
  log "s3: building $VERSITYGW_PKG@$VERSITYGW_VERSION into $BIN_DIR (first time: ~1-3 min)"
  # Build in a scratch dir so the repo's own go.mod/go.work play no part.
  if ! (cd "$BIN_DIR" && GOWORK=off GOBIN="$BIN_DIR" go install "$VERSITYGW_PKG@$VERSITYGW_VERSION") >"$buildlog" 2>&1; then
    show_log_tail "$buildlog" 40
    die "s3: go install $VERSITYGW_PKG@$VERSITYGW_VERSION failed (full output: $buildlog)"
  fi
  [[ -x "$VGW" ]] || die "s3: go install succeeded but $VGW is missing"
  echo "$VERSITYGW_VERSION" >"$VGW_STAMP"
  log "s3: installed versitygw $VERSITYGW_VERSION at $VGW"
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

status_line() {
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

do_start() {
  if pid_alive "$PIDFILE" "$PID_PATTERN"; then
    wait_ready
    return 0
  fi
  rm -f "$PIDFILE"
  if port_open "$S3_PORT"; then
    local owner
    owner="$(port_owner "$S3_PORT")"
    if [[ "$owner" == *versitygw* ]] && http_answers; then
      warn "s3: 127.0.0.1:$S3_PORT is already served by another versitygw (${owner}); using it. Stop/start from here will not affect it."
      return 0
    fi
    die "s3: port 127.0.0.1:$S3_PORT is in use by ${owner:-an unknown process}; stop it or set S3_PORT"
  fi
  installed || cmd_install
  mkdir -p "$S3_DATA_DIR" "$S3_DIR"
  local args=(--port "$S3_ENDPOINT")
  [[ "$S3_VERBOSE" == 1 ]] || args+=(--quiet)
  [[ -z "$S3_TLS_CERT" ]] || args+=(--cert "$S3_TLS_CERT" --key "$S3_TLS_KEY")
  log "s3: starting versitygw on $S3_SCHEME://$S3_ENDPOINT (data $S3_DATA_DIR)"
  echo "==== $(date -u +%FT%TZ) starting versitygw ${args[*]} posix $S3_DATA_DIR ====" >>"$LOGFILE"
  # setsid: detach from the caller's process group so the server outlives the calling script;
  # the inner bash writes its own pid, then execs versitygw (same pid).
  _SERVICES_LOCK= ROOT_ACCESS_KEY="$S3_ACCESS_KEY" ROOT_SECRET_KEY="$S3_SECRET_KEY" \
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PIDFILE" \
    nohup "$VGW" "${args[@]}" posix "$S3_DATA_DIR" >>"$LOGFILE" 2>&1 </dev/null &
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s "$PIDFILE" ]] && break
    sleep 0.1
  done
  wait_ready
}

wait_ready() {
  local deadline=$((SECONDS + S3_START_TIMEOUT))
  until http_answers; do
    if ! pid_alive "$PIDFILE" "$PID_PATTERN"; then
      show_log_tail "$LOGFILE" 30
      rm -f "$PIDFILE"
      die "s3: versitygw exited during startup (log $LOGFILE)"
    fi
    if ((SECONDS >= deadline)); then
      show_log_tail "$LOGFILE" 30
      die "s3: versitygw did not answer HTTP on $S3_SCHEME://$S3_ENDPOINT within ${S3_START_TIMEOUT}s"
    fi
    sleep 0.2
  done
  log "s3: ready — $(status_line)"
}

cmd_stop() { stop_pidfile s3 "$PIDFILE" "$PID_PATTERN"; }

usage() {
  sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

main() {
  local cmd="${1:-}"
  case "$cmd" in
    install | start | stop | restart) lock_or_reexec s3 "${BASH_SOURCE[0]}" "$@" ;;
  esac
  case "$cmd" in
    install) cmd_install ;;
    start) do_start ;;
    stop) cmd_stop ;;
    restart) cmd_stop && do_start ;;
    status) status_line ;;
    ready) http_answers ;;
    *) usage ;;
  esac
}

main "$@"
