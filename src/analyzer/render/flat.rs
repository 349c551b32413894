//! A frame as every text writer needs it: times as text, lists joined.

use polars::prelude::*;

/// Times as RFC 3339 text, and lists joined with `join` when given: CSV and tables join with
/// `;`, a page with a line break, JSON keeps them.
pub fn as_text(df: &DataFrame, join: Option<&str>) -> PolarsResult<DataFrame> {
    let exprs: Vec<Expr> = df
        .columns()
        .iter()
        .map(|c| {
            let name = c.name().as_str();
            match (c.dtype(), join) {
                (DataType::List(_), Some(sep)) => col(name).list().join(lit(sep), true),
                (DataType::Datetime(_, _), _) => {
                    col(name).dt().strftime(crate::base::timefmt::RFC3339)
                }
                _ => col(name),
            }
        })
        .collect();
    df.clone().lazy().select(exprs).collect()
}
