//! Where the server's lines go.

use std::sync::Arc;

/// One line per request, refresh and failure; never a secret.
pub type Log = Arc<dyn Fn(String) + Send + Sync>;
