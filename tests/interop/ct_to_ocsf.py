"""A test tool: CloudTrail records into Amazon Security Lake's shape, OCSF 1.1.0 API Activity
(class 6003) in Parquet under Security Lake's S3 layout, by AWS's published CloudTrail-to-OCSF
mapping ("Event Dossier: Amazon CloudTrail Generic API Activity", OCSF 1.1.0, in the OCSF
project's examples; the table in MAPPED below is that mapping's, field for field).

    python ct_to_ocsf.py TRAIL_DIR OUT_DIR

Everything the mapping does not name goes to `unmapped` (a map of strings, as Security Lake
stores it): a top-level member whole, as its JSON (`additionalEventData`, `recipientAccountId`,
`sharedEventID`, ...); inside `userIdentity`, each leaf by its dotted path
(`userIdentity.sessionContext.sessionIssuer.type`), except an object whose own keys have dots
(`webIdFederationData.attributes`, keyed `accounts.google.com:sub`), kept whole as JSON.
Files go to `aws/CLOUD_TRAIL_MGMT/2.0/region=R/accountId=A/eventDay=YYYYMMDD/` (an S3 data event
to `aws/S3_DATA/2.0/...`), one Parquet file per source file, region and account and day.
"""
import datetime
import glob
import gzip
import json
import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq

# OCSF path -> CloudTrail path (the mapping's table).
MAPPED = [
    ("actor.user.account.uid", "userIdentity.accountId"),
    ("actor.user.credential_uid", "userIdentity.accessKeyId"),
    ("actor.user.name", "userIdentity.userName"),
    ("actor.user.type", "userIdentity.type"),
    ("actor.user.uid_alt", "userIdentity.principalId"),
    ("actor.user.uid", "userIdentity.arn"),
    ("actor.session.created_time_dt", "userIdentity.sessionContext.attributes.creationDate"),
    ("actor.session.is_mfa", "userIdentity.sessionContext.attributes.mfaAuthenticated"),
    ("actor.session.issuer", "userIdentity.sessionContext.sessionIssuer.arn"),
    ("actor.invoked_by", "userIdentity.invokedBy"),
    ("actor.idp.name", "userIdentity.sessionContext.webIdFederationData.federatedProvider"),
    ("actor.idp.name", "userIdentity.identityProvider"),
    ("src_endpoint.uid", "vpcEndpointId"),
    ("api.request.uid", "requestID"),
    ("api.service.name", "eventSource"),
    ("api.version", "apiVersion"),
    ("api.operation", "eventName"),
    ("cloud.region", "awsRegion"),
    ("http_request.user_agent", "userAgent"),
    ("metadata.product.version", "eventVersion"),
    ("metadata.uid", "eventID"),
    ("metadata.event_code", "eventType"),
    ("time", "eventTime"),
    ("api.response.error", "errorCode"),
    ("api.response.message", "errorMessage"),
    ("api.request.data", "requestParameters"),
    ("api.response.data", "responseElements"),
]
# Read by the mapping's conditional rows (sourceIPAddress to an IP or a domain, resources whole).
CONDITIONAL = {"sourceIPAddress", "resources", "eventCategory"}


def get(rec, path):
    v = rec
    for p in path.split("."):
        if not isinstance(v, dict) or p not in v:
            return None
        v = v[p]
    return v


def put(out, path, value):
    parts = path.split(".")
    for p in parts[:-1]:
        out = out.setdefault(p, {})
    out.setdefault(parts[-1], value)


def millis(text):
    if text is None:
        return None
    t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(t.timestamp() * 1000)


def unmapped(rec):
    mapped = {ct for _, ct in MAPPED} | CONDITIONAL
    out = {}

    def leaves(prefix, v):
        if isinstance(v, dict) and v and not any("." in k for k in v):
            for k, x in v.items():
                leaves(f"{prefix}.{k}", x)
        elif prefix not in mapped:
            out[prefix] = v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))

    for k, v in rec.items():
        if k in mapped:
            continue
        if k == "userIdentity" and isinstance(v, dict):
            leaves(k, v)
        else:
            out[k] = v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
    return out


