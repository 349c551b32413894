//! How text that came from outside (file names, file content, server answers) is shown in a
//! message: quoted and escaped so that it cannot forge a line, and capped so that it cannot
//! flood one.

use std::path::Path;

/// The most characters of input a message quotes.
pub const EXCERPT_CHARS: usize = 120;

/// A path as a message shows it: in double quotes, control characters and bytes that are not
/// UTF-8 escaped (`"a\nb"`), so a newline in a file name cannot start a line of its own.
pub fn quoted(path: &Path) -> String {
    format!("{path:?}")
}

/// The most characters a reason (which may quote input inside a parser's message) keeps.
pub const REASON_CHARS: usize = 300;

/// Text for a message: control characters escaped, at most [`EXCERPT_CHARS`] characters kept,
/// with how much was cut.
pub fn excerpt(s: &str) -> String {
    capped(s, EXCERPT_CHARS)
}

/// A reason for a message: as [`excerpt`], up to [`REASON_CHARS`].
pub fn reason(s: &str) -> String {
    capped(s, REASON_CHARS)
}

fn capped(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (kept, (i, c)) in s.char_indices().enumerate() {
        if kept == max {
            out.push_str(&format!("…({} more bytes)", s.len() - i));
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_forge_lines() {
        let p = Path::new("a.json\njanus-audit: read 99 file(s)");
        let q = quoted(p);
        assert!(!q.contains('\n'));
        assert!(q.starts_with('"') && q.ends_with('"'));
    }

    #[test]
    fn excerpts_are_capped_and_escaped() {
        let long = "x".repeat(10_000);
        let e = excerpt(&long);
        assert!(e.chars().count() < EXCERPT_CHARS + 30, "{e}");
        assert!(e.ends_with("(9880 more bytes)"), "{e}");
        assert_eq!(excerpt("a\u{1b}[31mb\n"), "a\\u{1b}[31mb\\n");
    }
}
