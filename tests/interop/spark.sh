#!/usr/bin/env bash
# The dataset on a real Apache Spark (pyspark from PyPI, in its own venv; Java 17 from the machine):
# every fixture trail is ingested, its Spark DDL applied, and by_instance, sessions, calls and every
# finding run on local Spark and compared row by row with janus-audit (tests/interop/spark_dataset.py).
#
#   tests/interop/spark.sh PATH/TO/janus-audit
set -euo pipefail
janus=$(realpath "$1")
venv="${SPARK_VENV:-$HOME/.cache/janus-audit-spark-venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import pyspark' 2>/dev/null || "$venv/bin/pip" install --quiet "pyspark>=4.0,<5"
command -v java >/dev/null || { echo "tests/interop/spark.sh: Spark needs java (17) on PATH" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$(dirname "$0")/../.."
# Spark's own logging (JVM warnings, log4j banners) goes to a file; the comparison to the log.
"$venv/bin/python" tests/interop/spark_dataset.py "$janus" "$work" \
    fixtures/cloudtrail fixtures/findings fixtures/edge fixtures/damaged fixtures/chains fixtures/reuse 2>"$work/spark.log" || {
    tail -n 40 "$work/spark.log" >&2
    exit 1
}

# The driver as the README runs it, on the findings trail's dataset: its CSV is janus-audit's.
"$janus" dataset ddl --dataset "$work/dataset-1" --engine spark >"$work/ddl.sql"
for report in by_instance sessions findings; do
    "$venv/bin/python" spark/janus_spark.py --ddl "$work/ddl.sql" "$report" >"$work/spark.csv" 2>>"$work/spark.log"
    "$janus" "${report/_/-}" --dataset "$work/dataset-1" --format csv -q >"$work/janus.csv"
    diff "$work/janus.csv" "$work/spark.csv" || { echo "spark/janus_spark.py $report differs from janus-audit" >&2; exit 1; }
    echo "spark/janus_spark.py $report: the same CSV as janus-audit ($(($(wc -l <"$work/janus.csv") - 1)) rows)"
done
