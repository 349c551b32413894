"""Writes the Spark SQL siblings in this directory from the polars texts in queries/.

The two dialects differ in four spellings only, so the siblings are derived, never edited by hand:
CI runs this and fails when a sibling is out of date, and tests/interop/spark_dataset.py runs both
texts (polars through janus-audit, the siblings on a real Spark) and compares the rows.

    python3 queries/spark/translate.py          # rewrite the siblings
    python3 queries/spark/translate.py --check  # exit 1 if one is out of date
"""
import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent
QUERIES = HERE.parent
# The queries Spark runs: the derived views (calls, call_groups, flagged_calls, orphan_calls) and every
# report over the dataset (timeline needs a
# janus-audit parameter table and is not among them).
# The trust findings read trust_versions, and the GCP findings the gcp_* tables, which
# janus-audit derives in Rust: not among them.
GCP_FINDINGS = {"session_names_unknown_instance", "token_minted_outside_fleet",
                "service_account_key_created", "token_creator_granted"}
DERIVED = ["calls", "call_groups", "flagged_calls", "orphan_calls"]
NAMES = DERIVED + ["by_instance", "sessions"] + sorted(
    "findings/" + p.stem for p in (QUERIES / "findings").glob("*.sql")
    if not p.stem.startswith("trust_") and p.stem not in GCP_FINDINGS)

RULES = [
    # ARRAY_AGG(DISTINCT x ORDER BY x) [FILTER (WHERE c)]: a sorted set. Spark's FILTER goes on
    # the aggregate inside ARRAY_SORT.
    (re.compile(r"ARRAY_AGG\(DISTINCT (\S+) ORDER BY \1\)(\s*)FILTER \(WHERE ([^()]*)\)"),
     r"ARRAY_SORT(COLLECT_SET(\1)\2FILTER (WHERE \3))"),
    (re.compile(r"ARRAY_AGG\(DISTINCT (\S+) ORDER BY \1\)"), r"ARRAY_SORT(COLLECT_SET(\1))"),
    (re.compile(r"ARRAY_AGG\((\S+) ORDER BY \1\)"), r"ARRAY_SORT(COLLECT_LIST(\1))"),
    (re.compile(r"ARRAY_TO_STRING\("), "ARRAY_JOIN("),
    (re.compile(r"EXTRACT\(EPOCH FROM ([^()]+)\)"), r"UNIX_SECONDS(\1)"),
    (re.compile(r"STRFTIME\(([^,()]+), '%Y-%m-%dT%H:%M:%SZ'\)"),
     "DATE_FORMAT(\\1, \"yyyy-MM-dd'T'HH:mm:ss'Z'\")"),
]
# Anything polars-only that the rules above did not rewrite.
LEFT_OVER = re.compile(r"ARRAY_AGG|ARRAY_TO_STRING|EXTRACT\(EPOCH|STRFTIME")


def translate(name):
    """The sibling's text, or None when the polars text serves Spark as it is."""
    original = (QUERIES / f"{name}.sql").read_text()
    text = original
    for pattern, replacement in RULES:
        text = pattern.sub(replacement, text)
    if LEFT_OVER.search(text):
        sys.exit(f"translate.py: queries/{name}.sql uses a polars spelling this script does not know")
    if text == original:
        return None
    if name in DERIVED:
        sys.exit(f"translate.py: queries/{name}.sql must stay one text: `dataset ddl` makes the "
                 f"Spark view `{name}` from it")
    return (f"-- Spark SQL sibling of queries/{name}.sql, written by queries/spark/translate.py: "
            "do not edit.\n" + text)


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for name in NAMES:
        out = HERE / f"{name}.sql"
        text = translate(name)
        current = out.read_text() if out.exists() else None
        if current == text:
            continue
        if check:
            stale.append(str(out.relative_to(QUERIES.parent)))
        elif text is None:
            out.unlink()
        else:
            out.parent.mkdir(exist_ok=True)
            out.write_text(text)
    if stale:
        sys.exit("Spark siblings out of date; run python3 queries/spark/translate.py: " + ", ".join(stale))


main()
