#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft, combined broker+controller) for tests and demos.
# Commands and environment: scripts/kafka.sh --help (the usage text below).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_DIR="${KAFKA_DIR:-$LOCAL_DIR/kafka}"
KAFKA_LIBS="${KAFKA_LIBS:-$LOCAL_DIR/kafka/libs}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
KAFKA_BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
KAFKA_SSL_PORT="${KAFKA_SSL_PORT:-}"
KAFKA_SSL_CLIENT_AUTH="${KAFKA_SSL_CLIENT_AUTH:-none}"
KAFKA_SASL_PORT="${KAFKA_SASL_PORT:-}"
KAFKA_SASL_PROTOCOL="${KAFKA_SASL_PROTOCOL:-SASL_SSL}"
KAFKA_SCRAM_USERS="${KAFKA_SCRAM_USERS:-}"
KAFKA_PLAIN_USERS="${KAFKA_PLAIN_USERS:-}"
KAFKA_TLS_DIR="${KAFKA_TLS_DIR:-$LOCAL_DIR/tls}"
check_ports KAFKA_PORT KAFKA_CONTROLLER_PORT
check_ports --optional KAFKA_SSL_PORT KAFKA_SASL_PORT
[[ "$KAFKA_SSL_CLIENT_AUTH" =~ ^(none|requested|required)$ ]] || die "KAFKA_SSL_CLIENT_AUTH must be none, requested or required"
[[ "$KAFKA_SASL_PROTOCOL" =~ ^(SASL_SSL|SASL_PLAINTEXT)$ ]] || die "KAFKA_SASL_PROTOCOL must be SASL_SSL or SASL_PLAINTEXT"
for v in KAFKA_SCRAM_USERS KAFKA_PLAIN_USERS; do
  # name:password pairs; restricted characters keep them safe in JAAS and in --add-scram.
  [[ -z "${!v}" || "${!v}" =~ ^[A-Za-z0-9._-]+:[A-Za-z0-9._~+-]+(,[A-Za-z0-9._-]+:[A-Za-z0-9._~+-]+)*$ ]] ||
    die "$v must be name:password[,name:password...] (letters, digits and ._~+- only)"
done

POM="$REPO_ROOT/deploy/local/kafka-pom.xml"
SERVER_TEMPLATE="$REPO_ROOT/deploy/local/kafka-server.properties"
LOG4J_BROKER="$REPO_ROOT/deploy/local/kafka-log4j2.properties"
LOG4J_TOOLS="$REPO_ROOT/deploy/local/kafka-tools-log4j2.properties"

CONF_DIR="$KAFKA_DIR/config"
DATA_DIR="$KAFKA_DIR/data"
LOGS_DIR="$KAFKA_DIR/logs"
PIDFILE="$KAFKA_DIR/kafka.pid"
OUTFILE="$LOGS_DIR/kafka.out"
CLUSTER_ID_FILE="$KAFKA_DIR/cluster.id"
SERVER_PROPS="$CONF_DIR/server.properties"
# Text that identifies our broker process in /proc/PID/cmdline.
PID_PATTERN="kafka.Kafka $SERVER_PROPS"

java_bin() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    echo "$JAVA_HOME/bin/java"
  elif command -v java >/dev/null 2>&1; then
    command -v java
  else
    die "java not found (Java 17+ is required; set JAVA_HOME or put java on PATH)"
  fi
}

check_java() {
  local j major
  j="$(java_bin)"
  major="$("$j" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p' | head -n1)"
  major="${major#1.}"
  [[ "$major" =~ ^[0-9]+$ ]] || die "could not determine the Java version of $j"
  ((major >= 17)) || die "Kafka 4.x needs Java 17+, but $j is Java $major"
}

stamp_value() { file_sha "$POM"; }

installed() {
  [[ -f "$KAFKA_LIBS/.stamp" && "$(cat "$KAFKA_LIBS/.stamp")" == "$(stamp_value)" ]] &&
    compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null
}

cmd_install() {
  if installed; then
    log "jars already in $KAFKA_LIBS ($(kafka_version))"
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found: Maven is needed to fetch Kafka from Maven Central"
  check_java
  local tmp="$KAFKA_LIBS.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$(dirname "$KAFKA_LIBS")"
  log "resolving jars from Maven Central with $POM (this takes a while the first time)"
  local mvnlog="$LOCAL_DIR/kafka-mvn.log"
  mkdir -p "$LOCAL_DIR"
  if ! mvn -B -q -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp" >"$mvnlog" 2>&1; then
    rm -rf "$tmp"
    show_log_tail "$mvnlog" 60
    die "mvn dependency:copy-dependencies failed (full output: $mvnlog)"
  fi
  compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || { rm -rf "$tmp"; die "mvn ran but no kafka_2.13 jar was copied"; }
  stamp_value >"$tmp/.stamp"
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  log "installed $(ls "$KAFKA_LIBS"/*.jar | wc -l) jars into $KAFKA_LIBS ($(kafka_version))"
}

