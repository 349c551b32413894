//! A fake GCE metadata server on 127.0.0.1, speaking the real protocol.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tiny_http::{Header, Response, Server};

pub const KEY_PEM: &str = include_str!("test-signing-key.pem");
pub const SA_ID: &str = "104912345678901234567";
pub const SA_EMAIL: &str = "etl-runner@prod-data-1234.iam.gserviceaccount.com";
pub const PROJECT: &str = "prod-data-1234";
pub const INSTANCE: &str = "etl-1";
pub const ZONE: &str = "us-central1-a";

pub type RsaPrivateKey = RsaKeyPair;

/// The PKCS#8 test key, from its PEM armour.
pub fn signing_key() -> RsaKeyPair {
    let b64: String = KEY_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("test key is base64");
    RsaKeyPair::from_pkcs8(&der).expect("test key parses")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Mint an RS256 JWT the way the metadata server does.
pub fn mint(key: &RsaPrivateKey, audience: &str, full: bool) -> String {
    let header = serde_json::json!({"alg": "RS256", "kid": "janus-test", "typ": "JWT"});
    let mut claims = serde_json::json!({
        "aud": audience, "azp": SA_ID, "email": SA_EMAIL, "email_verified": true,
        "exp": now() + 3600, "iat": now(), "iss": "https://accounts.google.com", "sub": SA_ID,
    });
    if full {
        claims["google"] = serde_json::json!({"compute_engine": {
            "instance_creation_timestamp": 1_790_000_000u64, "instance_id": "7012345678901234567",
            "instance_name": INSTANCE, "project_id": PROJECT, "project_number": 123456789012u64,
            "zone": ZONE,
        }});
    }
    let b64 = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let input = format!("{}.{}", b64(&header), b64(&claims));
    let mut sig = vec![0; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .expect("signing works");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// Switches a test can flip while the server runs.
#[derive(Default)]
pub struct Knobs {
    /// Answer HTTP 500 to this many requests, then behave.
    pub fail_next: AtomicU32,
    /// Sleep this long (ms) before every answer.
    pub lag_ms: AtomicU64,
    /// Serve `instance/name` (GKE and Cloud Run metadata servers do not).
    pub hide_instance: std::sync::atomic::AtomicBool,
}

pub struct FakeMetadata {
    pub host: String,
    pub knobs: Arc<Knobs>,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl FakeMetadata {
    pub fn start() -> FakeMetadata {
        Self::start_on("127.0.0.1:0")
    }

    pub fn start_on(addr: &str) -> FakeMetadata {
        let server = Arc::new(Server::http(addr).expect("bind"));
        let host = server.server_addr().to_ip().unwrap().to_string();
        let knobs = Arc::new(Knobs::default());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let key = Arc::new(signing_key());
        let (k, r) = (knobs.clone(), requests.clone());
        std::thread::spawn(move || {
            for req in server.incoming_requests() {
                let (k, r, key) = (k.clone(), r.clone(), key.clone());
                std::thread::spawn(move || handle(req, &k, &r, &key));
            }
        });
        FakeMetadata {
            host,
            knobs,
            requests,
        }
    }

    pub fn count(&self, path_part: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.contains(path_part))
            .count()
    }
}

fn handle(req: tiny_http::Request, k: &Knobs, log: &Mutex<Vec<String>>, key: &RsaPrivateKey) {
    let url = req.url().to_string();
    log.lock().unwrap().push(url.clone());
    let lag = k.lag_ms.load(Ordering::SeqCst);
    if lag > 0 {
        std::thread::sleep(Duration::from_millis(lag));
    }
    let has_flavor = req
        .headers()
        .iter()
        .any(|h| h.field.equiv("Metadata-Flavor") && h.value.as_str() == "Google");
    let flavor = Header::from_bytes("Metadata-Flavor", "Google").unwrap();
    let reply = |status: u16, body: String| {
        let _ = req.respond(
            Response::from_string(body)
                .with_status_code(status)
                .with_header(flavor.clone()),
        );
    };
    if !has_flavor {
        return reply(403, "Missing Metadata-Flavor:Google header.".into());
    }
    if k.fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return reply(500, "internal error".into());
    }
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| {
                form_urlencoded::parse(format!("x={v}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            })
    };
    let hide = k.hide_instance.load(Ordering::SeqCst);
    match path.trim_start_matches("/computeMetadata/v1/") {
        "project/project-id" => reply(200, PROJECT.into()),
        "instance/name" if !hide => reply(200, INSTANCE.into()),
        "instance/hostname" if !hide => {
            reply(200, format!("{INSTANCE}.{ZONE}.c.{PROJECT}.internal"))
        }
        "instance/zone" => reply(200, format!("projects/123456789012/zones/{ZONE}")),
        "instance/id" => reply(200, "7012345678901234567".into()),
        "instance/service-accounts/default/identity" => match param("audience") {
            Some(aud) if !aud.is_empty() => reply(
                200,
                mint(key, &aud, param("format").as_deref() == Some("full")),
            ),
            _ => reply(400, "non-empty audience parameter required".into()),
        },
        "instance/service-accounts/default/token" => reply(
            200,
            r#"{"access_token":"ya29.fake-access-token","expires_in":3599,"token_type":"Bearer"}"#
                .into(),
        ),
        _ => reply(404, "not found".into()),
    }
}
