//! `timeline`: which entity a timeline follows, as the one-row `timeline_filter` table that
//! `queries/timeline.sql` reads (unset columns are null).

use polars::prelude::*;

/// Exactly one of these is set by the command line.
#[derive(Debug, Clone, Default)]
pub struct Entity {
    pub instance: Option<String>,
    pub session_name: Option<String>,
    pub access_key_id: Option<String>,
    pub sub: Option<String>,
}

impl Entity {
    /// The `timeline_filter` table.
    pub fn frame(&self) -> DataFrame {
        df!(
            "instance" => [self.instance.as_deref()],
            "session_name" => [self.session_name.as_deref()],
            "access_key_id" => [self.access_key_id.as_deref()],
            "sub" => [self.sub.as_deref()],
        )
        .expect("four one-row columns")
    }
}
