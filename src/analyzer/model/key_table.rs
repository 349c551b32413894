//! `key_lineage`'s table: its columns, and its rows made from the keys' source rows (each key's
//! own and its root's, among the assumptions and the hops), as views of those tables' strings.

use polars::prelude::*;

/// A key's row in `key_lineage`, and in `role_calls` the row of the key each call was made
/// with: what `queries/calls.sql` joins on (an integer join, where the access key was a string
/// one). Rows are numbered in `key_lineage`'s order, so the number depends on what was read.
pub const KEY_REF: &str = "key_ref";

/// The columns of `key_lineage`, in order.
pub const COLUMNS: [&str; 18] = [
    "access_key_id",
    "parent_key",
    "root_key",
    "depth",
    "role_arn",
    "account_id",
    "session_name",
    "assumed_role_arn",
    "source_identity",
    "issued_at",
    "expires_at",
    "issuing_ip",
    "event_id",
    "shared_event_id",
    "root_event_id",
    "in_window",
    "used_in_window",
    KEY_REF,
];

/// The words of the queries that run (`query::table_words`): the columns of `key_lineage`
/// built are those among them.
pub type Named = std::collections::BTreeSet<String>;

/// Where a key's row comes from: an assumption's row (a root) or a hop's.
#[derive(Clone, Copy)]
pub enum Src {
    Root(IdxSize),
    Hop(IdxSize),
}

/// What the table is made of, a value per key in row order.
pub struct Rows<'t> {
    /// The key's source row.
    pub src: Vec<Src>,
    /// Its root's source row (one of the assumptions).
    pub roots: Vec<Src>,
    pub depth: Vec<u32>,
    pub in_window: Vec<bool>,
    /// The event ID of its target-account copy.
    pub shared: Vec<Option<&'t str>>,
}

impl<'t> Rows<'t> {
    /// Those of the keys (rows) `keys` only, in that order.
    pub fn of(&self, keys: &[IdxSize]) -> Rows<'t> {
        let at = |k: &IdxSize| *k as usize;
        Rows {
            src: keys.iter().map(|k| self.src[at(k)]).collect(),
            roots: keys.iter().map(|k| self.roots[at(k)]).collect(),
            depth: keys.iter().map(|k| self.depth[at(k)]).collect(),
            in_window: keys.iter().map(|k| self.in_window[at(k)]).collect(),
            shared: keys.iter().map(|k| self.shared[at(k)]).collect(),
        }
    }
}

/// The table, a row per key of `rows`, with whether a call used it (null where `used` is not
/// known): of its columns, `key_ref`, `access_key_id` and those `named` (all when `None`). Each
/// string column is views into the source tables' strings.
pub fn frame(
    (assumptions, hops): (&DataFrame, &DataFrame),
    keys: &Rows<'_>,
    used: Option<&[bool]>,
    named: Option<&Named>,
) -> PolarsResult<DataFrame> {
    let (rows, roots, shared) = (&keys.src, &keys.roots, &keys.shared);
    let n = rows.len();
    // A column of the key's own source row (`a`: its name in the assumptions, `h` in the hops),
    // or of its root's (`h` none).
    let pick = |name: &str, a: Option<&str>, h: Option<&str>| match h {
        Some(_) => pick(assumptions, hops, name, (a, h), rows),
        None => pick(assumptions, hops, name, (a, h), roots),
    };
    let bools = |name: &str, b: &[bool]| BooleanChunked::from_slice(name.into(), b).into_column();
    let column = |name: &str| match name {
        "access_key_id" | "role_arn" | "account_id" | "session_name" | "assumed_role_arn"
        | "source_identity" | "expires_at" | "event_id" => pick(name, Some(name), Some(name)),
        "parent_key" => pick(name, None, Some(name)),
        "root_key" => pick(name, Some("access_key_id"), None),
        "root_event_id" => pick(name, Some("event_id"), None),
        "issued_at" => pick(name, Some("event_time"), Some("event_time")),
        "issuing_ip" => pick(name, Some("issuing_ip"), Some("source_ip")),
        "depth" => Ok(UInt32Chunked::from_slice(name.into(), &keys.depth).into_column()),
        "shared_event_id" => {
            Ok(StringChunked::from_iter_options(name.into(), shared.iter().copied()).into_column())
        }
        "in_window" => Ok(bools(name, &keys.in_window)),
        "used_in_window" => Ok(match used {
            Some(used) => bools(name, used),
            None => Column::full_null(name.into(), n, &DataType::Boolean),
        }),
        KEY_REF => Ok(UInt32Chunked::from_iter_values(name.into(), 0..n as u32).into_column()),
        other => unreachable!("{other} is one of COLUMNS"),
    };
    let columns = COLUMNS
        .iter()
        // The row number joins; the key ID names a timeline's entity.
        .filter(|c| {
            [KEY_REF, "access_key_id"].contains(*c) || named.is_none_or(|n| n.contains(**c))
        })
        .map(|c| column(c))
        .collect::<PolarsResult<Vec<_>>>()?;
    DataFrame::new(n, columns)
}

/// A column from either source table (`cols`: its name in each, none where that table lacks it),
/// row by row: the roots' rows, then the hops', then put in order. Every step takes views of the
/// source strings, none copies them, as long as each source column is one chunk
/// (`Tables::build` makes it so): polars copies the strings it gathers from many. A table
/// without the column (a root has no parent) gives nulls.
fn pick(
    assumptions: &DataFrame,
    hops: &DataFrame,
    name: &str,
    cols: (Option<&str>, Option<&str>),
    rows: &[Src],
) -> PolarsResult<Column> {
    let (a, h) = cols;
    let (mut ia, mut ih) = (Vec::new(), Vec::new());
    // Each row's place: (a root's, its index among the roots' rows), else the hops'.
    let at: Vec<(bool, IdxSize)> = rows
        .iter()
        .map(|r| match *r {
            Src::Root(i) => {
                ia.push(i);
                (true, ia.len() as IdxSize - 1)
            }
            Src::Hop(i) => {
                ih.push(i);
                (false, ih.len() as IdxSize - 1)
            }
        })
        .collect();
    let dtype = match (a, h) {
        (Some(c), _) => assumptions.column(c)?.dtype().clone(),
        (None, Some(c)) => hops.column(c)?.dtype().clone(),
        (None, None) => unreachable!("a column has a source"),
    };
    let part = |table: &DataFrame, col: Option<&str>, idx: Vec<IdxSize>| match col {
        Some(c) => table.column(c)?.take(&IdxCa::from_vec("".into(), idx)),
        None => Ok(Column::full_null("".into(), idx.len(), &dtype)),
    };
    let mut both = part(assumptions, a, ia)?.as_materialized_series().clone();
    let roots = both.len() as IdxSize;
    both.append(part(hops, h, ih)?.as_materialized_series())?;
    // Two chunks, made one so that the gather below shares their strings.
    let both = both.rechunk();
    let perm = IdxCa::from_iter_values(
        "".into(),
        at.iter().map(|&(root, i)| if root { i } else { roots + i }),
    );
    Ok(both.take(&perm)?.with_name(name.into()).into_column())
}
