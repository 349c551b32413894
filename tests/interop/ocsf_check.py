"""janus-audit's OCSF findings against OCSF 1.1.0's own schema, offline: ocsf-json-schema (PyPI)
generates the JSON Schema of the Detection Finding class (2004) with the profiles each record
names, and jsonschema checks every line `findings --format ocsf` and `report --formats ocsf`
write, over fixture trails that make every finding kind.

    python ocsf_check.py JANUS WORKDIR
"""
import csv
import io
import json
import pathlib
import subprocess
import sys

from jsonschema import Draft202012Validator
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

janus, work = sys.argv[1], pathlib.Path(sys.argv[2])
schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version="1.1.0"))
validators = {}


def validator(profiles):
    key = tuple(sorted(profiles))
    if key not in validators:
        s = schema.get_class_schema(schema.lookup_class_name_from_uid(2004), profiles=list(key))
        Draft202012Validator.check_schema(s)
        validators[key] = Draft202012Validator(s)
    return validators[key]


def run(*args):
    done = subprocess.run([janus, *args], capture_output=True, text=True)
    if done.returncode not in (0, 3):
        sys.exit(f"janus-audit {' '.join(args)}: exit {done.returncode}: {done.stderr}")
    return done.stdout


RUNS = [
    ["fixtures/findings"],
    ["fixtures/chains"],
    ["fixtures/edge"],
    ["fixtures/sigma/trail", "--sigma"],
    ["fixtures/trust/trail", "--policies", "fixtures/trust/roles"],
    ["fixtures/cloudtrail", "fixtures/gcp/trail", "--gcp-logs", "fixtures/gcp/logs",
     "--gcp-instances", "fixtures/gcp/instances.json",
     "--gcp-service-accounts", "fixtures/gcp/service-accounts.json"],
]
checked, kinds, with_events, bad = 0, set(), 0, []
for args in RUNS:
    lines = [json.loads(l) for l in run("findings", *args, "--format", "ocsf", "-q").splitlines()]
    rows = list(csv.DictReader(io.StringIO(run("findings", *args, "--format", "csv", "-q"))))
    if len(lines) != len(rows):
        bad.append(f"{args}: {len(lines)} OCSF findings, {len(rows)} rows")
    for rec, row in zip(lines, rows):
        assert rec["metadata"]["version"] == "1.1.0", rec["metadata"]
        errors = sorted(validator(rec["metadata"]["profiles"]).iter_errors(rec), key=str)
        if errors:
            bad.append(f"{args} {row['kind']}: " + "; ".join(e.message for e in errors[:3]))
        if rec["finding_info"]["types"] != [row["kind"]] or rec.get("count") != int(row["events"]):
            bad.append(f"{args} {row['kind']}: kind or count differs from the CSV row")
        related = rec["finding_info"].get("related_events", [])
        with_events += bool(related)
        for ev in rec.get("evidences", []):
            if "data" in ev and ev["data"]["event_uid"] not in {r["uid"] for r in related}:
                bad.append(f"{args} {row['kind']}: evidence {ev['data']} not a related event")
        kinds.add(row["kind"])
        checked += 1
# The scheduled report's OCSF file is the findings report's.
out = work / "report"
run("report", "fixtures/findings", "--output-dir", str(out), "--since", "2026-10-08",
    "--until", "2026-10-09", "--formats", "csv,ocsf", "-q")
window = next(out.glob("2026-10-08*"))
ocsf = (window / "findings.ocsf.jsonl").read_text().splitlines()
rows = list(csv.DictReader((window / "findings.csv").open()))
if len(ocsf) != len(rows) or "evidence" in rows[0]:
    bad.append(f"report: {len(ocsf)} OCSF findings, {len(rows)} CSV rows (CSV columns {list(rows[0])})")
for l in ocsf:
    rec = json.loads(l)
    if list(validator(rec["metadata"]["profiles"]).iter_errors(rec)):
        bad.append("report: a finding the schema refuses")
if not (window / "by_instance.csv").exists() or list(window.glob("by_instance.ocsf*")):
    bad.append("report: OCSF is for findings only")
if bad:
    sys.exit("OCSF check failed:\n  " + "\n  ".join(bad))
if checked < 20 or with_events == 0:
    sys.exit(f"too little checked ({checked} findings, {with_events} with events)")
print(f"{checked} findings of {len(kinds)} kinds ({with_events} with their events) and the "
      f"report's {len(ocsf)}: valid OCSF 1.1.0 Detection Findings")
