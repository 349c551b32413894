//! A rule's `condition`: `selection and not 1 of filter_*`, parsed into a tree over the rule's
//! search identifiers. Precedence, loosest first: `or`, `and`, `not`, `1 of`/`all of`,
//! parentheses (the specification's "Condition"). `them` is every identifier that does not
//! start with `_`; a pattern's `*` stands for any run of characters.

/// A condition over search identifiers, by their index in the rule's detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    Sel(usize),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
}

impl Cond {
    pub fn eval(&self, sel: &mut impl FnMut(usize) -> bool) -> bool {
        match self {
            Cond::Sel(i) => sel(*i),
            Cond::Not(c) => !c.eval(sel),
            Cond::And(cs) => cs.iter().all(|c| c.eval(sel)),
            Cond::Or(cs) => cs.iter().any(|c| c.eval(sel)),
        }
    }
}

/// Longer than any real condition; a hostile one is refused, not recursed into.
const MAX_TOKENS: usize = 10_000;
const MAX_NESTING: usize = 64;

/// Parse `text` over the identifiers `names`; an error says what is wrong in words.
pub fn parse(text: &str, names: &[String]) -> Result<Cond, String> {
    if text.contains('|') {
        return Err("an aggregation in the condition (`| count() ...`, Sigma 1.0) is not supported; use a correlation rule".into());
    }
    let tokens = tokenize(text);
    if tokens.len() > MAX_TOKENS {
        return Err("the condition is too long".into());
    }
    let mut p = Parser {
        tokens,
        at: 0,
        names,
        depth: 0,
    };
    let cond = p.or()?;
    match p.peek() {
        None => Ok(cond),
        Some(t) => Err(format!("unexpected {t:?} in the condition")),
    }
}

fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        match c {
            '(' | ')' => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
                out.push(c.to_string());
            }
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

struct Parser<'n> {
    tokens: Vec<String>,
    at: usize,
    names: &'n [String],
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn keyword(&self, k: &str) -> bool {
        self.peek().is_some_and(|t| t.eq_ignore_ascii_case(k))
    }

    fn or(&mut self) -> Result<Cond, String> {
        self.joined("or", Self::and, Cond::Or)
    }

    fn and(&mut self) -> Result<Cond, String> {
        self.joined("and", Self::not, Cond::And)
    }

    /// `next (keyword next)*`, one part alone as itself.
    fn joined(
        &mut self,
        keyword: &str,
        next: fn(&mut Self) -> Result<Cond, String>,
        many: fn(Vec<Cond>) -> Cond,
    ) -> Result<Cond, String> {
        let mut parts = vec![next(self)?];
        while self.keyword(keyword) {
            self.at += 1;
            parts.push(next(self)?);
        }
        Ok(one_or(parts, many))
    }

    fn not(&mut self) -> Result<Cond, String> {
        if self.keyword("not") {
            self.at += 1;
            self.nest()?;
            let c = self.not();
            self.depth -= 1;
            return Ok(Cond::Not(Box::new(c?)));
        }
        self.primary()
    }

    fn nest(&mut self) -> Result<(), String> {
        self.depth += 1;
        match self.depth > MAX_NESTING {
            true => Err("the condition nests too deeply".into()),
            false => Ok(()),
        }
    }

    fn primary(&mut self) -> Result<Cond, String> {
        let Some(t) = self.peek().map(str::to_string) else {
            return Err("the condition ends where an identifier was expected".into());
        };
        self.at += 1;
        if t == "(" {
            self.nest()?;
            let c = self.or();
            self.depth -= 1;
            let c = c?;
            if self.peek() != Some(")") {
                return Err("a '(' in the condition is not closed".into());
            }
            self.at += 1;
            return Ok(c);
        }
        if self.keyword("of") {
            self.at += 1;
            let target = self
                .peek()
                .map(str::to_string)
                .ok_or("the condition ends after 'of'")?;
            self.at += 1;
            return self.quantified(&t, &target);
        }
        if t == ")"
            || ["and", "or", "not"]
                .iter()
                .any(|k| t.eq_ignore_ascii_case(k))
        {
            return Err(format!("unexpected {t:?} in the condition"));
        }
        match self.names.iter().position(|n| *n == t) {
            Some(i) => Ok(Cond::Sel(i)),
            None => Err(format!(
                "the condition names {t:?}, which the detection does not define"
            )),
        }
    }

    fn quantified(&self, quantifier: &str, target: &str) -> Result<Cond, String> {
        let chosen: Vec<Cond> = self
            .names
            .iter()
            .enumerate()
            .filter(|(_, n)| match target {
                "them" => !n.starts_with('_'),
                pattern => wildcard(pattern, n),
            })
            .map(|(i, _)| Cond::Sel(i))
            .collect();
        if chosen.is_empty() {
            return Err(format!(
                "'{quantifier} of {target}' names no search identifier"
            ));
        }
        match quantifier {
            "1" | "any" => Ok(one_or(chosen, Cond::Or)),
            "all" => Ok(one_or(chosen, Cond::And)),
            q => Err(format!(
                "'{q} of' is not a quantifier Sigma has (1, any or all)"
            )),
        }
    }
}

fn one_or(mut parts: Vec<Cond>, many: fn(Vec<Cond>) -> Cond) -> Cond {
    match parts.len() {
        1 => parts.pop().unwrap(),
        _ => many(parts),
    }
}

/// An identifier pattern: `*` for any run of characters, everything else itself.
fn wildcard(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn precedence_and_quantifiers() {
        let n = names(&["selection", "filter_a", "filter_b", "_hidden"]);
        assert_eq!(
            parse("selection and not 1 of filter_*", &n).unwrap(),
            Cond::And(vec![
                Cond::Sel(0),
                Cond::Not(Box::new(Cond::Or(vec![Cond::Sel(1), Cond::Sel(2)])))
            ])
        );
        assert_eq!(
            parse("selection or filter_a and filter_b", &n).unwrap(),
            Cond::Or(vec![
                Cond::Sel(0),
                Cond::And(vec![Cond::Sel(1), Cond::Sel(2)])
            ])
        );
        assert_eq!(
            parse("all of them", &n).unwrap(),
            Cond::And(vec![Cond::Sel(0), Cond::Sel(1), Cond::Sel(2)])
        );
        assert_eq!(
            parse("(selection or _hidden) AND NOT filter_a", &n).unwrap(),
            Cond::And(vec![
                Cond::Or(vec![Cond::Sel(0), Cond::Sel(3)]),
                Cond::Not(Box::new(Cond::Sel(1)))
            ])
        );
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let n = names(&["selection"]);
        assert!(
            parse("selection and nope", &n)
                .unwrap_err()
                .contains("nope")
        );
        assert!(parse("1 of filter*", &n).is_err());
        assert!(
            parse("selection | count() > 5", &n)
                .unwrap_err()
                .contains("aggregation")
        );
        assert!(parse("(selection", &n).is_err());
        assert!(parse("selection selection", &n).is_err());
        assert!(parse("2 of selection*", &n).is_err());
        let deep = "not ".repeat(1000) + "selection";
        assert!(parse(&deep, &n).unwrap_err().contains("deeply"));
    }

    #[test]
    fn identifier_patterns() {
        assert!(wildcard("sel*", "selection"));
        assert!(wildcard("*tion", "selection"));
        assert!(wildcard("s*ct*n", "selection"));
        assert!(!wildcard("s*x*n", "selection"));
        assert!(!wildcard("selection", "selection2"));
    }
}
