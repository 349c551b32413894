//! The words of the queries that run: what a report names of the tables the engine builds, so
//! that what nothing names is never decoded (`role_calls`) or built (`key_lineage`).

use crate::analyzer::model::Table;

/// The words of `derived` (the queries of derived tables made of calls: `calls`, and those of
/// `query::PER_CALL` that are read) and `sqls` that can name a column of `role_calls`: what a
/// report over a dataset has to read of that table (the rest is never decoded). A word qualified by a
/// name that only ever stands for another base table (`a.event_id` after `FROM assumptions a`)
/// names that table's column, not role_calls'. `None`, read everything, when one of `sqls`
/// selects `*` from the calls or a table made of them (a derived query's own `*` only passes
/// the columns on), or when one does not parse (polars will say why).
pub fn read(
    derived: &[&str],
    sqls: &[&str],
    of_calls: &[&str],
) -> Option<std::collections::BTreeSet<String>> {
    use sqlparser::tokenizer::Token;
    let mut words = std::collections::BTreeSet::new();
    for (sql, passes_on) in derived
        .iter()
        .map(|s| (*s, true))
        .chain(sqls.iter().map(|s| (*s, false)))
    {
        let tokens = tokens(sql)?;
        let code: Vec<&Token> = tokens.iter().collect();
        let elsewhere = other_tables(&code);
        words.extend(code.iter().enumerate().filter_map(|(i, t)| match t {
            Token::Word(w) => {
                let qualifier = match i.checked_sub(2).map(|q| (code[q], code[q + 1])) {
                    Some((Token::Word(q), Token::Period)) => Some(q.value.to_ascii_lowercase()),
                    _ => None,
                };
                match qualifier {
                    Some(q) if elsewhere.contains(&q) => None,
                    _ => Some(w.value.to_ascii_lowercase()),
                }
            }
            _ => None,
        }));
        if !passes_on && crate::analyzer::query::sandbox::selects_all_of(sql, of_calls)? {
            return None;
        }
    }
    Some(words)
}

/// The words of `sqls` (every query that runs, the derived ones included): what a report can
/// name of `table`, one of the tables janus-audit builds (`key_lineage`) or reads from a dataset
/// (`assumptions`, `hops`) with only the columns named. `None`, all of them, when one of `sqls`
/// selects `*` (or `t.*`) of that table itself, names columns by pattern, or does not parse.
pub fn of_table(sqls: &[&str], table: Table) -> Option<std::collections::BTreeSet<String>> {
    use sqlparser::tokenizer::Token;
    let mut words = std::collections::BTreeSet::new();
    for sql in sqls {
        words.extend(tokens(sql)?.into_iter().filter_map(|t| match t {
            Token::Word(w) => Some(w.value.to_ascii_lowercase()),
            _ => None,
        }));
        if crate::analyzer::query::sandbox::selects_all_of(sql, &[table.name()])? {
            return None;
        }
    }
    Some(words)
}

/// The tokens of `sql` but white space and comments; `None` when it does not tokenize, or names
/// columns by pattern (polars' `COLUMNS('regex')`), not by word.
fn tokens(sql: &str) -> Option<Vec<sqlparser::tokenizer::Token>> {
    use sqlparser::dialect::GenericDialect;
    use sqlparser::tokenizer::{Token, Tokenizer};
    let mut code = Tokenizer::new(&GenericDialect, sql).tokenize().ok()?;
    code.retain(|t| !matches!(t, Token::Whitespace(_)));
    let by_pattern = code.windows(2).any(
        |w| matches!(w, [Token::Word(f), Token::LParen] if f.value.eq_ignore_ascii_case("columns")),
    );
    (!by_pattern).then_some(code)
}

/// The names in `code` that only ever stand for a base table other than `role_calls` and
/// `calls`: those tables themselves, and each alias that `FROM`/`JOIN` gives one of them and
/// nothing else. A table name the query redefines as a CTE, or an alias given to anything else
/// too, is not one.
fn other_tables(code: &[&sqlparser::tokenizer::Token]) -> std::collections::BTreeSet<String> {
    use sqlparser::keywords::Keyword;
    use sqlparser::tokenizer::Token;
    const OTHER: [&str; 6] = [
        "assumptions",
        "hops",
        "key_lineage",
        "key_activity",
        "events",
        "files",
    ];
    let word = |i: usize| match code.get(i) {
        Some(Token::Word(w)) => Some(w),
        _ => None,
    };
    // `name AS (`: a CTE of that name, which is not the base table.
    let ctes: std::collections::BTreeSet<String> = (0..code.len())
        .filter(|&i| {
            word(i + 1).is_some_and(|a| a.keyword == Keyword::AS)
                && matches!(code.get(i + 2), Some(Token::LParen))
        })
        .filter_map(|i| word(i).map(|w| w.value.to_ascii_lowercase()))
        .collect();
    let other = |t: &str| OTHER.contains(&t) && !ctes.contains(t);
    let mut names: std::collections::BTreeSet<String> = OTHER
        .iter()
        .filter(|t| other(t))
        .map(|t| t.to_string())
        .collect();
    let mut mixed = std::collections::BTreeSet::new();
    for i in 0..code.len() {
        if !word(i).is_some_and(|w| matches!(w.keyword, Keyword::FROM | Keyword::JOIN)) {
            continue;
        }
        let Some(table) = word(i + 1) else { continue };
        let at = if word(i + 2).is_some_and(|a| a.keyword == Keyword::AS) {
            i + 3
        } else {
            i + 2
        };
        if let Some(alias) = word(at).filter(|a| a.keyword == Keyword::NoKeyword) {
            let alias = alias.value.to_ascii_lowercase();
            match other(&table.value.to_ascii_lowercase()) {
                true => names.insert(alias),
                false => mixed.insert(alias),
            };
        }
    }
    names.retain(|n| !mixed.contains(n));
    names
}

