#!/usr/bin/env bash
# Findings as OCSF, validated offline against OCSF 1.1.0's schema: ocsf-json-schema generates the
# Detection Finding class's JSON Schema and jsonschema checks every record (both from PyPI, in a
# venv); see tests/interop/ocsf_check.py.
#
#   tests/interop/ocsf.sh PATH/TO/janus-audit
set -euo pipefail
janus=$(realpath "$1")
venv="${OCSF_VENV:-$HOME/.cache/janus-audit-ocsf-venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import ocsf_json_schema, jsonschema' 2>/dev/null ||
    "$venv/bin/pip" install --quiet 'ocsf-json-schema>=1.2,<2' 'jsonschema>=4.20'
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$(dirname "$0")/../.."
"$venv/bin/python" tests/interop/ocsf_check.py "$janus" "$work"
