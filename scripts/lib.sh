# shellcheck shell=bash
# Shared helpers of the scripts in scripts/ (services.sh, kafka.sh, s3.sh, tls.sh, chromium.sh).
# Source it; do not run it. Everything lives under $LOCAL_DIR (default <repo>/.local, git-ignored).

# Resolve the repo root from this file's location, so the scripts work from any cwd.
SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd "$SCRIPTS_DIR/.." && pwd -P)"
LOCAL_DIR="${LOCAL_DIR:-$REPO_ROOT/.local}"
# Resolve symlinks (a worktree's .local may point at a shared one): the service processes are matched
# by the paths in their command lines, which are physical.
if [[ -d "$LOCAL_DIR" ]]; then LOCAL_DIR="$(cd "$LOCAL_DIR" && pwd -P)"; fi
# Seconds to wait for a process to exit after SIGTERM before SIGKILL.
STOP_TIMEOUT="${STOP_TIMEOUT:-15}"

# Every line a script logs starts with its name: [kafka], [s3], [services], [tls], ...
LOG_PREFIX="$(basename "$0" .sh)"
log() { printf '[%s] %s\n' "$LOG_PREFIX" "$*" >&2; }
warn() { printf '[%s] WARNING: %s\n' "$LOG_PREFIX" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$LOG_PREFIX" "$*" >&2; exit 1; }

# show_log_tail FILE [LINES]: print the end of a service log to stderr (used on failures).
show_log_tail() {
  local f="$1" n="${2:-40}"
  if [[ -s "$f" ]]; then
    log "---- last $n lines of $f ----"
    tail -n "$n" "$f" >&2
    log "---- end of $f ----"
  else
    log "(log $f is empty or missing)"
  fi
}

# check_ports [--optional] VAR...: each named variable holds a port number (with --optional: or is
# empty); die naming the variable otherwise.
check_ports() {
  local empty_ok=0 v
  [[ "${1:-}" == --optional ]] && { empty_ok=1; shift; }
  for v; do
    [[ "${!v}" =~ ^[0-9]+$ || ($empty_ok == 1 && -z "${!v}") ]] || die "$v must be a port number, got '${!v}'"
  done
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

# start_detached PIDFILE OUTFILE CMD ARGS...: start CMD in a session of its own (setsid: it outlives
# the calling script and its process group), stdout and stderr appended to OUTFILE; returns once
# PIDFILE holds the pid (an inner bash writes its own pid, then execs CMD, so the pid is CMD's).
# Environment assignments before the call reach CMD. The services lock is not passed on.
start_detached() {
  local pidfile="$1" out="$2" i
  shift 2
  _SERVICES_LOCK= setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" \
    nohup "$@" >>"$out" 2>&1 </dev/null &
  for ((i = 0; i < 50; i++)); do
    [[ -s "$pidfile" ]] && return 0
    sleep 0.1
  done
}

# wait_started PIDFILE PATTERN TIMEOUT INTERVAL CHECK LOGS: run CHECK (a command or function) every
# INTERVAL seconds until it succeeds. If the process of PIDFILE/PATTERN exits first, or TIMEOUT seconds
# pass, print the tails of LOGS (space-separated files) and die.
wait_started() {
  local pidfile="$1" pattern="$2" timeout="$3" interval="$4" check="$5" logs f
  read -r -a logs <<<"$6"
  local deadline=$((SECONDS + timeout))
  until $check; do
    if ! pid_alive "$pidfile" "$pattern"; then
      for f in "${logs[@]}"; do show_log_tail "$f" 40; done
      rm -f "$pidfile"
      die "the process exited during startup (logs: ${logs[*]})"
    fi
    if ((SECONDS >= deadline)); then
      for f in "${logs[@]}"; do show_log_tail "$f" 40; done
      die "not ready within ${timeout}s: '$check' still fails (pid $(cat "$pidfile" 2>/dev/null), logs: ${logs[*]})"
    fi
    sleep "$interval"
  done
}

# start_and_wait PIDFILE PATTERN TIMEOUT INTERVAL CHECK LOGS OUTFILE CMD ARGS...: the start of a
# service: start_detached, then wait_started.
start_and_wait() {
  local pidfile="$1" pattern="$2" timeout="$3" interval="$4" check="$5" logs="$6" out="$7"
  shift 7
  start_detached "$pidfile" "$out" "$@"
  wait_started "$pidfile" "$pattern" "$timeout" "$interval" "$check" "$logs"
}

# stop_pidfile NAME PIDFILE PATTERN: SIGTERM, wait up to STOP_TIMEOUT s, then SIGKILL; remove pidfile.
stop_pidfile() {
  local name="$1" pidfile="$2" pattern="$3" pid i
  if ! pid_alive "$pidfile" "$pattern"; then
    rm -f "$pidfile"
    log "$name not running"
    return 0
  fi
  pid="$(cat "$pidfile")"
  log "stopping $name, pid $pid (SIGTERM)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    warn "$name pid $pid still alive after ${STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -0 "$pid" 2>/dev/null && die "$name pid $pid survived SIGKILL"
  fi
  rm -f "$pidfile"
  log "$name stopped"
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
    log "waiting for another run to finish (lock $lf)"
  fi
  _SERVICES_LOCK="$name" flock -o -w "${LOCK_TIMEOUT:-900}" -E 75 "$lf" "$script" "$@" || rc=$?
  [[ $rc -eq 75 ]] && die "could not take lock $lf within ${LOCK_TIMEOUT:-900}s (held by: $(lsof -t "$lf" 2>/dev/null | tr '\n' ' '))"
  exit $rc
}

# service_main NAME ARGS...: the command line of a service script (kafka.sh, s3.sh). The script
# defines cmd_install, cmd_start, cmd_stop, cmd_status, cmd_ready and usage, and optionally
# cmd_other CMD ARGS... for commands of its own (it prints usage and exits 2 on an unknown one).
# install, start, stop and restart run under the lock NAME.
service_main() {
  local name="$1" cmd="${2:-}"
  shift
  case "$cmd" in
    install | start | stop | restart) lock_or_reexec "$name" "$0" "$@" ;;
  esac
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    restart) cmd_stop && cmd_start ;;
    status) cmd_status ;;
    ready) cmd_ready ;;
    -h | --help | help) usage ;;
    *)
      if declare -F cmd_other >/dev/null; then
        cmd_other "$cmd" "$@"
      else
        usage >&2
        exit 2
      fi
      ;;
  esac
}

# file_sha FILE...: a content hash of the given files (used as an install stamp).
file_sha() {
  cat "$@" | sha256sum | cut -d' ' -f1
}
