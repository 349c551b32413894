//! What a command needs from whoever runs it, besides its options.

use crate::analyzer::notice::Notice;

/// What a command needs from whoever runs it, besides its options.
pub struct Ui<'a> {
    /// Draw progress bars on stderr (a terminal is watching).
    pub progress: bool,
    /// Where a Ctrl-C during a fetch is delivered.
    pub interrupt: &'a crate::analyzer::acquire::Interrupt,
    /// Where each notice goes.
    pub tell: &'a mut dyn FnMut(Notice),
}
