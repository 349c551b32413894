#!/usr/bin/env bash
# janus-audit's Sigma engine against pySigma's DuckDB backend (PyPI, in a venv of its own: the
# backend needs pySigma below 2.0): the shipped SigmaHQ rules and the fixture rules over every
# fixture trail and the real samples, hit sets compared rule by rule (tests/interop/sigma_check.py
# says how the backend's known limits are mended).
#
#   tests/interop/sigma.sh PATH/TO/janus-audit
set -euo pipefail
janus=$(realpath "$1")
venv="${SIGMA_VENV:-$HOME/.cache/janus-audit-sigma-venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import sigma_backend_duckdb, duckdb' 2>/dev/null ||
    "$venv/bin/pip" install --quiet 'pysigma>=1.0,<2' 'pysigma-backend-duckdb>=0.1.4,<0.2' 'duckdb>=1.1'
cd "$(dirname "$0")/../.."
"$venv/bin/python" tests/interop/sigma_check.py "$janus" rules/sigma/cloudtrail,fixtures/sigma/rules \
    fixtures/sigma/trail fixtures/samples fixtures/cloudtrail fixtures/findings fixtures/chains
