#!/usr/bin/env bash
# Test PKI for the local TLS listeners (Kafka SSL / SASL_SSL, versitygw HTTPS), for tests and demos only.
# Commands and files: scripts/tls.sh --help (the usage text below).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TLS_DIR="${TLS_DIR:-$LOCAL_DIR/tls}"
TLS_DAYS="${TLS_DAYS:-30}"

need_openssl() { command -v openssl >/dev/null 2>&1 || die "openssl not found"; }

# fresh FILE: the certificate exists and is valid for at least one more day.
fresh() { [[ -s "$1" ]] && openssl x509 -in "$1" -noout -checkend 86400 >/dev/null 2>&1; }

new_key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null && chmod 600 "$1"; }

make_ca() { # NAME CN
  local name="$1" cn="$2"
  new_key "$TLS_DIR/$name.key"
  openssl req -x509 -new -key "$TLS_DIR/$name.key" -sha256 -days "$TLS_DAYS" -subj "/CN=$cn" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$TLS_DIR/$name.pem" 2>/dev/null
}

sign() { # NAME CN EXT
  local name="$1" cn="$2" ext="$3" tmp
  tmp="$(mktemp -d)"
  new_key "$TLS_DIR/$name.key"
  openssl req -new -key "$TLS_DIR/$name.key" -subj "/CN=$cn" -out "$tmp/req.csr" 2>/dev/null
  printf '%s\n' "$ext" >"$tmp/ext.cnf"
  openssl x509 -req -in "$tmp/req.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca.key" -CAcreateserial \
    -CAserial "$tmp/ca.srl" -days "$TLS_DAYS" -sha256 -extfile "$tmp/ext.cnf" -out "$TLS_DIR/$name.pem" 2>/dev/null
  rm -rf "$tmp"
}

cmd_generate() {
  need_openssl
  mkdir -p "$TLS_DIR"
  chmod 700 "$TLS_DIR"
  local made=0
  if ! fresh "$TLS_DIR/ca.pem" || [[ ! -s "$TLS_DIR/ca.key" ]]; then
    make_ca ca "hitexport test CA"
    rm -f "$TLS_DIR/server.pem" "$TLS_DIR/client.pem"
    made=1
  fi
  if ! fresh "$TLS_DIR/server.pem" || ! openssl verify -CAfile "$TLS_DIR/ca.pem" "$TLS_DIR/server.pem" >/dev/null 2>&1; then
    sign server localhost "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost"
    made=1
  fi
  if ! fresh "$TLS_DIR/client.pem" || ! openssl verify -CAfile "$TLS_DIR/ca.pem" "$TLS_DIR/client.pem" >/dev/null 2>&1; then
    sign client hitexport "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
    made=1
  fi
  if ! fresh "$TLS_DIR/other-ca.pem"; then
    make_ca other-ca "an unrelated CA"
    made=1
  fi
  if ((made)) || [[ ! -s "$TLS_DIR/server-bundle.pem" ]]; then
    cat "$TLS_DIR/server.key" "$TLS_DIR/server.pem" "$TLS_DIR/ca.pem" >"$TLS_DIR/server-bundle.pem.tmp"
    chmod 600 "$TLS_DIR/server-bundle.pem.tmp"
    mv "$TLS_DIR/server-bundle.pem.tmp" "$TLS_DIR/server-bundle.pem"
    log "test CA and certificates written to $TLS_DIR (valid $TLS_DAYS days)"
  fi
}

usage() {
  cat <<EOF
Test PKI for the local TLS listeners (Kafka SSL / SASL_SSL, versitygw HTTPS): tests and demos only.

Usage: scripts/tls.sh [COMMAND]
  generate       create what is missing (the default; idempotent; renews certificates expiring within a day)
  clean          delete the directory
  env            print exports pointing hitexport at the CA
  -h | --help    this text

Files in TLS_DIR [$TLS_DIR], all PEM:
  ca.pem, ca.key                 the test CA (RSA 2048, TLS_DAYS days)
  server.pem, server.key         server certificate for 127.0.0.1, ::1 and localhost, signed by the CA
  server-bundle.pem              server.key + server.pem + ca.pem in one file (Kafka's PEM keystore)
  client.pem, client.key         client certificate (CN=hitexport) for listeners that require one
  other-ca.pem, other-ca.key     an unrelated CA (tests of "wrong CA")
Keys are unencrypted PKCS#8 (what Kafka's PEM keystore and Go read without a password), mode 0600.
Environment: TLS_DIR, TLS_DAYS [$TLS_DAYS], LOCAL_DIR [$LOCAL_DIR].
EOF
}

case "${1:-generate}" in
  generate) cmd_generate ;;
  clean) rm -rf "$TLS_DIR" && log "removed $TLS_DIR" ;;
  env)
    cat <<EOF
export HITEXPORT_KAFKA_TLS=true
export HITEXPORT_KAFKA_CA_FILE=$TLS_DIR/ca.pem
export HITEXPORT_S3_TLS=true
export HITEXPORT_S3_CA_FILE=$TLS_DIR/ca.pem
EOF
    ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
