//! How `credentials` prints what it fetched: the credential_process JSON (the default), or the
//! variables `aws configure export-credentials` names, for a POSIX shell, fish or PowerShell.
//! Every value is quoted for its shell: a session token is base64 with `+`, `/` and `=`, and a
//! shell must never split or expand it.
//!
//! The quoting is written out here rather than taken from a crate: it is one rule per shell (a
//! single-quoted string), and the crates that quote for `sh` do not quote for fish or PowerShell.

use super::process::ProcessCredentials;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The credential_process JSON, on one line.
    Process,
    /// `export NAME='value'` lines for sh, bash, zsh.
    Env,
    /// `set -gx NAME 'value'` lines.
    Fish,
    /// `$Env:NAME = 'value'` lines.
    Powershell,
    /// The same JSON, pretty.
    Json,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Process,
        Format::Env,
        Format::Fish,
        Format::Powershell,
        Format::Json,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Process => "process",
            Format::Env => "env",
            Format::Fish => "fish",
            Format::Powershell => "powershell",
            Format::Json => "json",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The variables, with the names `aws configure export-credentials --format env` prints.
fn variables(c: &ProcessCredentials) -> [(&'static str, &str); 4] {
    [
        ("AWS_ACCESS_KEY_ID", &c.access_key_id),
        ("AWS_SECRET_ACCESS_KEY", c.secret_access_key.expose()),
        ("AWS_SESSION_TOKEN", c.session_token.expose()),
        ("AWS_CREDENTIAL_EXPIRATION", &c.expiration),
    ]
}

/// The text to print (without the final newline).
pub fn render(c: &ProcessCredentials, format: Format) -> serde_json::Result<String> {
    Ok(match format {
        Format::Process => serde_json::to_string(c)?,
        Format::Json => serde_json::to_string_pretty(c)?,
        Format::Env => lines(c, |k, v| format!("export {k}={}", sh(v))),
        Format::Fish => lines(c, |k, v| format!("set -gx {k} {}", fish(v))),
        Format::Powershell => lines(c, |k, v| format!("$Env:{k} = {}", powershell(v))),
    })
}

fn lines(c: &ProcessCredentials, line: impl Fn(&str, &str) -> String) -> String {
    variables(c)
        .iter()
        .map(|(k, v)| line(k, v))
        .collect::<Vec<_>>()
        .join("\n")
}

/// POSIX single quotes: nothing inside is special; a `'` ends the quote, is escaped, reopens it.
pub fn sh(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

/// fish single quotes: only `\` and `'` are special inside, each escaped with `\`.
pub fn fish(v: &str) -> String {
    format!("'{}'", v.replace('\\', r"\\").replace('\'', r"\'"))
}

/// PowerShell single quotes (verbatim strings): a `'` (or a typographic one) is doubled.
pub fn powershell(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('\'');
    for ch in v.chars() {
        if matches!(ch, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            out.push(ch);
        }
        out.push(ch);
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_keeps_hostile_values_literal() {
        assert_eq!(sh("a+b/c="), "'a+b/c='");
        assert_eq!(sh("it's $(x)"), r"'it'\''s $(x)'");
        assert_eq!(fish(r"a\'b $x"), r"'a\\\'b $x'");
        assert_eq!(powershell("it's $x"), "'it''s $x'");
        assert_eq!(powershell("a\u{2019}b"), "'a\u{2019}\u{2019}b'");
    }
}
