//! What a query may do: read the registered tables and nothing else. polars SQL also offers
//! `read_csv('/any/path')` and its siblings, which would let a query from a shared `--queries`
//! directory pull any file the user can read (a credential cache, say) into a report; and
//! statements that change the registered tables. Each query is parsed as polars-sql parses it
//! and refused before it runs if it holds either.

use std::ops::ControlFlow;

use sqlparser::ast::{Statement, TableFactor, Visit, Visitor};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::{Parser, ParserOptions};

/// Why a query was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}; a query reads only the tables `janus-audit tables` lists")]
pub struct Refused(pub String);

struct Guard;

impl Visitor for Guard {
    type Break = Refused;

    fn pre_visit_statement(&mut self, s: &Statement) -> ControlFlow<Refused> {
        match s {
            Statement::Query(_) | Statement::Explain { .. } => ControlFlow::Continue(()),
            other => {
                let kind = other.to_string();
                let kind = kind.split_whitespace().next().unwrap_or("this statement");
                ControlFlow::Break(Refused(format!(
                    "only SELECT queries run here, not {}",
                    kind.to_uppercase()
                )))
            }
        }
    }

    fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<Refused> {
        match t {
            TableFactor::Table { args: None, .. }
            | TableFactor::Derived { .. }
            | TableFactor::NestedJoin { .. } => ControlFlow::Continue(()),
            TableFactor::Table { name, .. } => ControlFlow::Break(Refused(format!(
                "table function {}() is not allowed",
                crate::base::text::excerpt(&name.to_string())
            ))),
            _ => ControlFlow::Break(Refused(
                "a table function or external source in FROM is not allowed".into(),
            )),
        }
    }
}

/// `sql` parsed as polars-sql parses it; `None` when it does not parse.
fn parse(sql: &str) -> Option<Vec<Statement>> {
    Parser::new(&GenericDialect)
        .with_options(ParserOptions {
            trailing_commas: true,
            ..Default::default()
        })
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statements())
        .ok()
}

/// Whether a FROM or JOIN item is a table named one of `tables` (the last part of its name, in
/// any case).
fn names_table(t: &TableFactor, tables: &[&str]) -> bool {
    match t {
        TableFactor::Table { name, .. } => name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .is_some_and(|i| tables.iter().any(|t| i.value.eq_ignore_ascii_case(t))),
        _ => false,
    }
}

/// Whether `name` (the `x` of `x.*`) stands for the table `t` reads: its alias, or its own name
/// when it has none.
fn stands_for(t: &TableFactor, name: &sqlparser::ast::ObjectName) -> bool {
    let Some(q) = name.0.last().and_then(|p| p.as_ident()) else {
        return false;
    };
    match t {
        TableFactor::Table { alias: Some(a), .. } => a.name.value.eq_ignore_ascii_case(&q.value),
        TableFactor::Table { name: own, .. } => own
            .0
            .last()
            .and_then(|p| p.as_ident())
            .is_some_and(|i| i.value.eq_ignore_ascii_case(&q.value)),
        _ => false,
    }
}

