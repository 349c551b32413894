//! What the credential commands write: the answer on stdout, an error line on stderr.

use std::io::Write;

use crate::base::exit;

/// One error line on stderr, and the status that goes with it.
pub fn fail(message: impl std::fmt::Display, code: i32) -> i32 {
    let _ = std::io::stderr().write_all(exit::error_line(message).as_bytes());
    code
}

pub fn print_line(text: &str) -> std::io::Result<()> {
    // One write with its newline: stdout flushes at each newline, so text and newline written
    // apart were two writes, and a reader that had what it needed (`serve --print-env`'s two
    // exports) and closed the pipe in between made the second fail, and serve exit.
    let mut out = std::io::stdout().lock();
    out.write_all(format!("{text}\n").as_bytes())?;
    out.flush()
}
