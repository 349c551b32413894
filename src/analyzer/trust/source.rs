//! Where users keep their roles' trust policies, for `--policies SOURCE`:
//!
//! - `aws iam get-account-authorization-details` output (`RoleDetailList`), and `aws iam
//!   list-roles` output (`Roles`);
//! - `aws iam get-role` output (`{"Role": {...}}`);
//! - a file `{"RoleArn": ..., "AssumeRolePolicyDocument": ...}`;
//! - a directory of any of these (its `.json` files, walked, in name order).
//!
//! A document is a JSON object, or text: the IAM API returns it URL-encoded (RFC 3986), and the
//! AWS CLI prints it decoded; both are read. What cannot be read is named and counted, and a role
//! whose document cannot be read still gets a row that says so: never a silent "safe".

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::base::text::quoted;
use crate::base::trust::{self, Document};

/// One role's trust policy as a source gives it.
#[derive(Debug, Clone)]
pub struct RolePolicy {
    pub role_arn: String,
    /// The document, or why it cannot be read.
    pub document: Result<Document, String>,
    /// The file it came from.
    pub origin: String,
}

#[derive(Debug, Default)]
pub struct Loaded {
    pub roles: Vec<RolePolicy>,
    /// Files that hold no role, or are not JSON: named, quoted.
    pub problems: Vec<String>,
}

/// A policy file larger than this is not read (IAM caps a trust policy at 2,048 characters by
/// default and 4,096 at most; an account's authorization details run to megabytes).
const MAX_FILE: u64 = 256 << 20;

/// Read one source (a file or a directory of them) into `out`.
pub fn read_source(src: &Path, out: &mut Loaded) {
    for file in files(src, &mut out.problems) {
        read_file(&file, out);
    }
}

fn files(src: &Path, problems: &mut Vec<String>) -> Vec<PathBuf> {
    if !src.is_dir() {
        return vec![src.to_path_buf()];
    }
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(src).sort_by_file_name() {
        match e {
            Ok(e) if e.file_type().is_file() => {
                if e.path().extension().is_some_and(|x| x == "json") {
                    out.push(e.into_path());
                }
            }
            Ok(_) => {}
            Err(e) => problems.push(format!("{}: {}", quoted(src), e)),
        }
    }
    out
}

fn read_file(path: &Path, out: &mut Loaded) {
    let origin = quoted(path);
    let text = match std::fs::metadata(path) {
        Ok(m) if m.len() > MAX_FILE => {
            out.problems
                .push(format!("{origin}: larger than {MAX_FILE} bytes; not read"));
            return;
        }
        Ok(_) => std::fs::read(path),
        Err(e) => Err(e),
    };
    let v: Value = match text
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_slice(&t).map_err(|e| format!("not JSON: {e}")))
    {
        Ok(v) => v,
        Err(e) => {
            out.problems.push(format!("{origin}: {e}"));
            return;
        }
    };
    let entries: Vec<&Value> = if let Some(list) = v.get("RoleDetailList").or(v.get("Roles")) {
        list.as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default()
    } else if let Some(role) = v.get("Role") {
        vec![role]
    } else if v.get("AssumeRolePolicyDocument").is_some() {
        vec![&v]
    } else if v.get("Statement").is_some() {
        out.problems.push(format!(
            "{origin}: a policy document alone names no role; give it as {{\"RoleArn\": ..., \"AssumeRolePolicyDocument\": ...}} or `aws iam get-role` output"
        ));
        return;
    } else {
        out.problems.push(format!(
            "{origin}: neither `aws iam get-account-authorization-details`, `list-roles` or `get-role` output nor a RoleArn with its AssumeRolePolicyDocument"
        ));
        return;
    };
    for e in entries {
        let Some(arn) = e.get("Arn").or(e.get("RoleArn")).and_then(Value::as_str) else {
            out.problems
                .push(format!("{origin}: a role without its Arn; not judged"));
            continue;
        };
        out.roles.push(RolePolicy {
            role_arn: arn.to_string(),
            document: document(e.get("AssumeRolePolicyDocument")),
            origin: path.display().to_string(),
        });
    }
}

/// A role's document: an object, or JSON text, URL-encoded or not.
pub fn document(v: Option<&Value>) -> Result<Document, String> {
    let parsed = match v {
        None | Some(Value::Null) => {
            return Err("the role has no trust policy in this source".into());
        }
        Some(o @ Value::Object(_)) => trust::parse_value(o),
        Some(Value::String(text)) => trust::parse(&decoded(text)),
        Some(_) => return Err("its AssumeRolePolicyDocument is neither an object nor text".into()),
    };
    parsed.map_err(|e| format!("its trust policy cannot be read: {e}"))
}

/// JSON text as IAM's API returns it (`%7B%22Version%22...`) or as the CLI prints it.
pub fn decoded(text: &str) -> String {
    let t = text.trim_start();
    match t.starts_with('{') {
        true => text.to_string(),
        false => percent_encoding::percent_decode_str(text)
            .decode_utf8_lossy()
            .into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_read_as_an_object_as_text_and_url_encoded() {
        let obj = serde_json::json!({"Statement": [{"Effect": "Allow"}]});
        let text = Value::String(obj.to_string());
        let encoded = Value::String(
            percent_encoding::utf8_percent_encode(
                &obj.to_string(),
                percent_encoding::NON_ALPHANUMERIC,
            )
            .to_string(),
        );
        for v in [&obj, &text, &encoded] {
            let d = document(Some(v)).unwrap();
            assert_eq!(d.statements[0].effect, "Allow");
        }
        assert!(document(None).unwrap_err().contains("no trust policy"));
        assert!(
            document(Some(&Value::String("%7B".into())))
                .unwrap_err()
                .contains("cannot be read")
        );
    }
}
