#!/usr/bin/env bash
# Runs every report on every fixture trail with two builds and compares what they write (stdout,
# stderr, exit status, report files), for a change that must not change behaviour:
#   tests/interop/same_outputs.sh OLD_BINARY NEW_BINARY
# Run from the repository root. Prints the first differences and exits 1 when any output differs.
set -uo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Each build runs from its side's directory, so that a path it records (argv[0]) reads the same.
mkdir -p "$work/old/.bin" "$work/new/.bin"
cp "$1" "$work/old/.bin/janus-audit"; cp "$2" "$work/new/.bin/janus-audit"
old=$work/old/.bin/janus-audit new=$work/new/.bin/janus-audit
export JANUS_AUDIT_CACHE_DIR="$work/cache" NO_COLOR=1 TZ=UTC

# run NAME ARGS...: run both builds with ARGS in their own directory; OUT stands for that directory.
run() {
    local name=$1; shift
    for side in old new; do
        local dir="$work/$side/$name"
        mkdir -p "$dir/out"
        local bin=$old; [ "$side" = new ] && bin=$new
        local args=("${@//OUT/$dir/out}")
        args=("${args[@]//SIDE/$work/$side}")
        "$bin" "${args[@]}" >"$dir/stdout" 2>"$dir/stderr"
        echo $? >"$dir/status"
        # Paths of the run's own directory differ between the sides, and so do the times a report
        # was generated (and the hashes of the files that carry them); nothing else may.
        python3 - "$dir" "$work/$side" <<'PY'
import os, re, sys
top, side = sys.argv[1], sys.argv[2]
for root, _, files in os.walk(top):
    for name in files:
        path = os.path.join(root, name)
        try:
            text = open(path, encoding="utf-8").read()
        except (UnicodeDecodeError, OSError):
            continue
        text = text.replace(os.path.join(top, "out"), "OUT").replace(side, "SIDE")
        text = re.sub(r'("generated_at": )"[^"]*"', r'\1"T"', text)
        text = re.sub(r"(<dt>generated</dt><dd>)[^<]*", r"\1T", text)
        if name == "manifest.json":
            text = re.sub(r'("sha256": )"[0-9a-f]{64}"', r'\1"H"', text)
        open(path, "w", encoding="utf-8").write(text)
PY
    done
}

all=(--since 2000-01-01T00:00:00Z --until 2100-01-01T00:00:00Z)
for fixture in fixtures/*/; do
    f=$(basename "$fixture")
    for cmd in by-instance sessions findings; do
        for fmt in table csv json; do
            run "$f-$cmd-$fmt" "$cmd" "$fixture" --provider any --format "$fmt" "${all[@]}"
        done
        run "$f-$cmd-parquet" "$cmd" "$fixture" --provider any --format parquet -o OUT/r.parquet "${all[@]}"
        run "$f-$cmd-html" "$cmd" "$fixture" --provider any --format html -o OUT/r.html "${all[@]}"
    done
    for table in events assumptions calls key_lineage; do
        run "$f-$table" query "select * from $table order by all" "$fixture" --provider any --format csv "${all[@]}"
    done
    run "$f-report" report "$fixture" --output-dir OUT --formats csv,json,html "${all[@]}"
    run "$f-ingest" ingest "$fixture" --dataset OUT/ds
    for cmd in by-instance sessions findings; do
        run "$f-ds-$cmd" "$cmd" --dataset "SIDE/$f-ingest/out/ds" --provider any --format csv "${all[@]}"
    done
    run "$f-verify" verify "$fixture"
done
run timeline-instance timeline fixtures/cloudtrail --instance web-1 --format csv "${all[@]}"
run tables tables
run ddl-spark dataset ddl --engine spark --dataset "SIDE/cloudtrail-ingest/out/ds" --location /ds
run ddl-athena dataset ddl --engine athena --dataset "SIDE/cloudtrail-ingest/out/ds" --location s3://b/ds
run help --help

status=0
for dir in "$work"/old/*/; do
    name=$(basename "$dir")
    if ! diff -r "$dir" "$work/new/$name" >"$work/diff" 2>&1; then
        echo "DIFFERS: $name"; head -20 "$work/diff" | cut -c1-300; status=1
    fi
done
echo "$(ls "$work/old" | wc -l) runs compared"
exit $status
