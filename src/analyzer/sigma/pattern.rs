//! One Sigma value with its modifiers, compiled into what is tested against a field's values.
//!
//! Strings match whole values, case-insensitively unless `|cased`, with `*` (any run of
//! characters) and `?` (one character) as wildcards and `\` escaping them (the specification's
//! "Escape Character" rules: `\*`, `\?` and `\\` escape; a backslash before anything else is
//! itself). `|contains`, `|startswith` and `|endswith` add `*` around the value; the value's
//! own wildcards stay wildcards, as in pySigma.

use std::net::IpAddr;

/// What a value is tested with.
#[derive(Debug, Clone)]
pub enum Test {
    Glob(Glob),
    Regex(regex::Regex),
    Cidr(IpAddr, u8),
    /// `field: null`: the field is absent or null.
    Null,
    /// `field|exists: true|false`: the field is there (whatever its value, null included).
    Exists(bool),
    /// `field|fieldref: other`: the values of another field, compared as `how` says.
    FieldRef {
        field: String,
        how: Anchor,
        cased: bool,
    },
    /// `|lt`, `|lte`, `|gt`, `|gte`: a value read as a number.
    Compare(Cmp, f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    Lte,
    Gt,
    Gte,
}

/// Where a value must stand in the field's: the whole of it, or its start, end or anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    Whole,
    Start,
    End,
    Anywhere,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<T> {
    Text(Vec<T>),
    Any,
    One,
}

/// A wildcard pattern over characters.
#[derive(Debug, Clone)]
pub struct Glob {
    pieces: Vec<Piece<char>>,
    /// The same pieces as bytes, when they are ASCII: an ASCII value (nearly every CloudTrail
    /// value) is then matched in place, where collecting its characters cost an allocation a
    /// test.
    ascii: Option<Vec<Piece<u8>>>,
    cased: bool,
}

impl Glob {
    /// `value` as the specification reads it, anchored as `anchor` says.
    pub fn new(value: &str, anchor: Anchor, cased: bool) -> Glob {
        let mut pieces = Vec::new();
        if matches!(anchor, Anchor::End | Anchor::Anywhere) {
            pieces.push(Piece::Any);
        }
        let mut text = Vec::new();
        let mut chars = value.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.peek() {
                    Some(&n @ ('*' | '?' | '\\')) => {
                        chars.next();
                        text.push(n);
                    }
                    _ => text.push('\\'),
                },
                '*' | '?' => {
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(if c == '*' { Piece::Any } else { Piece::One });
                }
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        if matches!(anchor, Anchor::Start | Anchor::Anywhere) {
            pieces.push(Piece::Any);
        }
        if !cased {
            for p in &mut pieces {
                if let Piece::Text(t) = p {
                    *t = lower(t.iter().copied());
                }
            }
        }
        let ascii = pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) if t.iter().all(char::is_ascii) => {
                    Some(Piece::Text(t.iter().map(|&c| c as u8).collect()))
                }
                Piece::Text(_) => None,
                Piece::Any => Some(Piece::Any),
                Piece::One => Some(Piece::One),
            })
            .collect();
        Glob {
            pieces,
            ascii,
            cased,
        }
    }

    pub fn matches(&self, value: &str) -> bool {
        if let Some(ascii) = &self.ascii
            && value.is_ascii()
        {
            let fold = !self.cased;
            return matches_at(ascii, value.as_bytes(), |p, v| {
                p == if fold { v.to_ascii_lowercase() } else { v }
            });
        }
        let chars: Vec<char> = match self.cased {
            true => value.chars().collect(),
            false => lower(value.chars()),
        };
        matches_at(&self.pieces, &chars, |p, v| p == v)
    }
}

/// Lowercase as Unicode does it, one character at a time (some become two: İ).
fn lower(chars: impl Iterator<Item = char>) -> Vec<char> {
    chars.flat_map(char::to_lowercase).collect()
}

/// Wildcard matching with the last `*` remembered: linear in the value for each `*` tried,
/// never exponential, whatever a hostile rule or value holds. `eq` compares a pattern's unit
/// with a value's.
fn matches_at<T: Copy>(pieces: &[Piece<T>], value: &[T], eq: impl Fn(T, T) -> bool) -> bool {
    let text_at = |t: &[T], v: usize| {
        value.len() - v >= t.len() && t.iter().zip(&value[v..]).all(|(&p, &x)| eq(p, x))
    };
    let (mut p, mut v) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p < pieces.len() {
            match &pieces[p] {
                Piece::Any => {
                    star = Some((p, v));
                    p += 1;
                    continue;
                }
                Piece::One if v < value.len() => {
                    p += 1;
                    v += 1;
                    continue;
                }
                Piece::Text(t) if text_at(t, v) => {
                    p += 1;
                    v += t.len();
                    continue;
                }
                _ => {}
            }
        } else if v == value.len() {
            return true;
        }
        // Mismatch: let the last `*` take one more character, or fail.
        match star {
            Some((sp, sv)) if sv < value.len() => {
                star = Some((sp, sv + 1));
                p = sp + 1;
                v = sv + 1;
            }
            _ => return false,
        }
    }
}

