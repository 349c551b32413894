//! Value parsers both halves' arguments share.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};

/// A value the command line gave that the library cannot use: a usage error (exit 2), found
/// after the argument parser's own checks.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A value parser over a library enum's named values (each with its help, if any).
pub fn choice<T: Copy + Send + Sync + 'static>(
    items: Vec<(T, &'static str, &'static str)>,
) -> impl TypedValueParser<Value = T> {
    let values = items.iter().map(|(_, name, help)| match *help {
        "" => PossibleValue::new(*name),
        help => PossibleValue::new(*name).help(help),
    });
    PossibleValuesParser::new(values).map(move |s| {
        items
            .iter()
            .find(|(_, name, _)| *name == s)
            .expect("clap checked the value")
            .0
    })
}
