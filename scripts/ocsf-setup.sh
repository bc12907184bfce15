#!/usr/bin/env bash
# ocsf-setup.sh: prepares the OCSF 1.8.0 validator used by the tests.
#
# Idempotent. Creates a Python venv under .local/ocsf/venv, installs the pinned
# packages from PyPI, and builds .local/ocsf/http_activity-1.8.0-security_control.json
# (JSON Schema 2020-12 of class HTTP Activity 4002 with the security_control
# profile, plus the semantic data the validator checks) from the OCSF 1.8.0
# schema that the ocsf-json-schema package ships (the schema server's export of
# release 1.8.0). Nothing is downloaded at run time but these PyPI packages.
#
# Environment: PYTHON (default python3), OCSF_DIR (default <repo>/.local/ocsf).
# A second run with nothing changed returns at once.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OCSF_DIR="${OCSF_DIR:-$ROOT/.local/ocsf}"
VENV="$OCSF_DIR/venv"
PYTHON="${PYTHON:-python3}"
VALIDATOR="$ROOT/scripts/ocsf_validate.py"
BUNDLE="$OCSF_DIR/http_activity-1.8.0-security_control.json"

# Pinned: the schema data (ocsf-json-schema) and the JSON Schema validator
# (jsonschema) with its dependencies, so every machine validates alike.
PACKAGES=(
	"ocsf-json-schema==1.2.0"
	"jsonschema==4.26.0"
	"jsonschema-specifications==2025.9.1"
	"referencing==0.37.0"
	"rpds-py==2026.9.1"
	"attrs==26.1.0"
	"typing-extensions==4.16.0"
)

die() { echo "ocsf-setup: $*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found: install Python 3.10 or newer"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
	|| die "$PYTHON is $("$PYTHON" -V 2>&1); ocsf-json-schema needs Python 3.10 or newer"

mkdir -p "$OCSF_DIR"

# The stamp names everything the result depends on.
stamp_of() {
	{
		printf '%s\n' "${PACKAGES[@]}"
		"$PYTHON" -c 'import sys; print(sys.version)'
		sha256sum "$VALIDATOR" "${BASH_SOURCE[0]}" | cut -d' ' -f1
	} | sha256sum | cut -d' ' -f1
}
STAMP="$(stamp_of)"

ready() {
	[[ -f "$OCSF_DIR/ready" && "$(cat "$OCSF_DIR/ready")" == "$STAMP" && -s "$BUNDLE" && -x "$VENV/bin/python" ]]
}

if ready; then
	echo "ocsf-setup: ready ($OCSF_DIR)"
	exit 0
fi

# One setup at a time (parallel test binaries may call this together).
if command -v flock >/dev/null 2>&1; then
	exec 9>"$OCSF_DIR/.lock"
	flock 9
fi
if ready; then
	echo "ocsf-setup: ready ($OCSF_DIR)"
	exit 0
fi

start=$(date +%s)
rm -f "$OCSF_DIR/ready"
want_py="$("$PYTHON" -c 'import sys; print(sys.version)')"
have_py="$("$VENV/bin/python" -c 'import sys; print(sys.version)' 2>/dev/null || true)"
if [[ "$have_py" != "$want_py" ]]; then # missing, broken, or another Python
	rm -rf "$VENV"
	"$PYTHON" -m venv "$VENV" \
		|| die "'$PYTHON -m venv' failed: on Debian/Ubuntu install python3-venv (apt-get install python3-venv)"
fi
"$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --quiet "${PACKAGES[@]}" \
	|| die "pip install of ${PACKAGES[*]} failed (is PyPI reachable?)"
"$VENV/bin/python" "$VALIDATOR" --build "$BUNDLE" \
	|| die "building the OCSF 1.8.0 schema bundle failed"
echo "$STAMP" >"$OCSF_DIR/ready"
echo "ocsf-setup: done in $(( $(date +%s) - start ))s ($OCSF_DIR)"
