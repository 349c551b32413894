//! Write a realistic CloudTrail trail in the S3 layout, for benchmarks:
//!
//!     cargo run --release --example gen-trail -- --events 1000000 /tmp/trail
//!
//! Mostly noise (IAM users, EC2 instance-role sessions, S3 data events, AWS service events) with
//! federated GCP sessions: every instance refreshes its key hourly and makes follow-on calls with
//! it, a few from a foreign IP. Every `--chain-every`-th instance also chains: five minutes after
//! each refresh it calls AssumeRole with its key into a role of the other account, and about half
//! of its later calls that hour use the chained key. Files are independent, so they are generated
//! in parallel: an instance's keys for an hour are a function of (instance, hour), as are the
//! times they were issued.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use clap::Parser;
use flate2::Compression;
use flate2::write::GzEncoder;
use rayon::prelude::*;
use serde_json::{Value, json};

#[derive(Parser)]
struct Args {
    /// Total records to write.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Records per log file (CloudTrail delivers roughly every 5 minutes per region).
    #[arg(long, default_value_t = 1000)]
    per_file: u64,
    /// GCP instances with federated sessions.
    #[arg(long, default_value_t = 200)]
    instances: u64,
    /// Days the trail spans, from 2026-10-01.
    #[arg(long, default_value_t = 7)]
    days: u64,
    /// Hours the trail spans, instead of --days (#11's trails: 12 and 36 hours).
    #[arg(long, conflicts_with = "days")]
    hours: Option<u64>,
    /// Of the records that are not hourly refreshes, how many per thousand are federated
    /// sessions' calls (the rest is noise). #11's trails are mostly federated: 700.
    #[arg(long, default_value_t = 150, value_parser = clap::value_parser!(u64).range(0..=1000))]
    federated: u64,
    /// Every N-th instance chains into a role of the other account (0: none chain).
    #[arg(long, default_value_t = 10)]
    chain_every: u64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output directory.
    dir: PathBuf,
}

/// SplitMix64: a tiny, seedable generator is all a data generator needs.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

const START: i64 = 1_790_812_800; // 2026-10-01T00:00:00Z
const ACCOUNTS: [&str; 2] = ["111122223333", "444455556666"];
const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "us-west-2"];
const ZONES: [&str; 4] = [
    "us-central1-a",
    "europe-west4-b",
    "us-east1-c",
    "asia-east1-a",
];
const UA: &str = "aws-cli/2.27.0 md/awscrt#0.23.8 ua/2.1 os/linux#6.1.0 md/arch#x86_64 lang/python#3.12.9 md/pyimpl#CPython cfg/retry-mode#standard";

fn iso(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn java_expiration(t: i64) -> String {
    // The JDK 9+ CLDR form, with the narrow no-break space CloudTrail really writes.
    DateTime::<Utc>::from_timestamp(t, 0)
        .unwrap()
        .format("%b %-d, %Y, %-I:%M:%S\u{202f}%p")
        .to_string()
}

struct Instance {
    session: String,
    sub: String,
    ip: String,
    account: &'static str,
    role: String,
    /// Seconds past each hour at which it refreshes its key.
    offset: i64,
}

fn instance(j: u64) -> Instance {
    let project = format!("proj-{:04}-prod", j % 10);
    let name = format!("worker-{j:04}");
    let host = format!(
        "{project}.{name}.{}.c.{project}.internal",
        ZONES[(j % 4) as usize]
    );
    Instance {
        session: host.chars().take(64).collect(),
        sub: format!("1{:020}", 10_000_000_007 * (j + 1)),
        ip: format!("34.{}.{}.{}", 64 + j % 64, (j / 64) % 256, 10 + j % 200),
        account: ACCOUNTS[(j % 2) as usize],
        role: format!("gcp-{}-role", j % 5),
        offset: ((j * 17) % 3000) as i64,
    }
}

fn key(j: u64, hour: i64) -> String {
    format!("ASIA{:06}{:010}", j, hour)
}

/// The key an instance's chain issued in an hour, five minutes after its refresh.
fn chained_key(j: u64, hour: i64) -> String {
    format!("ASIA{:06}C{:09}", j, hour)
}

const HOP_DELAY: i64 = 300;

/// The role (in the other account) and session name of instance `j`'s chain.
fn chain_target(j: u64, inst: &Instance) -> (&'static str, String, String) {
    let account = ACCOUNTS[usize::from(inst.account == ACCOUNTS[0])];
    (
        account,
        format!("chain-target-{}", j % 3),
        format!("chained-{j:04}"),
    )
}

/// The chained AssumeRole, made with the instance's key of `hour`.
fn hop(rng: &mut Rng, j: u64, inst: &Instance, hour: i64, t: i64, region: &str) -> Value {
    let (account, role, session) = chain_target(j, inst);
    let role_arn = format!("arn:aws:iam::{account}:role/{role}");
    let created = t - HOP_DELAY;
    let mut r = session_call(
        rng,
        inst.account,
        &inst.role,
        &inst.session,
        &key(j, hour),
        created,
        t,
        &inst.ip,
        region,
        Session::Federated,
    );
    r["eventSource"] = json!("sts.amazonaws.com");
    r["eventName"] = json!("AssumeRole");
    r["requestParameters"] =
        json!({"roleArn": role_arn, "roleSessionName": session, "durationSeconds": 3600});
    r["responseElements"] = json!({
        "credentials": {"accessKeyId": chained_key(j, hour), "sessionToken": "",
            "expiration": java_expiration(t + 3600)},
        "assumedRoleUser": {"assumedRoleId": format!("AROACHAIN{j:06}:{session}"),
            "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{session}")}
    });
    r.as_object_mut().unwrap().remove("errorCode");
    r
}

