"""janus-audit's Sigma engine against an independent one: pySigma (below 2.0) with its DuckDB
backend (PyPI), over the same records, rule by rule.

    python sigma_check.py JANUS RULE_DIR[,RULE_DIR...] INPUT...

For each rule directory, janus-audit's `sigma` gives its (rule, eventID) hits; pySigma converts
every rule of the directory into DuckDB SQL, which runs over a table of the same records (each
rule's fields flattened into a column), and the two hit sets must be equal for every rule.

The DuckDB backend has known limits, mended here so that the comparison tests the engines, not
the backend's SQL (each is a place where it departs from the Sigma specification):
- a plain value is compared with `=` (case-sensitively); Sigma values match without case, so
  every string test is ILIKE here;
- `_` and `%` in a value are not escaped in its ILIKE patterns (any character, any run); here they
  are, with ESCAPE '\\';
- `NOT expr` is NULL, not true, where the record lacks the field; here it is
  `NOT COALESCE(expr, FALSE)`;
- a field reference is compared with `=`; here without case, as every Sigma value.

The table's columns follow janus-audit's reading of a dotted path (docs/GUIDE.md, "Sigma
rules"): an array met along the path is walked into, an object at the end is its compact JSON;
a field that yields several values is one column of them joined by a newline, which gives the
same answers for `contains` (the only modifier these rules apply to such fields). `exists` is
IS NOT NULL here, which differs from the specification (a field present with a null value
exists) only on records that hold an explicit null in a field a rule tests with it; no rule here
does. A record the table cannot hold is never dropped silently: the run fails.
"""
import glob
import gzip
import json
import os
import subprocess
import sys

import duckdb
from sigma.collection import SigmaCollection
from sigma.conditions import ConditionAND, ConditionOR
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaDetection, SigmaDetectionItem
from sigma.types import SigmaFieldReference
from sigma_backend_duckdb import DuckDBBackend


class Backend(DuckDBBackend):
    escape_char = "\\"
    add_escaped = "\\"
    field_equals_field_expression = "lower({field1})=lower({field2})"

    def convert_condition_field_eq_val_str(self, cond, state):
        field = self.escape_and_quote_field(cond.field)
        return f"{field} ILIKE {self.convert_value_str(cond.value, state)} ESCAPE '\\'"

    def convert_condition_not(self, cond, state):
        arg = cond.args[0]
        if isinstance(arg, (ConditionAND, ConditionOR)):
            expr = self.convert_condition_group(arg, state)
        else:
            expr = "(" + self.convert_condition(arg, state) + ")"
        return f"NOT COALESCE({expr}, FALSE)"


def records(paths):
    """Every record of every .json/.json.gz under the paths, in path order."""
    files = []
    for p in paths:
        if os.path.isdir(p):
            files += [f for f in glob.glob(os.path.join(p, "**", "*"), recursive=True)
                      if f.endswith((".json", ".json.gz")) and os.path.isfile(f)]
        else:
            files.append(p)
    out = []
    for f in sorted(files):
        data = open(f, "rb").read()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        try:
            doc = json.loads(data)
        except ValueError:
            continue  # the invalid samples janus-audit also skips
        if isinstance(doc, dict) and "Records" in doc:
            out += doc["Records"]
        elif isinstance(doc, list):
            out += doc
        elif isinstance(doc, dict) and "eventID" in doc:
            out.append(doc)
    return [r for r in out if isinstance(r, dict) and "digestStartTime" not in r]


def walk_members(obj, segments):
    for take in range(1, len(segments) + 1):
        name = ".".join(segments[:take])
        if name in obj:
            return walk(obj[name], segments[take:])
    return []


def walk(v, rest):
    if isinstance(v, list):
        return [x for item in v for x in walk(item, rest)]
    if isinstance(v, dict) and rest:
        return walk_members(v, rest)
    if rest:
        return []
    if isinstance(v, dict):
        return [json.dumps(v, separators=(",", ":"), ensure_ascii=False)]
    if v is None:
        return [None]
    if isinstance(v, bool):
        return ["true" if v else "false"]
    if isinstance(v, str):
        return [v]
    return [json.dumps(v)]


def column(record, field):
    texts = [v for v in walk_members(record, field.split(".")) if v is not None]
    return "\n".join(texts) if texts else None


def fields_of(rule):
    out = set()

    def visit(d):
        for item in d.detection_items:
            if isinstance(item, SigmaDetection):
                visit(item)
            elif isinstance(item, SigmaDetectionItem):
                if item.field:
                    out.add(item.field)
                for v in item.value:
                    if isinstance(v, SigmaFieldReference):
                        out.add(v.field)

    for d in rule.detection.detections.values():
        visit(d)
    return out


def expected(rules, recs):
    fields = sorted(set().union(*(fields_of(r) for r in rules)) | {"eventID"})
    con = duckdb.connect()
    cols = ", ".join(f'"{f}" VARCHAR' for f in fields)
    con.execute(f"CREATE TABLE logs ({cols})")
    rows = [[column(r, f) for f in fields] for r in recs]
    con.executemany(f"INSERT INTO logs VALUES ({', '.join('?' * len(fields))})", rows)
    assert con.execute("SELECT COUNT(*) FROM logs").fetchone()[0] == len(recs)
    backend = Backend(processing_pipeline=ProcessingPipeline())
    hits = {}
    for rule in rules:
        ids = set()
        for q in backend.convert_rule(rule):
            ids |= {row[0] for row in con.execute(f'SELECT "eventID" FROM ({q}) t').fetchall()}
        hits[str(rule.id)] = ids
    return hits


def actual(janus, rule_dir, inputs):
    out = subprocess.run([janus, "sigma", rule_dir, *inputs, "--format", "json", "-q"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"janus-audit sigma {rule_dir} exited {out.returncode}: {out.stderr}")
    hits = {}
    for row in json.loads(out.stdout or "[]"):
        hits.setdefault(row["rule_id"], set()).add(row["event_id"])
    return hits


def main():
    janus, rule_dirs, inputs = sys.argv[1], sys.argv[2].split(","), sys.argv[3:]
    recs = records(inputs)
    failed, compared, total = [], 0, 0
    for rule_dir in rule_dirs:
        texts = [open(f).read() for f in sorted(glob.glob(os.path.join(rule_dir, "*.yml")))]
        rules = [r for t in texts for r in SigmaCollection.from_yaml(t).rules]
        want = expected(rules, recs)
        got = actual(janus, rule_dir, inputs)
        for rid in sorted(set(want) | set(got)):
            w, g = want.get(rid, set()), got.get(rid, set())
            compared += 1
            total += len(w)
            if w != g:
                failed.append(f"{rid}: pySigma only {sorted(w - g)}, janus-audit only {sorted(g - w)}")
        hit = sum(1 for r in rules if want.get(str(r.id)))
        print(f"{rule_dir}: {len(rules)} rules, {hit} with hits, over {len(recs)} records")
    if failed:
        sys.exit("the engines disagree:\n  " + "\n  ".join(failed))
    if total == 0:
        sys.exit("no rule hit any record: the comparison proves nothing")
    print(f"{compared} rules, {total} hits: janus-audit and pySigma's DuckDB backend agree")


if __name__ == "__main__":
    main()