/// `10.0.0.0/8` or `2001:db8::/32`; a bare address is its own /32 or /128.
pub fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = match text.split_once('/') {
        Some((a, b)) => (
            a.trim().parse::<IpAddr>().ok()?,
            b.trim().parse::<u8>().ok()?,
        ),
        None => {
            let a = text.trim().parse::<IpAddr>().ok()?;
            (a, if a.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((addr, bits))
}

pub fn in_cidr(value: &str, net: IpAddr, bits: u8) -> bool {
    let Ok(ip) = value.trim().parse::<IpAddr>() else {
        return false;
    };
    let (a, n, width) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u32::from(a) as u128, u32::from(n) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(n)) => (u128::from(a), u128::from(n), 128),
        _ => return false,
    };
    if bits == 0 {
        return true;
    }
    let shift = width - u32::from(bits);
    (a >> shift) == (n >> shift)
}

/// Two values compared as `how` says, without wildcards (a field reference compares values).
pub fn compare_values(value: &str, other: &str, how: Anchor, cased: bool) -> bool {
    let (v, o) = match cased {
        true => (value.to_string(), other.to_string()),
        false => (
            lower(value.chars()).into_iter().collect(),
            lower(other.chars()).into_iter().collect::<String>(),
        ),
    };
    match how {
        Anchor::Whole => v == o,
        Anchor::Start => v.starts_with(&o),
        Anchor::End => v.ends_with(&o),
        Anchor::Anywhere => v.contains(&o),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(v: &str) -> Glob {
        Glob::new(v, Anchor::Whole, false)
    }

    #[test]
    fn plain_values_match_whole_and_without_case() {
        assert!(glob("StopLogging").matches("stoplogging"));
        assert!(!glob("StopLogging").matches("StopLoggingX"));
        assert!(glob("").matches(""));
        assert!(!glob("").matches("x"));
        assert!(!Glob::new("Stop", Anchor::Whole, true).matches("stop"));
    }

    #[test]
    fn wildcards_and_their_escapes() {
        assert!(glob("Delete*").matches("DeleteTrail"));
        assert!(glob("Delete*").matches("Delete"));
        assert!(glob("prog?.exe").matches("progA.exe"));
        assert!(!glob("prog?.exe").matches("prog.exe"));
        assert!(glob("a*b*c").matches("aXXbYYbc"));
        assert!(!glob("a*b*c").matches("aXXbYYb"));
        // `\*` is a star; `\\*` a backslash then a wildcard; `\x` a backslash and x.
        assert!(glob(r"a\*").matches("a*"));
        assert!(!glob(r"a\*").matches("ab"));
        assert!(glob(r"a\\*").matches(r"a\bc"));
        assert!(glob(r"C:\Windows").matches(r"c:\windows"));
        assert!(glob(r"a\\\*").matches(r"a\*"));
        assert!(glob(r"\\\\").matches(r"\\"));
    }

    #[test]
    fn anchors_add_stars_and_keep_the_values_own() {
        assert!(Glob::new("Jersey", Anchor::Anywhere, false).matches("aws-sdk jersey/1"));
        assert!(Glob::new("*", Anchor::Anywhere, false).matches(""));
        assert!(Glob::new("a?c", Anchor::Anywhere, false).matches("xxabcxx"));
        assert!(Glob::new("aws", Anchor::Start, false).matches("AWS-cli"));
        assert!(!Glob::new("aws", Anchor::End, false).matches("AWS-cli"));
    }

    #[test]
    fn values_beyond_ascii_match_as_characters_without_case() {
        assert!(glob("ÜBER*").matches("über-x"));
        assert!(glob("?ber").matches("über"));
        assert!(!glob("?ber").matches("üüber"));
        assert!(glob("über").matches("ÜBER"));
        assert!(!Glob::new("über", Anchor::Whole, true).matches("ÜBER"));
        // An ASCII pattern against a value that is not: the characters' path.
        assert!(Glob::new("x", Anchor::Anywhere, false).matches("été X"));
    }

    #[test]
    fn a_hostile_pattern_is_not_exponential() {
        let p = Glob::new(&"*a".repeat(30), Anchor::Whole, false);
        let v = "a".repeat(5000) + "b";
        let t = std::time::Instant::now();
        assert!(!p.matches(&v));
        assert!(t.elapsed().as_secs() < 5);
    }

    #[test]
    fn cidr_ranges() {
        let (n, b) = parse_cidr("10.0.0.0/8").unwrap();
        assert!(in_cidr("10.1.2.3", n, b));
        assert!(!in_cidr("11.1.2.3", n, b));
        assert!(!in_cidr("AWS Internal", n, b));
        let (n, b) = parse_cidr("2001:db8::/32").unwrap();
        assert!(in_cidr("2001:db8::1", n, b));
        assert!(!in_cidr("10.1.2.3", n, b));
        assert!(parse_cidr("10.0.0.0/33").is_none());
        assert!(parse_cidr("nope").is_none());
    }
}