#[derive(Clone, Copy, PartialEq)]
enum Session {
    /// Federated from Google: `webIdFederationData`.
    Federated,
    /// Chained from a federated session: no federation data of its own.
    Chained,
    /// An EC2 instance role.
    Ec2,
}

fn event_id(rng: &mut Rng) -> String {
    let (a, b) = (rng.next(), rng.next());
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

fn assumption(rng: &mut Rng, j: u64, inst: &Instance, t: i64, region: &str) -> Value {
    let hour = (t - START) / 3600;
    let role_arn = format!("arn:aws:iam::{}:role/{}", inst.account, inst.role);
    let ok = !rng.chance(5);
    let mut r = json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "WebIdentityUser",
            "principalId": format!("accounts.google.com:https://aws.example.com/janus:{}", inst.sub),
            "userName": inst.sub, "identityProvider": "accounts.google.com"},
        "eventTime": iso(t), "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRoleWithWebIdentity", "awsRegion": region,
        "sourceIPAddress": inst.ip, "userAgent": "aws-sdk-rust/1.3.9 os/linux lang/rust/1.95.0 janus-audit/0.1.0",
        "requestParameters": {"roleArn": role_arn, "roleSessionName": inst.session, "durationSeconds": 3600},
        "responseElements": null,
        "requestID": event_id(rng), "eventID": event_id(rng), "readOnly": true,
        "resources": [{"accountId": inst.account, "type": "AWS::IAM::Role", "ARN": role_arn}],
        "eventType": "AwsApiCall", "managementEvent": true, "recipientAccountId": inst.account,
        "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": format!("sts.{region}.amazonaws.com")}
    });
    if ok {
        r["responseElements"] = json!({
            "credentials": {"accessKeyId": key(j, hour), "sessionToken": "",
                "expiration": java_expiration(t + 3600)},
            "subjectFromWebIdentityToken": inst.sub,
            "assumedRoleUser": {"assumedRoleId": format!("AROAEXAMPLE{j:06}:{}", inst.session),
                "arn": format!("arn:aws:sts::{}:assumed-role/{}/{}", inst.account, inst.role, inst.session)},
            "provider": "accounts.google.com", "audience": "https://aws.example.com/janus"
        });
    } else {
        r["errorCode"] = json!("AccessDenied");
        r["errorMessage"] = json!("Not authorized to perform sts:AssumeRoleWithWebIdentity");
    }
    r
}

