#!/usr/bin/env bash
# Security Lake as a source: each fixture trail converted by tests/interop/ct_to_ocsf.py (AWS's
# published CloudTrail-to-OCSF mapping, pyarrow from PyPI in the interop venv) into OCSF 1.1 API
# Activity Parquet under Security Lake's layout, and every report (by-instance, sessions,
# findings, timeline, Sigma hits) over it compared byte for byte with the same report over the
# CloudTrail JSON.
#
#   tests/interop/security_lake.sh PATH/TO/janus-audit
set -euo pipefail
janus=$(realpath "$1")
venv="${INTEROP_VENV:-$HOME/.cache/janus-audit-interop-venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import pyarrow' 2>/dev/null || "$venv/bin/pip" install --quiet pyarrow
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$(dirname "$0")/../.."
failed=0
compared=0
# Each trail with an instance whose timeline it holds.
for pair in fixtures/cloudtrail:etl-1 fixtures/findings:web-4 fixtures/chains:app-1 \
            fixtures/sigma/trail:web-7; do
    trail=${pair%%:*} instance=${pair##*:}
    lake="$work/$(echo "$trail" | tr / _)"
    "$venv/bin/python" tests/interop/ct_to_ocsf.py "$trail" "$lake"
    for report in "by-instance" "sessions" "findings --sigma" "timeline --instance $instance" \
                  "sigma shipped"; do
        # shellcheck disable=SC2086
        "$janus" $report "$trail" --format csv -q > "$work/json.csv" || [ $? = 3 ]
        # shellcheck disable=SC2086
        "$janus" $report "$lake" --format csv -q > "$work/lake.csv" || [ $? = 3 ]
        compared=$((compared + 1))
        if ! cmp -s "$work/json.csv" "$work/lake.csv"; then
            echo "DIFFER $trail $report:"
            diff "$work/json.csv" "$work/lake.csv" | head -6
            failed=1
        else
            echo "same $trail $report: $(($(wc -l < "$work/json.csv") - 1)) row(s)"
        fi
    done
done
[ "$failed" = 0 ] || { echo "Security Lake and CloudTrail JSON give different reports" >&2; exit 1; }
echo "$compared reports: the same from Security Lake's OCSF Parquet as from CloudTrail's JSON"
