//! A fake STS on 127.0.0.1 speaking the Query protocol: form-encoded POST in, XML out.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tiny_http::{Header, Response, Server};

/// The DER RSAPublicKey of the test signing key.
type RsaPublicKey = Vec<u8>;

use super::metadata::signing_key;

pub const SECRET_KEY: &str = "fake/secret+ACCESS/key0123456789abcdefghij";
pub const SESSION_TOKEN: &str = "FwoGZXIvYXdzEFAKE-session-token-never-print";

/// What the next requests should get instead of credentials.
#[derive(Default)]
pub struct Knobs {
    pub access_denied: std::sync::atomic::AtomicBool,
    pub idp_errors: AtomicU32,
    pub throttles: AtomicU32,
    pub invalid_token: AtomicU32,
    pub lag_ms: std::sync::atomic::AtomicU64,
    /// Errors echo the request body back, token and all (a proxy or endpoint that does this).
    pub echo: std::sync::atomic::AtomicBool,
    /// Every answer is a 500 (with `echo`, echoing the request).
    pub fail_500: std::sync::atomic::AtomicBool,
    /// 200 with a body that is not STS XML.
    pub garbage: std::sync::atomic::AtomicBool,
    /// When set, credentials expire this many seconds after issue, whatever was asked for (as
    /// when a role's maximum is lower): for refresh tests that cannot wait 15 minutes.
    pub lifetime_secs: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Clone)]
pub struct Call {
    pub role_arn: String,
    pub session_name: String,
    pub duration: String,
    pub token_ok: bool,
}

pub struct FakeSts {
    pub url: String,
    pub knobs: Arc<Knobs>,
    pub calls: Arc<Mutex<Vec<Call>>>,
    pub audience: String,
}

impl FakeSts {
    pub fn start(audience: &str) -> FakeSts {
        // 127.0.0.2, not .1: tests exempt it from a dead HTTP proxy with NO_PROXY, while the
        // metadata fake on 127.0.0.1 stays behind that proxy to prove it is never used.
        let server = Arc::new(Server::http("127.0.0.2:0").expect("bind"));
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        let knobs = Arc::new(Knobs::default());
        let calls = Arc::new(Mutex::new(Vec::new()));
        let public = Arc::new(signing_key().public_key().as_ref().to_vec());
        let (k, c, aud) = (knobs.clone(), calls.clone(), audience.to_string());
        std::thread::spawn(move || {
            for req in server.incoming_requests() {
                let (k, c, p, aud) = (k.clone(), c.clone(), public.clone(), aud.clone());
                std::thread::spawn(move || handle(req, &k, &c, &p, &aud));
            }
        });
        FakeSts {
            url,
            knobs,
            calls,
            audience: audience.to_string(),
        }
    }

    pub fn count(&self) -> usize {
        self.calls.lock().unwrap().len()
    }
}

/// Signature, audience and expiry: what real STS checks of a Google token, minus the JWKS fetch.
fn token_valid(token: &str, key: &RsaPublicKey, audience: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return false;
    }
    let Ok(sig) = URL_SAFE_NO_PAD.decode(parts[2]) else {
        return false;
    };
    let signed = format!("{}.{}", parts[0], parts[1]);
    if UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key)
        .verify(signed.as_bytes(), &sig)
        .is_err()
    {
        return false;
    }
    let Ok(claims) = URL_SAFE_NO_PAD
        .decode(parts[1])
        .map_err(|_| ())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).map_err(|_| ()))
    else {
        return false;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    claims["aud"] == audience && claims["exp"].as_u64().is_some_and(|e| e > now)
}

fn error_xml(kind: &str, code: &str, message: &str) -> String {
    format!(
        r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>4f1c9f2e-0000-4000-8000-000000000000</RequestId></ErrorResponse>"#
    )
}

fn take(n: &AtomicU32) -> bool {
    n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
        .is_ok()
}

