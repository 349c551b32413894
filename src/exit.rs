//! Process exit statuses. Documented in the README; scripts depend on them, so never renumber.

/// Everything was read and the command did what was asked.
pub const OK: i32 = 0;
/// Nothing useful could be done: no input, unwritable output, a failed query, a refused STS call.
pub const ERROR: i32 = 1;
/// The command line was wrong (clap's own status for usage errors).
pub const USAGE: i32 = 2;
/// The report was written, but some input could not be read; each such file was named on stderr.
pub const INCOMPLETE: i32 = 3;