#[cfg(test)]
mod tests {
    use crate::analyzer::model::Table;
    use crate::analyzer::query::{PER_CALL, Sql, table_words, words_read};

    #[test]
    fn the_words_a_report_reads() {
        let sql = |name: &str, text: &str| Sql {
            name: name.into(),
            text: text.into(),
        };
        let calls = sql(
            "calls",
            "SELECT c.*, i.x FROM role_calls c JOIN i USING (k) -- user_agent",
        );
        let words = words_read(
            &[&calls],
            &[sql("r", "SELECT event_name, COUNT(*) FROM calls")],
        )
        .unwrap();
        assert!(words.contains("event_name") && words.contains("k") && words.contains("x"));
        assert!(!words.contains("user_agent"), "comments name nothing");
        assert_eq!(
            words_read(&[&calls], &[sql("r", "SELECT * FROM calls")]),
            None
        );
        // A table made of calls passes them on with its `*`; a report's `*` over it reads all.
        let flagged = sql("flagged_calls", "SELECT *, 1 AS mark FROM calls");
        let words = words_read(
            &[&calls, &flagged],
            &[sql("r", "SELECT event_name FROM flagged_calls")],
        )
        .unwrap();
        assert!(words.contains("event_name") && !words.contains("user_agent"));
        for table in PER_CALL {
            let star = sql("r", &format!("SELECT * FROM {table}"));
            assert_eq!(words_read(&[&calls, &flagged], &[star]), None, "{table}");
        }
        assert_eq!(words_read(&[&calls], &[sql("r", "SELECT 'unclosed")]), None);
        let pattern = sql("r", "SELECT COLUMNS ('^user.*') FROM calls");
        assert_eq!(words_read(&[&calls], &[pattern]), None);
        // Qualified by what only stands for another table: that table's column.
        let words = words_read(
            &[&calls],
            &[sql(
                "r",
                "SELECT a.event_id, x.user_agent FROM assumptions a JOIN calls c ON c.k = a.k \
                 JOIN hops x ON TRUE JOIN calls x ON TRUE",
            )],
        )
        .unwrap();
        assert!(!words.contains("event_id"), "a is assumptions");
        assert!(words.contains("user_agent"), "x is calls too");
        let words = words_read(
            &[&calls],
            &[sql(
                "r",
                "WITH hops AS (SELECT k FROM calls) SELECT h.event_id FROM hops h",
            )],
        )
        .unwrap();
        assert!(words.contains("event_id"), "hops is a CTE here");
        let words = words_read(
            &[&calls],
            &[sql("r", "SELECT assumptions.event_id FROM assumptions")],
        );
        assert!(!words.unwrap().contains("event_id"));
    }

    #[test]
    fn the_words_that_say_which_lineage_columns_are_built() {
        let sql = |text: &str| Sql {
            name: "r".into(),
            text: text.into(),
        };
        let words = |texts: &[&str]| {
            let sqls: Vec<Sql> = texts.iter().map(|t| sql(t)).collect();
            table_words(&sqls.iter().collect::<Vec<_>>(), Table::KeyLineage)
        };
        let named = words(&[
            "SELECT l.depth FROM key_lineage l -- parent_key",
            "SELECT g.*, k.root_event_id FROM key_activity g JOIN key_lineage k ON TRUE",
        ])
        .unwrap();
        assert!(named.contains("depth") && named.contains("root_event_id"));
        assert!(!named.contains("parent_key"), "comments name nothing");
        for all in [
            "SELECT * FROM key_lineage",
            "SELECT l.* FROM key_lineage l JOIN x ON TRUE",
            "WITH k AS (SELECT * FROM key_lineage) SELECT depth FROM k",
            "SELECT COLUMNS('^root') FROM key_lineage",
            "SELECT 'unclosed",
        ] {
            assert_eq!(
                words(&["SELECT depth FROM key_lineage", all]),
                None,
                "{all}"
            );
        }
    }

    /// Every shipped report names the columns it reads of the calls: one `SELECT *` over
    /// `flagged_calls` made `findings` decode every column of every call (#35).
    #[test]
    fn shipped_reports_name_what_they_read_of_the_calls() {
        use crate::analyzer::query::{Queries, Shipped};
        let queries = Queries::default();
        let derived: Vec<Sql> = queries
            .derived()
            .unwrap()
            .into_iter()
            .map(|(_, s)| s)
            .collect();
        let derived: Vec<&Sql> = derived.iter().collect();
        let one = |q: Shipped| vec![queries.shipped(q).unwrap()];
        for (report, sqls) in [
            ("by_instance", one(Shipped::ByInstance)),
            ("sessions", one(Shipped::Sessions)),
            ("timeline", one(Shipped::Timeline)),
            ("sigma_findings", one(Shipped::SigmaFindings)),
            ("findings", queries.findings().unwrap()),
        ] {
            let words = words_read(&derived, &sqls);
            assert!(words.is_some(), "{report} reads every column of the calls");
            assert!(
                !words.unwrap().contains("user_agent"),
                "{report} names user_agent"
            );
        }
    }
}
