#!/usr/bin/env bash
# The scheduled report's Parquet read by another implementation: pyarrow (PyPI, in a venv) reads
# each .parquet that `janus-audit report` wrote and compares it with the .csv beside it: same
# columns, same row count, matching column types, same values.
#
#   tests/interop/parquet.sh PATH/TO/janus-audit
set -euo pipefail
janus=$(realpath "$1")
venv="${INTEROP_VENV:-$HOME/.cache/janus-audit-interop-venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import pyarrow' 2>/dev/null || "$venv/bin/pip" install --quiet pyarrow

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$(dirname "$0")/../.."
"$janus" report -q --output-dir "$work" fixtures/findings --since 2026-10-08 --until 2026-10-09
"$venv/bin/python" - "$work"/2026-10-08T00-00Z_2026-10-09T00-00Z <<'PY'
import sys, os
import pyarrow as pa, pyarrow.csv as pcsv, pyarrow.parquet as pq
win = sys.argv[1]

def family(t):
    if pa.types.is_integer(t): return "integer"
    if pa.types.is_floating(t): return "float"
    if pa.types.is_timestamp(t): return "timestamp"
    if pa.types.is_boolean(t): return "boolean"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t) \
            or pa.types.is_large_list_view(t): return "list"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t) \
            or pa.types.is_null(t): return "string"
    return str(t)

def text(v):
    if v is None: return ""
    if isinstance(v, list): return ";".join(v)
    if hasattr(v, "strftime"): return v.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(v)

for name in ("by_instance", "sessions", "findings"):
    p = pq.read_table(os.path.join(win, name + ".parquet"))
    # Read every CSV column as text, then let pyarrow infer types separately for the comparison.
    names = pcsv.read_csv(os.path.join(win, name + ".csv")).column_names
    c_typed = pcsv.read_csv(os.path.join(win, name + ".csv"))
    c_text = pcsv.read_csv(os.path.join(win, name + ".csv"),
        convert_options=pcsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                            strings_can_be_null=False))
    assert p.column_names == c_text.column_names, (name, p.column_names, c_text.column_names)
    assert p.num_rows == c_text.num_rows, (name, p.num_rows, c_text.num_rows)
    for col in p.column_names:
        pf = family(p.schema.field(col).type)
        cf = family(c_typed.schema.field(col).type)
        # CSV joins lists with ';'; a column that is empty in every row infers as null.
        values = p.column(col).to_pylist()
        # CSV carries no types: a column of digit strings (a Google `sub`) infers as a number.
        digits = pf == "string" and cf in ("integer", "float") \
            and all(v is None or v.isdigit() for v in values)
        ok = pf == cf or (pf == "list" and cf == "string") or digits \
            or c_typed.column(col).null_count == c_typed.num_rows
        assert ok, (name, col, str(p.schema.field(col).type), str(c_typed.schema.field(col).type))
        assert [text(v) for v in values] == c_text.column(col).to_pylist(), (name, col)
    print(f"{name}: {p.num_rows} rows, {p.num_columns} columns: Parquet (pyarrow {pa.__version__}) matches CSV")
PY