#[allow(clippy::too_many_arguments)]
fn session_call(
    rng: &mut Rng,
    account: &str,
    role: &str,
    session: &str,
    key: &str,
    created: i64,
    t: i64,
    ip: &str,
    region: &str,
    kind: Session,
) -> Value {
    let (source, name) = [
        ("s3.amazonaws.com", "GetObject"),
        ("s3.amazonaws.com", "PutObject"),
        ("kms.amazonaws.com", "Decrypt"),
        ("sqs.amazonaws.com", "SendMessage"),
        ("dynamodb.amazonaws.com", "GetItem"),
        ("sts.amazonaws.com", "GetCallerIdentity"),
    ][rng.below(6) as usize];
    let mut ctx = json!({
        "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEROLE", "arn": format!("arn:aws:iam::{account}:role/{role}"),
            "accountId": account, "userName": role},
        "attributes": {"creationDate": iso(created), "mfaAuthenticated": "false"}
    });
    match kind {
        Session::Federated => {
            ctx["webIdFederationData"] =
                json!({"federatedProvider": "accounts.google.com", "attributes": {}})
        }
        Session::Ec2 => ctx["ec2RoleDelivery"] = json!("2.0"),
        Session::Chained => {}
    }
    let mut r = json!({
        "eventVersion": "1.10",
        "userIdentity": {"type": "AssumedRole", "principalId": format!("AROAEXAMPLEROLE:{session}"),
            "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
            "accountId": account, "accessKeyId": key, "sessionContext": ctx},
        "eventTime": iso(t), "eventSource": source, "eventName": name, "awsRegion": region,
        "sourceIPAddress": ip, "userAgent": UA,
        "requestParameters": {"bucketName": "data-lake-raw", "key": format!("part-{:08}.parquet", rng.below(1 << 24)),
            "Host": "data-lake-raw.s3.amazonaws.com"},
        "responseElements": null,
        "additionalEventData": {"bytesTransferredIn": 0, "bytesTransferredOut": rng.below(1 << 20)},
        "requestID": event_id(rng), "eventID": event_id(rng), "readOnly": true,
        "eventType": "AwsApiCall", "managementEvent": source != "s3.amazonaws.com",
        "recipientAccountId": account, "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": format!("{}.{region}.amazonaws.com", source.split('.').next().unwrap())}
    });
    if rng.chance(20) {
        r["errorCode"] = json!("AccessDenied");
    }
    r
}

fn noise(rng: &mut Rng, t: i64, account: &str, region: &str) -> Value {
    match rng.below(4) {
        0 => json!({
            "eventVersion": "1.08",
            "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLEUSER00001",
                "arn": format!("arn:aws:iam::{account}:user/ci-bot-{}", rng.below(20)), "accountId": account,
                "accessKeyId": format!("AKIAEXAMPLE{:09}", rng.below(20)), "userName": "ci-bot"},
            "eventTime": iso(t), "eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances",
            "awsRegion": region, "sourceIPAddress": format!("203.0.113.{}", rng.below(250)), "userAgent": UA,
            "requestParameters": {"instancesSet": {}, "filterSet": {"items": [{"name": "tag:team", "valueSet": {"items": [{"value": "data"}]}}]}},
            "responseElements": null, "requestID": event_id(rng), "eventID": event_id(rng),
            "readOnly": true, "eventType": "AwsApiCall", "managementEvent": true,
            "recipientAccountId": account, "eventCategory": "Management",
            "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": format!("ec2.{region}.amazonaws.com")}
        }),
        1 => {
            let i = rng.below(50);
            let ip = format!("98.80.{}.{}", i, rng.below(250));
            session_call(
                rng,
                account,
                "ecs-cluster-instance",
                &format!("i-0{i:016x}"),
                &format!("ASIAEC2INST{i:09}"),
                t - 1800,
                t,
                &ip,
                region,
                Session::Ec2,
            )
        }
        2 => json!({
            "eventVersion": "1.09",
            "userIdentity": {"accountId": account, "invokedBy": "AWS Internal"},
            "eventTime": iso(t), "eventSource": "ecr.amazonaws.com", "eventName": "PolicyExecutionEvent",
            "awsRegion": region, "sourceIPAddress": "AWS Internal", "userAgent": "AWS Internal",
            "requestParameters": null, "responseElements": null, "eventID": event_id(rng),
            "readOnly": true, "eventType": "AwsServiceEvent", "managementEvent": true,
            "recipientAccountId": account,
            "serviceEventDetails": {"repositoryName": "cdk-assets", "lifecycleEventImageActions": [], "lifecycleEventFailureDetails": []},
            "eventCategory": "Management"
        }),
        _ => json!({
            "eventVersion": "1.08",
            "userIdentity": {"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"},
            "eventTime": iso(t), "eventSource": "s3.amazonaws.com", "eventName": "GetBucketAcl",
            "awsRegion": region, "sourceIPAddress": "cloudtrail.amazonaws.com", "userAgent": "cloudtrail.amazonaws.com",
            "requestParameters": {"bucketName": "trail-bucket", "Host": "trail-bucket.s3.amazonaws.com", "acl": ""},
            "responseElements": null, "additionalEventData": {"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256"},
            "requestID": event_id(rng), "eventID": event_id(rng), "readOnly": true,
            "resources": [{"accountId": account, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::trail-bucket"}],
            "eventType": "AwsApiCall", "managementEvent": true, "recipientAccountId": account,
            "sharedEventID": event_id(rng), "eventCategory": "Management"
        }),
    }
}

