//! What a command has to say while it works. Library code never prints: it hands each line to
//! the caller, which decides where it goes (the binary: stderr, with `--quiet` dropping `Info`).

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Something was not read, not fetched or not done: always shown.
    Problem(String),
    /// Progress and summaries: hidden by `--quiet`.
    Info(String),
}

/// What a command needs from whoever runs it, besides its options.
pub struct Ui<'a> {
    /// Draw progress bars on stderr (a terminal is watching).
    pub progress: bool,
    /// Where a Ctrl-C during a fetch is delivered.
    pub interrupt: &'a crate::analyzer::acquire::Interrupt,
    /// Where each notice goes.
    pub tell: &'a mut dyn FnMut(Notice),
}
