//! Common table expressions that a query reads more than once are computed once.
//!
//! polars inlines every CTE where it is named, then pushes each reader's own columns and filters
//! into it. Two readers of one CTE therefore get two different plans, its common-subplan pass
//! cannot merge them, and the CTE (with everything under it, such as the `calls` join) runs once
//! per reader. A detection that reads its calls in five places did the join five times. This is
//! PostgreSQL's rule since version 12: a CTE named once is inlined, one named more than once is
//! materialized. Each such CTE is collected in order and registered as a table for the rest of
//! the query, which polars then runs as written.

use polars::prelude::*;
use polars::sql::SQLContext;
use sqlparser::ast::{Query, Statement, With};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

/// Runs `text` in `ctx`, first collecting each top-level CTE that is read more than once.
/// Tables registered for that are removed again before returning.
pub fn execute(ctx: &mut SQLContext, text: &str) -> PolarsResult<DataFrame> {
    let Some(plan) = plan(ctx, text) else {
        return ctx.execute(text)?.collect();
    };
    let mut registered = Vec::new();
    let result = (|| {
        for (name, sql) in &plan.stages {
            let df = ctx.execute(sql)?.collect()?;
            ctx.register(name, df.lazy());
            registered.push(name.clone());
        }
        ctx.execute(&plan.rest)?.collect()
    })();
    for name in registered {
        ctx.unregister(&name);
    }
    result
}

/// What to run: each shared CTE as its own query (named), then the query without them.
#[derive(Debug)]
struct Plan {
    stages: Vec<(String, String)>,
    rest: String,
}

/// `None` when nothing is shared, or the text is not one plain query with a WITH (polars then
/// runs it, or says what is wrong with it, as always).
fn plan(ctx: &SQLContext, text: &str) -> Option<Plan> {
    let mut parsed = Parser::parse_sql(&GenericDialect, text).ok()?;
    let [Statement::Query(query)] = parsed.as_mut_slice() else {
        return None;
    };
    let with = query.with.take()?;
    if with.recursive {
        return None;
    }
    let tables = ctx.get_tables();
    let body = query.to_string();
    let readers: Vec<String> = with
        .cte_tables
        .iter()
        .map(|c| c.query.to_string())
        .collect();
    let mut inlined = Vec::new();
    let mut stages = Vec::new();
    for (i, cte) in with.cte_tables.iter().enumerate() {
        let name = &cte.alias.name.value;
        let reads: usize = readers[i + 1..]
            .iter()
            .chain(std::iter::once(&body))
            .map(|t| references(t, name))
            .sum();
        // A CTE named like a table is shadowed by it in polars; one with column aliases or its
        // own WITH is left as written.
        let plain = cte.alias.columns.is_empty()
            && cte.query.with.is_none()
            && !tables.iter().any(|t| t.eq_ignore_ascii_case(name));
        if reads > 1 && plain {
            let mut own: Query = (*cte.query).clone();
            own.with = with_ctes(&with, &inlined);
            stages.push((name.clone(), own.to_string()));
        } else {
            inlined.push(i);
        }
    }
    if stages.is_empty() {
        return None;
    }
    query.with = with_ctes(&with, &inlined);
    Some(Plan {
        stages,
        rest: query.to_string(),
    })
}

fn with_ctes(with: &With, keep: &[usize]) -> Option<With> {
    (!keep.is_empty()).then(|| With {
        cte_tables: keep.iter().map(|&i| with.cte_tables[i].clone()).collect(),
        ..with.clone()
    })
}

/// How many times `text` names `name` as a relation: as a word not followed by `.` (a
/// qualifier such as `c.event_time` is not a read). Over-counting costs only memory, since
/// the CTE is then collected whole.
fn references(text: &str, name: &str) -> usize {
    let Ok(tokens) = Tokenizer::new(&GenericDialect, text).tokenize() else {
        return 2;
    };
    let code: Vec<&Token> = tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    code.iter()
        .enumerate()
        .filter(|(i, t)| {
            matches!(t, Token::Word(w) if w.value.eq_ignore_ascii_case(name))
                && !matches!(code.get(i + 1), Some(Token::Period))
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> SQLContext {
        let ctx = SQLContext::new();
        ctx.register("t", df!("x" => [1, 2, 3, 4]).unwrap().lazy());
        ctx
    }

    #[test]
    fn a_cte_read_twice_is_its_own_stage_and_the_rest_keeps_the_others() {
        let sql = "WITH a AS (SELECT x FROM t WHERE x > 1), b AS (SELECT x FROM a), \
                   c AS (SELECT a.x FROM a JOIN b ON a.x = b.x) SELECT c.x FROM c ORDER BY c.x";
        let p = plan(&ctx(), sql).unwrap();
        assert_eq!(p.stages.len(), 1);
        assert_eq!(p.stages[0].0, "a");
        assert_eq!(p.stages[0].1, "SELECT x FROM t WHERE x > 1");
        assert!(
            p.rest.starts_with("WITH b AS (SELECT x FROM a), c AS"),
            "{}",
            p.rest
        );
        let out = execute(&mut ctx(), sql).unwrap();
        assert_eq!(out, df!("x" => [2, 3, 4]).unwrap());
    }

    #[test]
    fn a_stage_sees_the_inlined_ctes_before_it() {
        let sql = "WITH a AS (SELECT x FROM t), b AS (SELECT x + 1 AS y FROM a), \
                   d AS (SELECT y FROM b WHERE y > 2) SELECT COUNT(*) AS n FROM b JOIN d ON b.y = d.y";
        let p = plan(&ctx(), sql).unwrap();
        assert_eq!(p.stages.len(), 1);
        assert_eq!(p.stages[0].0, "b");
        assert_eq!(
            p.stages[0].1,
            "WITH a AS (SELECT x FROM t) SELECT x + 1 AS y FROM a"
        );
        let mut c = ctx();
        let out = execute(&mut c, sql).unwrap();
        assert_eq!(out.column("n").unwrap().u32().unwrap().get(0), Some(3));
        assert_eq!(c.get_tables(), vec!["t".to_string()], "stages are removed");
    }

    #[test]
    fn a_parenthesized_body_keeps_the_ctes_it_reads() {
        let sql = "WITH a AS (SELECT x FROM t), b AS (SELECT x FROM a WHERE x > 2) \
                   (SELECT COUNT(*) AS n FROM a JOIN b ON a.x = b.x)";
        let p = plan(&ctx(), sql).unwrap();
        assert_eq!(p.stages[0].0, "a");
        assert!(p.rest.starts_with("WITH b AS"), "{}", p.rest);
        let out = execute(&mut ctx(), sql).unwrap();
        assert_eq!(out.column("n").unwrap().u32().unwrap().get(0), Some(2));
    }

    #[test]
    fn nothing_shared_means_no_plan() {
        assert!(plan(&ctx(), "WITH a AS (SELECT x FROM t) SELECT a.x FROM a").is_none());
        assert!(plan(&ctx(), "SELECT x FROM t").is_none());
        assert!(plan(&ctx(), "not sql").is_none());
        // Named like a table: polars reads the table, so it is left to polars.
        assert!(
            plan(
                &ctx(),
                "WITH t AS (SELECT 1 AS x) SELECT * FROM t JOIN t u ON TRUE"
            )
            .is_none()
        );
    }

    #[test]
    fn qualifiers_are_not_reads() {
        assert_eq!(
            references("SELECT c.x, c.y FROM c JOIN d ON c.x = d.x", "c"),
            1
        );
        assert_eq!(references("SELECT 'c' FROM C", "c"), 1);
    }
}
