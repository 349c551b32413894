//! What a command needs from whoever runs it, besides its options.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use crate::analyzer::acquire::Interrupt;
use crate::analyzer::notice::Notice;
use crate::base::exit;

/// What a command needs from whoever runs it, besides its options.
pub struct Ui<'a> {
    /// Draw progress bars on stderr (a terminal is watching).
    pub progress: bool,
    /// Where a Ctrl-C during a fetch is delivered.
    pub interrupt: &'a crate::analyzer::acquire::Interrupt,
    /// Where each notice goes.
    pub tell: &'a mut dyn FnMut(Notice),
}

/// The terminal's width in cells when stdout is a terminal.
pub fn terminal_width() -> Option<usize> {
    let out = std::io::stdout();
    if !out.is_terminal() {
        return None;
    }
    terminal_size::terminal_size_of(&out).map(|(w, _)| usize::from(w.0))
}

/// Notices to stderr (`--quiet` keeps only problems), progress on a terminal, and while an
/// API fetch may run, a Ctrl-C handler: the first Ctrl-C stops the fetch cleanly, any other
/// ends the process as Ctrl-C always does.
pub fn with_ui<T>(quiet: bool, from_api: bool, f: impl FnOnce(Ui<'_>) -> T) -> T {
    let interrupt = Arc::new(Interrupt::default());
    if from_api {
        let interrupt = interrupt.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a signal runtime");
            rt.block_on(async {
                while tokio::signal::ctrl_c().await.is_ok() {
                    if !interrupt.request() {
                        std::process::exit(exit::INTERRUPTED);
                    }
                }
            });
        });
    }
    let mut tell = |n: Notice| {
        let line = match n {
            Notice::Problem(s) => s,
            Notice::Info(_) if quiet => return,
            Notice::Info(s) => s,
        };
        let _ = writeln!(std::io::stderr(), "janus-audit: {line}");
    };
    f(Ui {
        progress: !quiet && std::io::stderr().is_terminal(),
        interrupt: &interrupt,
        tell: &mut tell,
    })
}
