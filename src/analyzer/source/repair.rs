//! Values serde_json refuses to read, turned into `null` in place so that one bad field costs
//! only that field, not its whole file: strings holding a lone UTF-16 surrogate escape
//! (`"\ud83d"`, which has no Unicode meaning) and numbers out of the f64 range (`1e999`); and
//! bytes that are not UTF-8, read as U+FFFD.
//!
//! Only run on a file that failed to parse: the scan is linear but the common path never pays
//! for it. Each value is overwritten by `null` padded with spaces, so every other byte keeps its
//! offset, and the buffer stays valid UTF-8.

/// Replace each byte sequence of `buf` that is not UTF-8 (a raw 0xff in a user agent: JSON text
/// must be UTF-8) with U+FFFD; returns how many. The record holding it is then kept.
pub fn invalid_utf8(buf: &mut Vec<u8>) -> u64 {
    if std::str::from_utf8(buf).is_ok() {
        return 0;
    }
    let mut fixed = String::with_capacity(buf.len() + 16);
    let mut n = 0;
    for chunk in buf.utf8_chunks() {
        fixed.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            fixed.push(char::REPLACEMENT_CHARACTER);
            n += 1;
        }
    }
    *buf = fixed.into_bytes();
    n
}

/// Null every unreadable value in `buf`; returns how many. A string used as an object key
/// cannot become `null` and is left as it is (the file then still fails, and says why).
pub fn null_unreadable(buf: &mut [u8]) -> u64 {
    let mut nulled = 0;
    let mut i = 0;
    while i < buf.len() {
        match buf[i] {
            b'"' => {
                let (end, bad) = scan_string(buf, i);
                if bad && !is_key(buf, end) {
                    blank(&mut buf[i..=end]);
                    nulled += 1;
                }
                i = end + 1;
            }
            b'-' | b'0'..=b'9' => {
                let end = buf[i..]
                    .iter()
                    .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                    .map_or(buf.len(), |n| i + n);
                let out_of_range = std::str::from_utf8(&buf[i..end])
                    .ok()
                    .and_then(|t| t.parse::<f64>().ok())
                    .is_some_and(f64::is_infinite);
                if out_of_range {
                    blank(&mut buf[i..end]);
                    nulled += 1;
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    nulled
}

/// `null` and then spaces over `value` (at least 4 bytes for a value worth nulling: a string
/// with an escape is 8 or more, a number out of range 5 or more).
fn blank(value: &mut [u8]) {
    if value.len() < 4 {
        return;
    }
    value[..4].copy_from_slice(b"null");
    value[4..].fill(b' ');
}

/// The closing quote of the string opening at `start`, and whether it holds a lone surrogate.
fn scan_string(buf: &[u8], start: usize) -> (usize, bool) {
    let mut bad = false;
    let mut j = start + 1;
    while j < buf.len() {
        match buf[j] {
            b'"' => return (j, bad),
            b'\\' if buf.get(j + 1) == Some(&b'u') => {
                match hex4(buf, j + 2) {
                    Some(0xD800..=0xDBFF)
                        if buf.get(j + 6) == Some(&b'\\')
                            && buf.get(j + 7) == Some(&b'u')
                            && matches!(hex4(buf, j + 8), Some(0xDC00..=0xDFFF)) =>
                    {
                        j += 12;
                        continue;
                    }
                    Some(0xD800..=0xDFFF) => bad = true,
                    _ => {}
                }
                j += 6;
            }
            b'\\' => j += 2,
            _ => j += 1,
        }
    }
    (buf.len() - 1, bad)
}

fn hex4(buf: &[u8], at: usize) -> Option<u32> {
    let digits = std::str::from_utf8(buf.get(at..at + 4)?).ok()?;
    u32::from_str_radix(digits, 16).ok()
}

fn is_key(buf: &[u8], end: usize) -> bool {
    buf.get(end + 1..)
        .and_then(|rest| rest.iter().find(|b| !b.is_ascii_whitespace()))
        == Some(&b':')
}

/// A repaired copy of one JSON text, and how many values were nulled.
pub fn nulled_copy(text: &str) -> (String, u64) {
    let mut bytes = text.as_bytes().to_vec();
    let n = null_unreadable(&mut bytes);
    (String::from_utf8(bytes).unwrap_or_default(), n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fix(s: &str) -> (String, u64) {
        nulled_copy(s)
    }

    #[test]
    fn lone_surrogates_and_huge_numbers_become_null() {
        let (out, n) = fix(
            r#"{"a":"x\ud83dy","b":"ok \ud83d\ude00","c":1e999,"d":-2e-999,"e":[1.5e308,9e308]}"#,
        );
        assert_eq!(n, 3, "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(v["a"].is_null() && v["c"].is_null() && v["e"][1].is_null());
        assert_eq!(v["b"], "ok 😀");
        assert_eq!(v["d"], 0.0);
        assert_eq!(v["e"][0], 1.5e308);
    }

    #[test]
    fn lone_low_surrogate_escaped_quotes_and_keys() {
        let (out, n) = fix(r#"{"q":"a\"\udc00","k\ud800":1}"#);
        assert_eq!(n, 1, "{out}");
        assert!(out.starts_with(r#"{"q":null"#), "{out}");
        assert!(out.contains(r#""k\ud800":1"#), "a key is left: {out}");
    }

    #[test]
    fn well_formed_input_is_untouched() {
        let s = r#"{"a":"\\ud83d is text","n":[1,-2.5e10,3E+2],"u":"\u00e9"}"#;
        assert_eq!(fix(s), (s.to_string(), 0));
    }
}