def ocsf(rec):
    out = {}
    for path, ct in MAPPED:
        v = get(rec, ct)
        if v is None:
            continue
        if path == "time":
            out["time"] = millis(v)
            out["time_dt"] = millis(v)
        elif path == "actor.session.created_time_dt":
            put(out, "actor.session.created_time", millis(v))
            put(out, path, millis(v))
        elif path == "actor.session.is_mfa":
            put(out, path, str(v).lower() == "true")
        elif path in ("api.request.data", "api.response.data"):
            put(out, path, json.dumps(v, separators=(",", ":")))
        else:
            put(out, path, v if isinstance(v, str) else json.dumps(v))
    ip = rec.get("sourceIPAddress")
    if isinstance(ip, str):
        is_ip = ip.replace(".", "").isdigit() or ":" in ip
        put(out, "src_endpoint.ip" if is_ip else "src_endpoint.domain", ip)
    res = rec.get("resources")
    if isinstance(res, list):
        out["resources"] = [{"uid": r.get("ARN"), "type": r.get("type"),
                             "owner": {"account": {"uid": r.get("accountId")}}}
                            for r in res if isinstance(r, dict)]
    failed = rec.get("errorCode") is not None
    out.update({
        "class_uid": 6003, "class_name": "API Activity", "category_uid": 6,
        "category_name": "Application Activity", "activity_id": 99, "activity_name": "Other",
        "type_uid": 600399, "type_name": "API Activity: Other",
        "severity_id": 1, "severity": "Informational",
        "status": "Failure" if failed else "Success", "status_id": 2 if failed else 1,
        "cloud": {**out.get("cloud", {}), "provider": "AWS"},
        "unmapped": list(unmapped(rec).items()),
    })
    out["metadata"] = {**out.get("metadata", {}), "version": "1.1.0",
                       "profiles": ["cloud", "datetime"],
                       "product": {**out.get("metadata", {}).get("product", {}),
                                   "name": "CloudTrail", "vendor_name": "AWS",
                                   "feature": {"name": rec.get("eventCategory") or "Management"}}}
    return out


STR = pa.string()
TS = pa.timestamp("ms", tz="UTC")
SCHEMA = pa.schema([
    ("metadata", pa.struct([("product", pa.struct([("version", STR), ("name", STR),
                                                   ("vendor_name", STR),
                                                   ("feature", pa.struct([("name", STR)]))])),
                            ("uid", STR), ("event_code", STR),
                            ("profiles", pa.list_(STR)), ("version", STR)])),
    ("time", TS), ("time_dt", TS),
    ("cloud", pa.struct([("region", STR), ("provider", STR)])),
    ("api", pa.struct([("response", pa.struct([("error", STR), ("message", STR), ("data", STR)])),
                       ("operation", STR), ("version", STR),
                       ("service", pa.struct([("name", STR)])),
                       ("request", pa.struct([("data", STR), ("uid", STR)]))])),
    ("actor", pa.struct([("user", pa.struct([("type", STR), ("name", STR), ("uid", STR),
                                             ("uid_alt", STR), ("credential_uid", STR),
                                             ("account", pa.struct([("uid", STR)]))])),
                         ("session", pa.struct([("created_time", TS), ("created_time_dt", TS),
                                                ("issuer", STR), ("is_mfa", pa.bool_())])),
                         ("invoked_by", STR), ("idp", pa.struct([("name", STR)]))])),
    ("http_request", pa.struct([("user_agent", STR)])),
    ("src_endpoint", pa.struct([("uid", STR), ("ip", STR), ("domain", STR)])),
    ("resources", pa.list_(pa.struct([("uid", STR), ("type", STR),
                                      ("owner", pa.struct([("account", pa.struct([("uid", STR)]))]))]))),
    ("class_name", STR), ("class_uid", pa.int32()), ("category_name", STR),
    ("category_uid", pa.int32()), ("severity_id", pa.int32()), ("severity", STR),
    ("activity_name", STR), ("activity_id", pa.int32()), ("type_uid", pa.int64()),
    ("type_name", STR), ("status", STR), ("status_id", pa.int32()),
    ("unmapped", pa.map_(STR, STR)),
    ("accountid", STR), ("region", STR), ("asl_version", STR),
])


def records(path):
    data = open(path, "rb").read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    try:
        doc = json.loads(data)
    except ValueError:
        return []
    if isinstance(doc, dict) and "Records" in doc:
        return [r for r in doc["Records"] if isinstance(r, dict)]
    return []


def main():
    trail, out = sys.argv[1], sys.argv[2]
    files = sorted(f for f in glob.glob(os.path.join(trail, "**", "*"), recursive=True)
                   if os.path.isfile(f))
    written = 0
    for n, f in enumerate(files):
        groups = {}
        for rec in records(f):
            region = rec.get("awsRegion") or "unknown"
            acct = rec.get("recipientAccountId") or "unknown"
            day = (rec.get("eventTime") or "1970-01-01")[:10].replace("-", "")
            source = "S3_DATA" if rec.get("eventCategory") == "Data" else "CLOUD_TRAIL_MGMT"
            row = ocsf(rec)
            row.update({"accountid": acct, "region": region, "asl_version": "2.0"})
            groups.setdefault((source, region, acct, day), []).append(row)
        for (source, region, acct, day), rows in groups.items():
            d = os.path.join(out, "aws", source, "2.0", f"region={region}", f"accountId={acct}",
                             f"eventDay={day}")
            os.makedirs(d, exist_ok=True)
            table = pa.Table.from_pylist(rows, schema=SCHEMA)
            pq.write_table(table, os.path.join(d, f"part-{n:05d}.gz.parquet"), compression="gzip")
            written += len(rows)
    print(f"{written} records into {out}")


if __name__ == "__main__":
    main()
