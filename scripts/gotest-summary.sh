#!/usr/bin/env bash
# Passes `go test -v` output through, keeping the PASS/FAIL and t.Log lines
# (RUN and CONT lines dropped to keep CI logs short), and exits with go
# test's verdict: non-zero when any test failed or the run panicked.
set -uo pipefail
fail=0
seen=0
while IFS= read -r line; do
  case "$line" in
    "=== RUN"*|"=== PAUSE"*|"=== CONT"*|"=== NAME"*) continue ;;
  esac
  printf '%s\n' "$line"
  case "$line" in
    "--- FAIL"*|"FAIL"*|"panic:"*) fail=1 ;;
    "ok "*|"PASS") seen=1 ;;
  esac
done
if [ "$fail" -ne 0 ] || [ "$seen" -eq 0 ]; then exit 1; fi
exit 0