kafka_version() {
  local j
  j="$(compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" | head -n1)"
  j="${j##*/kafka_2.13-}"
  echo "Kafka ${j%.jar}"
}

# run_tool CLASS ARGS...: run a Kafka CLI main class with the local jars.
run_tool() {
  installed || die "not installed (run scripts/services.sh up or scripts/kafka.sh install)"
  local cls="$1"; shift
  timeout --foreground "${TOOL_TIMEOUT:-0}" "$(java_bin)" -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOG4J_TOOLS" -cp "$KAFKA_LIBS/*" "$cls" "$@"
}

write_config() {
  mkdir -p "$CONF_DIR" "$DATA_DIR" "$LOGS_DIR"
  sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
    -e "s|@KAFKA_CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
    -e "s|@KAFKA_DATA_DIR@|$DATA_DIR|g" \
    "$SERVER_TEMPLATE" >"$SERVER_PROPS.tmp"
  add_secure_listeners "$SERVER_PROPS.tmp"
  chmod 600 "$SERVER_PROPS.tmp"
  mv "$SERVER_PROPS.tmp" "$SERVER_PROPS"
}

# needs_tls: a listener uses the certificates of scripts/tls.sh.
needs_tls() { [[ -n "$KAFKA_SSL_PORT" || (-n "$KAFKA_SASL_PORT" && "$KAFKA_SASL_PROTOCOL" == SASL_SSL) ]]; }

# add_secure_listeners FILE: with KAFKA_SSL_PORT / KAFKA_SASL_PORT, add the SSL and SASL listeners to the
# listeners, advertised listeners and protocol map of FILE, and their settings. Without them: no change.
add_secure_listeners() {
  local f="$1" extra="" map=""
  [[ -n "$KAFKA_SSL_PORT" || -n "$KAFKA_SASL_PORT" ]] || return 0
  if [[ -n "$KAFKA_SSL_PORT" ]]; then
    extra+=",SSL://127.0.0.1:$KAFKA_SSL_PORT"
    map+=",SSL:SSL"
  fi
  if [[ -n "$KAFKA_SASL_PORT" ]]; then
    extra+=",$KAFKA_SASL_PROTOCOL://127.0.0.1:$KAFKA_SASL_PORT"
    map+=",$KAFKA_SASL_PROTOCOL:$KAFKA_SASL_PROTOCOL"
  fi
  sed -i -e "s|^listeners=.*|&$extra|" -e "s|^advertised.listeners=.*|&$extra|" \
    -e "s|^listener.security.protocol.map=.*|&$map|" "$f"
  {
    echo
    echo "# ---- added by scripts/kafka.sh: TLS/SASL listeners ----"
    if needs_tls; then
      TLS_DIR="$KAFKA_TLS_DIR" "$SCRIPTS_DIR/tls.sh" generate
      echo "ssl.keystore.type=PEM"
      echo "ssl.keystore.location=$KAFKA_TLS_DIR/server-bundle.pem"
      echo "ssl.truststore.type=PEM"
      echo "ssl.truststore.location=$KAFKA_TLS_DIR/ca.pem"
      echo "ssl.client.auth=none"
    fi
    if [[ -n "$KAFKA_SSL_PORT" ]]; then
      echo "listener.name.ssl.ssl.client.auth=$KAFKA_SSL_CLIENT_AUTH"
    fi
    if [[ -n "$KAFKA_SASL_PORT" ]]; then
      local ln pair jaas=""
      ln="$(tr '[:upper:]' '[:lower:]' <<<"$KAFKA_SASL_PROTOCOL")"
      echo "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
      echo "listener.name.$ln.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
      for pair in ${KAFKA_PLAIN_USERS//,/ }; do
        jaas+=" user_${pair%%:*}=\"${pair#*:}\""
      done
      echo "listener.name.$ln.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required$jaas;"
      echo "listener.name.$ln.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
      echo "listener.name.$ln.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
    fi
  } >>"$f"
}

format_storage() {
  if [[ -f "$DATA_DIR/meta.properties" ]]; then
    return 0
  fi
  local cid
  if [[ -s "$CLUSTER_ID_FILE" ]]; then
    cid="$(cat "$CLUSTER_ID_FILE")"
  else
    cid="$(run_tool kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)"
    [[ "$cid" =~ ^[A-Za-z0-9_-]{22}$ ]] || die "StorageTool random-uuid returned '$cid'"
    echo "$cid" >"$CLUSTER_ID_FILE"
  fi
  log "formatting KRaft storage in $DATA_DIR (cluster id $cid)"
  local out pair scram=()
  for pair in ${KAFKA_SCRAM_USERS//,/ }; do
    scram+=(--add-scram "SCRAM-SHA-256=[name=${pair%%:*},password=${pair#*:}]"
      --add-scram "SCRAM-SHA-512=[name=${pair%%:*},password=${pair#*:}]")
  done
  if ! out="$(run_tool kafka.tools.StorageTool format --ignore-formatted -t "$cid" -c "$SERVER_PROPS" "${scram[@]}" 2>&1)"; then
    printf '%s\n' "$out" >&2
    die "storage format failed"
  fi
}

# broker_ready: a real metadata round trip (lists topics) succeeds.
broker_ready() {
  TOOL_TIMEOUT=60 run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BOOTSTRAP" --list >/dev/null 2>&1
}

cmd_status() {
  if pid_alive "$PIDFILE" "$PID_PATTERN"; then
    local sec=""
    [[ -n "$KAFKA_SSL_PORT" ]] && sec+=", SSL 127.0.0.1:$KAFKA_SSL_PORT (client auth $KAFKA_SSL_CLIENT_AUTH)"
    [[ -n "$KAFKA_SASL_PORT" ]] && sec+=", $KAFKA_SASL_PROTOCOL 127.0.0.1:$KAFKA_SASL_PORT"
    echo "kafka: running, pid $(cat "$PIDFILE"), bootstrap $KAFKA_BOOTSTRAP$sec, controller 127.0.0.1:$KAFKA_CONTROLLER_PORT, data $DATA_DIR, log $LOGS_DIR/server.log"
    return 0
  fi
  if port_open "$KAFKA_PORT"; then
    echo "kafka: port $KAFKA_PORT is served by another process ($(port_owner "$KAFKA_PORT")), not by $KAFKA_DIR"
    return 1
  fi
  echo "kafka: stopped (data $DATA_DIR)"
  return 3
}

cmd_start() {
  if pid_alive "$PIDFILE" "$PID_PATTERN"; then
    if port_open "$KAFKA_PORT"; then
      log "$(cmd_status)"
      return 0
    fi
    log "pid $(cat "$PIDFILE") is alive but port $KAFKA_PORT is not open yet; waiting"
    wait_ready
    return 0
  fi
  rm -f "$PIDFILE"
  local p owner
  for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" $KAFKA_SSL_PORT $KAFKA_SASL_PORT; do
    if port_open "$p"; then
      owner="$(port_owner "$p")"
      if [[ "$p" == "$KAFKA_PORT" && "$owner" == *kafka.Kafka* ]] && broker_ready; then
        warn "127.0.0.1:$p is already served by another Kafka (${owner:-unknown process}); using it. Stop/start from here will not affect it."
        return 0
      fi
      die "port 127.0.0.1:$p is in use by ${owner:-an unknown process}; stop it or set KAFKA_PORT/KAFKA_CONTROLLER_PORT"
    fi
  done
  installed || cmd_install
  check_java
  write_config
  format_storage
  log "starting broker on $KAFKA_BOOTSTRAP (controller 127.0.0.1:$KAFKA_CONTROLLER_PORT, data $DATA_DIR)"
  local java
  java="$(java_bin)"
  {
    echo
    echo "==== $(date -u +%FT%TZ) starting kafka.Kafka $SERVER_PROPS ===="
  } >>"$OUTFILE"
  # shellcheck disable=SC2086
  start_and_wait "$PIDFILE" "$PID_PATTERN" "$KAFKA_START_TIMEOUT" 1 cmd_ready "$OUTFILE $LOGS_DIR/server.log" "$OUTFILE" \
    "$java" $KAFKA_HEAP_OPTS -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
    -Dkafka.logs.dir="$LOGS_DIR" -Dlog4j2.configurationFile="$LOG4J_BROKER" \
    ${KAFKA_OPTS:-} -cp "$KAFKA_LIBS/*" kafka.Kafka "$SERVER_PROPS"
  log "ready — $(cmd_status)"
}

# wait_ready: the broker of PIDFILE answers a metadata request (port open first: a tool run costs a JVM).
wait_ready() {
  wait_started "$PIDFILE" "$PID_PATTERN" "$KAFKA_START_TIMEOUT" 1 cmd_ready "$OUTFILE $LOGS_DIR/server.log"
  log "ready — $(cmd_status)"
}

cmd_stop() { stop_pidfile broker "$PIDFILE" "$PID_PATTERN"; }

cmd_ready() {
  port_open "$KAFKA_PORT" && broker_ready
}

cmd_topic_create() {
  local name="${1:?usage: kafka.sh topic-create NAME [PARTITIONS]}" parts="${2:-4}"
  run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BOOTSTRAP" --create \
    --if-not-exists --topic "$name" --partitions "$parts" --replication-factor 1
}

usage() {
  cat <<EOF
Local single-node Apache Kafka (KRaft, combined broker+controller) for tests and demos.

Usage: scripts/kafka.sh COMMAND
  install                         fetch the jars (no-op when present)
  start                           start the broker and wait until it answers (no-op when running)
  stop | restart                  SIGTERM, SIGKILL after ${STOP_TIMEOUT}s; data is kept
  status                          print the state (exit 0 running, 1 port taken by another process, 3 stopped)
  ready                           exit 0 if the broker answers a metadata request
  version                         print the installed Kafka version
  tool CLASS [ARGS...]            run a Kafka CLI class, e.g.
      scripts/kafka.sh tool org.apache.kafka.tools.TopicCommand --bootstrap-server $KAFKA_BOOTSTRAP --list
  topic-create NAME [PARTITIONS]  create a topic if it does not exist (default 4 partitions)
  -h | --help                     this text

Jars come from Maven Central (deploy/local/kafka-pom.xml) into KAFKA_LIBS; the broker runs on the
machine's Java 17+.

Environment (current value in brackets):
  KAFKA_PORT             PLAINTEXT listener on 127.0.0.1 [$KAFKA_PORT]
  KAFKA_CONTROLLER_PORT  KRaft controller listener on 127.0.0.1 [$KAFKA_CONTROLLER_PORT]
  KAFKA_DIR              config, data, logs and pid file [$KAFKA_DIR]
  KAFKA_LIBS             where the jars go [$KAFKA_LIBS]
  KAFKA_HEAP_OPTS        JVM heap flags [$KAFKA_HEAP_OPTS]
  KAFKA_OPTS             more JVM flags for the broker [${KAFKA_OPTS:-}]
  KAFKA_START_TIMEOUT    seconds to wait for the broker to be ready [$KAFKA_START_TIMEOUT]
  STOP_TIMEOUT           seconds between SIGTERM and SIGKILL on stop [$STOP_TIMEOUT]
  LOCAL_DIR              root of all local state [$LOCAL_DIR]
Optional TLS/SASL listeners (off unless set; the PLAINTEXT listener always stays, tools use it):
  KAFKA_SSL_PORT         adds an SSL listener on 127.0.0.1 (certificates from scripts/tls.sh) [$KAFKA_SSL_PORT]
  KAFKA_SSL_CLIENT_AUTH  none|requested|required: client certificates on the SSL listener [$KAFKA_SSL_CLIENT_AUTH]
  KAFKA_SASL_PORT        adds a SASL listener on 127.0.0.1 with PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 [$KAFKA_SASL_PORT]
  KAFKA_SASL_PROTOCOL    SASL_SSL or SASL_PLAINTEXT [$KAFKA_SASL_PROTOCOL]
  KAFKA_SCRAM_USERS      name:password[,name:password...] SCRAM-SHA-256/512 users, created when the
                         storage is formatted (a fresh KAFKA_DIR); later: kafka-configs --alter --add-config
  KAFKA_PLAIN_USERS      name:password[,...] PLAIN users (JAAS of the SASL listener, in server.properties)
  KAFKA_TLS_DIR          the PEM files of scripts/tls.sh, generated when missing [$KAFKA_TLS_DIR]
EOF
}

cmd_other() {
  local cmd="$1"
  shift
  case "$cmd" in
    version) installed && kafka_version ;;
    tool) [[ $# -ge 1 ]] || { usage >&2; exit 2; }; run_tool "$@" ;;
    topic-create) cmd_topic_create "$@" ;;
    *) usage >&2; exit 2 ;;
  esac
}

service_main kafka "$@"
