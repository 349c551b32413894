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

/// Notices to stderr (`--quiet` keeps only problems), progress on a terminal, and handlers for
/// Ctrl-C and SIGTERM. While an API fetch may run, the first Ctrl-C stops the fetch cleanly;
/// otherwise either signal ends the process (exit 130 or 143, as a shell reports a process the
/// signal killed), once the calls a report kept on disk are removed (`load::spill_dirs`).
pub fn with_ui<T>(quiet: bool, from_api: bool, f: impl FnOnce(Ui<'_>) -> T) -> T {
    let interrupt = Arc::new(Interrupt::default());
    let handler = interrupt.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a signal runtime");
        rt.block_on(on_signals(from_api, &handler));
    });
    let mut tell = |n: Notice| {
        let line = match n {
            Notice::Problem(s) => s,
            Notice::Info(_) if quiet => return,
            Notice::Info(s) => s,
        };
        let _ = writeln!(std::io::stderr(), "janus-audit: {line}");
    };
    let out = f(Ui {
        progress: !quiet && std::io::stderr().is_terminal(),
        interrupt: &interrupt,
        tell: &mut tell,
    });
    // A command can fail because a signal's handler is removing its spill; the handler then
    // ends the process with the signal's exit code, and the failure is not to be said over it.
    if crate::analyzer::load::spill_dirs::IN_PROGRESS.ending() {
        loop {
            std::thread::park();
        }
    }
    out
}

/// Wait for Ctrl-C and SIGTERM and act on them (see [`with_ui`]).
async fn on_signals(from_api: bool, interrupt: &Interrupt) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    loop {
        let code = tokio::select! {
            _ = int.recv() => exit::INTERRUPTED,
            _ = term.recv() => exit::TERMINATED,
        };
        if code == exit::INTERRUPTED && from_api && interrupt.request() {
            continue;
        }
        crate::analyzer::load::spill_dirs::IN_PROGRESS.remove_all();
        std::process::exit(code);
    }
}
