"""Run janus-audit's reports on Apache Spark, over a dataset made by `janus-audit ingest`.

    janus-audit dataset ddl --dataset DIR --engine spark [--location s3a://bucket/prefix] > ddl.sql
    spark-submit spark/janus_spark.py --ddl ddl.sql --queries queries by_instance sessions findings

Each report is printed as CSV (header first) or, with --out DIR, written to DIR/<report>/ by Spark.
The statements in ddl.sql make the tables and views (in --database, `janus` by default); the SQL
is the repository's: queries/spark/<name>.sql where the dialects differ, else queries/<name>.sql.
`findings` runs every queries/findings/*.sql and stacks the rows, most severe first, like
`janus-audit findings`. Without a window every assumption counts as in the window.
"""
import argparse
import csv
import pathlib
import sys

def statements(ddl_text):
    """The statements of `dataset ddl` output: each ends with ';' at the end of a line (comments,
    whole lines starting with '--', may hold ';' anywhere)."""
    code = "\n".join(line for line in ddl_text.splitlines() if not line.lstrip().startswith("--"))
    for stmt in code.split(";\n"):
        if stmt.strip().rstrip(";"):
            yield stmt.strip().rstrip(";")


# The views of `dataset ddl` that read janus_keys, in the order they are made.
LINEAGE_VIEWS = ("role_calls", "key_lineage", "key_activity")
# The tables janus-audit derives by the queries of these names (query::DERIVED), in order.
DERIVED_VIEWS = ("calls", "call_groups", "flagged_calls", "orphan_calls")
# Those that hold a few of the calls, computed once per dataset opened.
SMALL_VIEWS = ("flagged_calls", "orphan_calls")


def open_dataset(spark, ddl_text, database="janus", queries=None):
    spark.sql(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    spark.sql(f"USE `{database}`")
    # Another dataset's, opened earlier in this session, would shadow the views made here.
    for view in LINEAGE_VIEWS + ("janus_keys",) + DERIVED_VIEWS:
        spark.catalog.dropTempView(view)
    stmts = list(statements(ddl_text))
    for stmt in stmts:
        spark.sql(stmt)
    # janus_keys is the lineage's walk, one join per level: computed once here, and the views
    # that read it remade as temporary views over that copy (temporary views come first in name
    # resolution), with `calls` and the other derived views over them, so that each report does
    # not expand the walk again (the findings together would not fit a small driver).
    spark.table("janus_keys").localCheckpoint().createOrReplaceTempView("janus_keys")
    for stmt in stmts:
        for view in LINEAGE_VIEWS:
            head = f"CREATE OR REPLACE VIEW {view} AS"
            if stmt.startswith(head):
                spark.sql(stmt.replace(head, f"CREATE OR REPLACE TEMPORARY VIEW {view} AS", 1))
    for view in DERIVED_VIEWS:
        text = query_text(queries or pathlib.Path(__file__).resolve().parent.parent / "queries", view)
        df = spark.sql(text.strip().rstrip(";"))
        # The calls a finding can be about are few, and recon_burst reads them in several
        # places: kept once, not planned again (the driver ran out of heap analysing it).
        if view in SMALL_VIEWS:
            df = df.localCheckpoint()
        df.createOrReplaceTempView(view)


def query_text(queries, name):
    queries = pathlib.Path(queries)
    sibling = queries / "spark" / f"{name}.sql"
    return (sibling if sibling.exists() else queries / f"{name}.sql").read_text()


# The trust findings read trust_versions, which janus-audit derives in Rust from the policies'
# history (`janus-audit trust`); the GCP findings read gcp_verdicts and the gcp_* tables, which
# it derives from the GCP audit logs: no SQL engine can build them from the dataset alone.
DERIVED = ("trust_",)
GCP_FINDINGS = {"session_names_unknown_instance", "token_minted_outside_fleet",
                "service_account_key_created", "token_creator_granted"}


# The columns every detection returns, in order (src/analyzer/query/findings.rs, COLUMNS).
FINDINGS_COLUMNS = ("kind", "severity", "access_key_id", "session_name", "project", "instance", "sub",
                    "source_ip", "first_seen", "last_seen", "events", "detail")


def finding_names(queries):
    return sorted("findings/" + p.stem for p in (pathlib.Path(queries) / "findings").glob("*.sql")
                  if not p.stem.startswith(DERIVED) and p.stem not in GCP_FINDINGS)


def report(spark, queries, name):
    """A report as a DataFrame: by_instance, sessions, calls, findings or findings/<kind>."""
    if name != "findings":
        return spark.sql(query_text(queries, name).strip().rstrip(";"))
    # Each detection is computed on its own and its (few) rows kept: a union of the six plans, each
    # expanding the calls view, is more than Spark's analyzer can hold in a small driver.
    # The contract's columns: a detection may add `evidence` (the events behind each finding),
    # which only janus-audit's OCSF output shows.
    frames = [report(spark, queries, n).select(*FINDINGS_COLUMNS).localCheckpoint()
              for n in finding_names(queries)]
    df = frames[0]
    for f in frames[1:]:
        df = df.unionByName(f)
    df.createOrReplaceTempView("janus_findings_all")
    return spark.sql(
        "SELECT * FROM janus_findings_all ORDER BY CASE severity WHEN 'high' THEN 0 "
        "WHEN 'medium' THEN 1 WHEN 'low' THEN 2 ELSE 3 END, first_seen NULLS LAST, kind NULLS LAST, "
        "access_key_id NULLS LAST, source_ip NULLS LAST, sub NULLS LAST, session_name NULLS LAST, "
        "detail NULLS LAST")


def text(value):
    """A value as janus-audit's CSV writes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(text(v) for v in value)
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ddl", required=True, help="the output of `janus-audit dataset ddl --engine spark`")
    parser.add_argument("--queries", default=str(pathlib.Path(__file__).resolve().parent.parent / "queries"))
    parser.add_argument("--database", default="janus")
    parser.add_argument("--out", help="write each report with Spark to OUT/<report>/ (CSV) instead of printing")
    parser.add_argument("reports", nargs="+")
    args = parser.parse_args()

    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.appName("janus-audit")
             .config("spark.sql.session.timeZone", "UTC").getOrCreate())
    open_dataset(spark, pathlib.Path(args.ddl).read_text(), args.database, args.queries)
    out = csv.writer(sys.stdout, lineterminator="\n")
    for name in args.reports:
        df = report(spark, args.queries, name)
        if args.out:
            # CSV has no arrays: lists are written as janus-audit writes them, joined by ';'.
            from pyspark.sql import functions as F
            from pyspark.sql.types import ArrayType
            df = df.select([F.concat_ws(";", F.col(f.name)).alias(f.name)
                            if isinstance(f.dataType, ArrayType) else F.col(f.name)
                            for f in df.schema.fields])
            # Reports are small: one file, in the report's order, times as janus-audit writes them.
            (df.coalesce(1).write.mode("overwrite").option("header", True)
             .option("timestampFormat", "yyyy-MM-dd'T'HH:mm:ss'Z'").csv(f"{args.out}/{name}"))
            continue
        out.writerow(df.columns)
        for row in df.toLocalIterator():
            out.writerow([text(v) for v in row])
    spark.stop()


if __name__ == "__main__":
    main()