fn chains(args: &Args, j: u64) -> bool {
    args.chain_every > 0 && j.is_multiple_of(args.chain_every)
}

fn write_file(args: &Args, i: u64, files: u64) -> std::io::Result<u64> {
    let mut rng = Rng(args.seed ^ (i.wrapping_mul(0x2545_F491_4F6C_DD1D)));
    let span = args.hours.map_or(args.days * 86_400, |h| h * 3600) as i64;
    let t0 = START + span * i as i64 / files as i64;
    let t1 = START + span * (i + 1) as i64 / files as i64;
    let account = ACCOUNTS[(i % 2) as usize];
    let region = REGIONS[(i % 3) as usize];
    let mut records = Vec::with_capacity(args.per_file as usize);
    // Every hourly refresh falling in this file's time slice (the global STS endpoint logs in
    // us-east-1, whatever file it lands in here).
    for hour in ((t0 - START) / 3600)..=((t1 - START) / 3600) {
        for j in 0..args.instances {
            let inst = instance(j);
            let t = START + hour * 3600 + inst.offset;
            if (t0..t1).contains(&t) {
                records.push(assumption(&mut rng, j, &inst, t, "us-east-1"));
            }
            let th = t + HOP_DELAY;
            if chains(args, j) && (t0..t1).contains(&th) {
                records.push(hop(&mut rng, j, &inst, hour, th, "us-east-1"));
            }
        }
    }
    while (records.len() as u64) < args.per_file {
        let t = t0 + rng.below((t1 - t0).max(1) as u64) as i64;
        if rng.chance(args.federated) {
            let j = rng.below(args.instances);
            let inst = instance(j);
            let hour = (t - START - inst.offset).div_euclid(3600);
            if hour < 0 {
                continue;
            }
            let created = START + hour * 3600 + inst.offset;
            let ip = if rng.chance(5) {
                format!("198.51.100.{}", rng.below(250))
            } else {
                inst.ip.clone()
            };
            let call = if chains(args, j) && t >= created + HOP_DELAY && rng.chance(500) {
                let (account, role, session) = chain_target(j, &inst);
                session_call(
                    &mut rng,
                    account,
                    &role,
                    &session,
                    &chained_key(j, hour),
                    created + HOP_DELAY,
                    t,
                    &ip,
                    region,
                    Session::Chained,
                )
            } else {
                session_call(
                    &mut rng,
                    inst.account,
                    &inst.role,
                    &inst.session,
                    &key(j, hour),
                    created,
                    t,
                    &ip,
                    region,
                    Session::Federated,
                )
            };
            records.push(call);
        } else {
            records.push(noise(&mut rng, t, account, region));
        }
    }
    // CloudTrail files are not time-ordered; shuffle.
    for k in (1..records.len()).rev() {
        records.swap(k, rng.below(k as u64 + 1) as usize);
    }
    let day = DateTime::<Utc>::from_timestamp(t1, 0).unwrap();
    let dir: PathBuf = args
        .dir
        .join("AWSLogs")
        .join("o-benchorg01")
        .join(account)
        .join("CloudTrail")
        .join(region)
        .join(day.format("%Y/%m/%d").to_string());
    std::fs::create_dir_all(&dir)?;
    let name = format!(
        "{account}_CloudTrail_{region}_{}_{i:06}.json.gz",
        day.format("%Y%m%dT%H%MZ")
    );
    let n = records.len() as u64;
    let body = serde_json::to_vec(&json!({ "Records": records }))?;
    let mut gz = GzEncoder::new(Vec::new(), Compression::new(6));
    gz.write_all(&body)?;
    std::fs::write(Path::new(&dir).join(name), gz.finish()?)?;
    Ok(n)
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let files = args.events.div_ceil(args.per_file).max(1);
    let total: u64 = (0..files)
        .into_par_iter()
        .map(|i| write_file(&args, i, files))
        .collect::<std::io::Result<Vec<u64>>>()?
        .into_iter()
        .sum();
    eprintln!(
        "gen-trail: wrote {total} records in {files} files under {}",
        args.dir.display()
    );
    Ok(())
}
