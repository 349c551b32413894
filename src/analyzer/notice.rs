//! What a command has to say while it works. Library code never prints: it hands each line to
//! the caller, which decides where it goes (the binary: stderr, with `--quiet` dropping `Info`).

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Something was not read, not fetched or not done: always shown.
    Problem(String),
    /// Progress and summaries: hidden by `--quiet`.
    Info(String),
}

/// Files done, for whoever shows progress: library code counts, only a command draws.
pub trait FileCount: Sync {
    /// `n` files are to be read in all.
    fn set_total(&self, n: u64);
    /// One more file was read.
    fn one_done(&self);
}