/// Refuse `sql` if it reads anything but registered tables or is not a query. SQL that does
/// not parse is left to polars, which says why.
pub fn check(sql: &str) -> Result<(), Refused> {
    let Some(statements) = parse(sql) else {
        return Ok(());
    };
    match statements.visit(&mut Guard) {
        ControlFlow::Break(refused) => Err(refused),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Whether `sql` reads the table `table` (by name, in a FROM or JOIN; a column or alias of
/// that name does not count); `None` when it does not parse.
pub fn reads_table(sql: &str, table: &str) -> Option<bool> {
    struct Reads<'t>(&'t str);
    impl Visitor for Reads<'_> {
        type Break = ();
        fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<()> {
            match names_table(t, &[self.0]) {
                true => ControlFlow::Break(()),
                false => ControlFlow::Continue(()),
            }
        }
    }
    Some(parse(sql)?.visit(&mut Reads(table)).is_break())
}

/// Whether `sql` selects `*` (or `alias.*`) in a SELECT that reads one of `tables` directly;
/// `None` when it does not parse.
pub fn selects_all_of(sql: &str, tables: &[&str]) -> Option<bool> {
    use sqlparser::ast::{Query, SelectItem, SelectItemQualifiedWildcardKind, SetExpr};

    struct Stars<'a> {
        tables: &'a [&'a str],
        found: bool,
    }

    impl Stars<'_> {
        fn body(&mut self, e: &SetExpr) {
            match e {
                SetExpr::Select(s) => {
                    let read: Vec<&TableFactor> = s
                        .from
                        .iter()
                        .flat_map(|t| {
                            std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation))
                        })
                        .filter(|r| names_table(r, self.tables))
                        .collect();
                    // `x.*` expands x alone: it counts only where x is one of the tables read.
                    self.found |= s.projection.iter().any(|p| match p {
                        SelectItem::Wildcard(_) => !read.is_empty(),
                        SelectItem::QualifiedWildcard(
                            SelectItemQualifiedWildcardKind::ObjectName(name),
                            _,
                        ) => read.iter().any(|r| stands_for(r, name)),
                        _ => false,
                    });
                }
                SetExpr::SetOperation { left, right, .. } => {
                    self.body(left);
                    self.body(right);
                }
                // Nested queries are visited on their own.
                _ => {}
            }
        }
    }

    impl Visitor for Stars<'_> {
        type Break = ();

        fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
            self.body(&q.body);
            ControlFlow::Continue(())
        }
    }

    let statements = parse(sql)?;
    let mut v = Stars {
        tables,
        found: false,
    };
    let _ = statements.visit(&mut v);
    Some(v.found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_star_counts_only_where_it_reads_the_named_table() {
        let all = |sql: &str| selects_all_of(sql, &["calls", "role_calls"]);
        assert_eq!(all("SELECT * FROM calls"), Some(true));
        assert_eq!(
            all("SELECT c.* FROM role_calls c JOIN x ON 1 = 1"),
            Some(true)
        );
        assert_eq!(
            all("SELECT a FROM x UNION ALL SELECT * FROM x JOIN calls ON 1 = 1"),
            Some(true)
        );
        assert_eq!(
            all("WITH c AS (SELECT * FROM calls) SELECT a FROM c"),
            Some(true)
        );
        assert_eq!(
            all("WITH c AS (SELECT a, b FROM calls) SELECT * FROM c"),
            Some(false)
        );
        assert_eq!(
            all("SELECT * FROM assumptions WHERE x IN (SELECT y FROM calls)"),
            Some(false)
        );
        assert_eq!(all("SELECT COUNT(*) FROM calls"), Some(false));
        // `x.*` expands x alone.
        assert_eq!(
            all("SELECT g.*, c.a FROM key_activity g JOIN calls c ON 1 = 1"),
            Some(false)
        );
        assert_eq!(
            all("SELECT calls.* FROM key_activity g JOIN calls ON 1 = 1"),
            Some(true)
        );
        assert_eq!(all("SELECT x.* FROM calls x"), Some(true));
        assert_eq!(all("SELECT (("), None);
    }

    #[test]
    fn file_reading_table_functions_are_refused_wherever_they_hide() {
        for sql in [
            "SELECT * FROM read_csv('/etc/passwd')",
            "select * from READ_JSON('/home/u/.cache/janus-audit/credentials/x.json')",
            "SELECT * FROM calls WHERE event_id IN (SELECT * FROM read_parquet('x.parquet'))",
            "WITH x AS (SELECT * FROM read_ipc('x')) SELECT * FROM x",
            "SELECT * FROM calls c JOIN \"read_csv\"('/etc/hosts') h ON true",
            "SELECT 1 UNION ALL SELECT * FROM read_csv('/etc/passwd')",
            "CREATE TABLE t AS SELECT * FROM read_csv('/etc/passwd')",
            "DROP TABLE calls",
            "DELETE FROM calls",
            "TRUNCATE TABLE calls",
        ] {
            assert!(check(sql).is_err(), "{sql}");
        }
    }

    #[test]
    fn a_table_is_read_by_name_not_by_a_column_of_that_name() {
        assert_eq!(
            reads_table("SELECT COUNT(*) FROM events", "events"),
            Some(true)
        );
        assert_eq!(
            reads_table("SELECT c.x FROM calls c JOIN Events e ON TRUE", "events"),
            Some(true)
        );
        assert_eq!(
            reads_table(
                "SELECT COUNT(*) AS events FROM calls GROUP BY key",
                "events"
            ),
            Some(false)
        );
        assert_eq!(reads_table("SELECT 'unclosed", "events"), None);
    }

    #[test]
    fn queries_over_tables_run() {
        for sql in [
            "SELECT * FROM calls",
            "WITH a AS (SELECT * FROM assumptions) SELECT COUNT(*) FROM a JOIN calls c ON true",
            "SELECT * FROM (SELECT event_id FROM events) e",
            "SELECT read_csv FROM t",
            "EXPLAIN SELECT * FROM calls",
        ] {
            assert_eq!(check(sql), Ok(()), "{sql}");
        }
    }
}
