# shellcheck shell=bash
# Shared helpers for scripts/services.sh, scripts/kafka.sh and scripts/s3.sh.
# Source it; do not run it. Everything lives under $LOCAL_DIR (default <repo>/.local, git-ignored).

# Resolve the repo root from this file's location, so the scripts work from any cwd.
SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd "$SCRIPTS_DIR/.." && pwd -P)"
LOCAL_DIR="${LOCAL_DIR:-$REPO_ROOT/.local}"
# Seconds to wait for a process to exit after SIGTERM before SIGKILL.
STOP_TIMEOUT="${STOP_TIMEOUT:-15}"

log() { printf '[services] %s\n' "$*" >&2; }
warn() { printf '[services] WARNING: %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

# show_log_tail FILE [LINES]: print the end of a service log to stderr (used on failures).
show_log_tail() {
  local f="$1" n="${2:-40}"
  if [[ -s "$f" ]]; then
    printf '[services] ---- last %s lines of %s ----\n' "$n" "$f" >&2
    tail -n "$n" "$f" >&2
    printf '[services] ---- end of %s ----\n' "$f" >&2
  else
    printf '[services] (log %s is empty or missing)\n' "$f" >&2
  fi
}

# port_open PORT [HOST]: true if something accepts TCP connections there.
port_open() {
  local port="$1" host="${2:-127.0.0.1}"
  timeout 2 bash -c ": >/dev/tcp/$host/$port" 2>/dev/null
}

# pid_alive PIDFILE PATTERN: true if the pid in PIDFILE runs and its command line contains PATTERN
# (guards against a stale pid file whose pid was reused by another program).
pid_alive() {
  local pidfile="$1" pattern="$2" pid
  [[ -s "$pidfile" ]] || return 1
  pid="$(cat "$pidfile" 2>/dev/null)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  [[ -r /proc/$pid/cmdline ]] || return 0
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$pattern"
}

# port_owner PORT: best-effort "pid cmdline" of the process listening on PORT (empty if unknown).
port_owner() {
  local port="$1" pid=""
  if command -v ss >/dev/null 2>&1; then
    pid="$(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2)"
  fi
  if [[ -z "$pid" ]] && command -v lsof >/dev/null 2>&1; then
    pid="$(lsof -nP -t -iTCP:"$port" -sTCP:LISTEN 2>/dev/null | head -n1)"
  fi
  [[ -n "$pid" ]] || return 0
  printf '%s %s' "$pid" "$(tr '\0\n' '  ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-200)"
}

# stop_pidfile NAME PIDFILE PATTERN: SIGTERM, wait up to STOP_TIMEOUT s, then SIGKILL; remove pidfile.
stop_pidfile() {
  local name="$1" pidfile="$2" pattern="$3" pid i
  if ! pid_alive "$pidfile" "$pattern"; then
    rm -f "$pidfile"
    log "$name: not running"
    return 0
  fi
  pid="$(cat "$pidfile")"
  log "$name: stopping pid $pid (SIGTERM)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    warn "$name: pid $pid still alive after ${STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -0 "$pid" 2>/dev/null && die "$name: pid $pid survived SIGKILL"
  fi
  rm -f "$pidfile"
  log "$name: stopped"
}

# lock_or_reexec NAME SCRIPT ARGS...: make sure this script runs holding the exclusive lock NAME, so
# concurrent runs (other engineers, parallel test packages) do not race. If the lock is not held yet,
# re-run SCRIPT ARGS under `flock -o`: flock itself holds the lock and closes it in the command, so
# no service started by the command inherits (and keeps) the lock. Returns only when the lock is held.
lock_or_reexec() {
  local name="$1" script="$2"; shift 2
  [[ "${_SERVICES_LOCK:-}" == "$name" ]] && return 0
  command -v flock >/dev/null 2>&1 || return 0
  local lf="$LOCAL_DIR/locks/$name.lock" rc=0
  mkdir -p "$LOCAL_DIR/locks"
  if ! flock -n "$lf" true; then
    log "$name: waiting for another run to finish (lock $lf)"
  fi
  _SERVICES_LOCK="$name" flock -o -w "${LOCK_TIMEOUT:-900}" -E 75 "$lf" "$script" "$@" || rc=$?
  [[ $rc -eq 75 ]] && die "$name: could not take lock $lf within ${LOCK_TIMEOUT:-900}s (held by: $(lsof -t "$lf" 2>/dev/null | tr '\n' ' '))"
  exit $rc
}

# file_sha FILE...: a content hash of the given files (used as an install stamp).
file_sha() {
  cat "$@" | sha256sum | cut -d' ' -f1
}