fn handle(
    mut req: tiny_http::Request,
    k: &Knobs,
    calls: &Mutex<Vec<Call>>,
    key: &RsaPublicKey,
    audience: &str,
) {
    let mut body = String::new();
    let _ = req.as_reader().read_to_string(&mut body);
    let form: std::collections::HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let lag = k.lag_ms.load(Ordering::SeqCst);
    if lag > 0 {
        std::thread::sleep(Duration::from_millis(lag));
    }
    let xml = Header::from_bytes("Content-Type", "text/xml").unwrap();
    let reply = |status: u16, body: String| {
        let _ = req.respond(
            Response::from_string(body)
                .with_status_code(status)
                .with_header(xml.clone()),
        );
    };
    if get("Action") != "AssumeRoleWithWebIdentity" || get("Version") != "2011-06-15" {
        return reply(
            400,
            error_xml("Sender", "InvalidAction", "unsupported action"),
        );
    }
    let token_ok = token_valid(&get("WebIdentityToken"), key, audience);
    let session = get("RoleSessionName");
    // The key's number is taken with the call, so that concurrent calls get distinct keys.
    let n = {
        let mut c = calls.lock().unwrap();
        c.push(Call {
            role_arn: get("RoleArn"),
            session_name: session.clone(),
            duration: get("DurationSeconds"),
            token_ok,
        });
        c.len()
    };
    let echoed = |what: &str| {
        if k.echo.load(Ordering::SeqCst) {
            let escaped = body.replace('&', "&amp;").replace('<', "&lt;");
            format!("{what}; request was: {escaped}")
        } else {
            what.to_string()
        }
    };
    if k.garbage.load(Ordering::SeqCst) {
        return reply(200, "<html>proxy login page</html>".into());
    }
    if k.fail_500.load(Ordering::SeqCst) {
        return reply(
            500,
            error_xml("Receiver", "InternalFailure", &echoed("internal error")),
        );
    }
    if take(&k.throttles) {
        return reply(400, error_xml("Sender", "Throttling", "Rate exceeded"));
    }
    if take(&k.idp_errors) {
        return reply(
            400,
            error_xml(
                "Sender",
                "IDPCommunicationError",
                "Couldn't retrieve verification key from your identity provider",
            ),
        );
    }
    if take(&k.invalid_token) || !token_ok {
        return reply(
            400,
            error_xml("Sender", "InvalidIdentityToken", "Incorrect token audience"),
        );
    }
    if k.access_denied.load(Ordering::SeqCst) {
        return reply(
            403,
            error_xml(
                "Sender",
                "AccessDenied",
                &echoed("Not authorized to perform sts:AssumeRoleWithWebIdentity"),
            ),
        );
    }
    let role = get("RoleArn");
    let account = role.split(':').nth(4).unwrap_or("123456789012").to_string();
    let role_name = role.rsplit('/').next().unwrap_or("role").to_string();
    let lifetime = match k.lifetime_secs.load(Ordering::SeqCst) {
        0 => get("DurationSeconds").parse().unwrap_or(3600),
        n => n as i64,
    };
    let expiration = chrono::Utc::now() + chrono::Duration::seconds(lifetime);
    reply(
        200,
        format!(
            r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>{sub}</SubjectFromWebIdentityToken>
    <Audience>{audience}</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::{account}:assumed-role/{role_name}/{session}</Arn>
      <AssumedRoleId>AROAFAKEROLEID000000:{session}</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>{SESSION_TOKEN}</SessionToken>
      <SecretAccessKey>{SECRET_KEY}</SecretAccessKey>
      <Expiration>{exp}</Expiration>
      <AccessKeyId>ASIAFAKE{n:012}</AccessKeyId>
    </Credentials>
    <Provider>accounts.google.com</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>"#,
            sub = super::metadata::SA_ID,
            exp = expiration.format("%Y-%m-%dT%H:%M:%SZ"),
        ),
    )
}
