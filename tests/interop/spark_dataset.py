"""The dataset on a real Spark: for each fixture trail, `janus-audit ingest` makes a dataset,
`janus-audit dataset ddl --engine spark` makes its tables and views in local Spark, and
spark/janus_spark.py runs the repository's SQL there (queries/spark/ siblings where the dialects
differ). Every row of by_instance, sessions, calls and every finding must equal janus-audit's own
output over the same dataset, and over the JSON files themselves.

    python spark_dataset.py JANUS WORKDIR TRAIL...
"""
import csv
import io
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "spark"))
import janus_spark  # noqa: E402

from pyspark.sql import SparkSession  # noqa: E402

janus, work, trails = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3:]
QUERIES = ROOT / "queries"
# janus-audit's command for each report, and the Spark report it must equal.
REPORTS = [("by_instance", ["by-instance"]), ("sessions", ["sessions"]), ("findings", ["findings"])]
REPORTS += [(n, ["query", str(QUERIES / f"{n}.sql")]) for n in janus_spark.finding_names(QUERIES)]
# The rest have no row order of their own: both sides are sorted by every column.
ORDERED = {"by_instance", "sessions", "findings"}
REPORTS += [("calls", ["query", "SELECT * FROM calls"])]


def run(*args):
    # Exit 3 says some input was unreadable (the damaged trail); its output is still complete.
    done = subprocess.run([janus, *args], capture_output=True, text=True)
    if done.returncode not in (0, 3):
        sys.exit(f"janus-audit {' '.join(args)}: exit {done.returncode}: {done.stderr}")
    return done.stdout


def janus_rows(args, source):
    out = run(*args, *source, "--format", "csv", "-q") if args[0] != "query" else \
        run(args[0], args[1], *source, "--format", "csv", "-q")
    rows = list(csv.reader(io.StringIO(out)))
    return rows[0] if rows else [], rows[1:]


spark = (SparkSession.builder.master("local[2]").appName("janus-audit-interop")
         .config("spark.ui.enabled", "false").config("spark.sql.session.timeZone", "UTC")
         .config("spark.sql.shuffle.partitions", "4").config("spark.driver.memory", "4g")
         .config("spark.ui.showConsoleProgress", "false")
         .config("spark.sql.warehouse.dir", str(work / "spark-warehouse"))
         .getOrCreate())
spark.sparkContext.setLogLevel("ERROR")

failed = []
for n, trail in enumerate(trails):
    dataset = work / f"dataset-{n}"
    run("ingest", trail, "--dataset", str(dataset), "--events", "-q")
    janus_spark.open_dataset(spark, run("dataset", "ddl", "--dataset", str(dataset), "--engine", "spark"),
                             database=f"trail{n}", queries=QUERIES)
    for name, args in REPORTS:
        started = time.monotonic()
        df = janus_spark.report(spark, QUERIES, name)
        header = df.columns
        theirs = [[janus_spark.text(v) for v in r] for r in df.collect()]
        for label, source in [("dataset", ["--dataset", str(dataset)]), ("JSON", [trail])]:
            cols, ours = janus_rows(args, source)
            if name not in ORDERED:
                keep = [cols.index(c) for c in header]
                ours = sorted([r[i] for i in keep] for r in ours)
                cols, spark_rows = header, sorted(theirs)
            else:
                spark_rows = theirs
            if cols != header or ours != spark_rows:
                failed.append(f"{trail} {name}")
                print(f"DIFFER {trail} {name} (janus-audit over {label}): columns {cols == header}")
                for a, b in zip(ours, spark_rows):
                    if a != b:
                        print(f"  janus-audit: {a}\n  spark:       {b}")
                        break
                print(f"  rows: janus-audit {len(ours)}, spark {len(spark_rows)}")
            elif label == "dataset":
                print(f"same {trail} {name}: {len(ours)} row(s), {time.monotonic() - started:.1f} s")
spark.stop()
if failed:
    sys.exit(f"Spark {spark.version} and janus-audit differ: " + ", ".join(failed))
print(f"Spark and janus-audit agree on {len(trails)} trail(s), {len(REPORTS)} reports each")
