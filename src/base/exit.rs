//! Process exit statuses. Documented in the README and in `--help` (generated from [`TABLE`]);
//! scripts depend on them, so never renumber.

/// Everything was read and the command did what was asked.
pub const OK: i32 = 0;
/// Nothing useful could be done: no input, unwritable output, a failed query, a refused STS call.
pub const ERROR: i32 = 1;
/// The command line was wrong (the argument parser's own status for usage errors).
pub const USAGE: i32 = 2;
/// The report was written, but some input could not be read; each such file was named on stderr.
pub const INCOMPLETE: i32 = 3;
/// `findings --fail-on`: findings at or above the given severity exist.
pub const FINDINGS: i32 = 4;
/// `credentials`: no Google ID token could be had (metadata server down or slow, gcloud missing,
/// unreadable token file, malformed token). Each source's reason is on stderr.
pub const NO_TOKEN: i32 = 5;
/// `credentials`: STS refused (AccessDenied, InvalidIdentityToken, …). Not worth retrying as is.
pub const STS_REFUSED: i32 = 6;
/// `credentials`: STS unreachable, throttling or failing after bounded retries. Retry later.
pub const STS_UNAVAILABLE: i32 = 7;
/// `verify` (and `--verify` on a report): a log file was modified or deleted, or a digest's
/// signature failed, its chain is broken, or a digest is missing. The files are named on stderr.
pub const TAMPERED: i32 = 8;
/// `verify` (and `--verify`): nothing failed, but part of the input is not proven: log files no
/// digest lists, time no digest covers (validation was off), or digests without signatures.
pub const NOT_COVERED: i32 = 9;
/// Interrupted (Ctrl-C). A fetch from the LookupEvents API keeps what was fetched in the store
/// and the next run resumes from it. 128 + SIGINT, as shells report it.
pub const INTERRUPTED: i32 = 130;
/// Ended by SIGTERM (a scheduler's timeout, `kill`): 128 + SIGTERM, as shells report it.
pub const TERMINATED: i32 = 143;

/// When several statuses apply to one run, the first of these wins (docs/STABILITY.md): a
/// matched `--fail-on` gate, then tampering, skipped input, unproven input, success. A status
/// not listed here (an error) wins over all of them.
const PRECEDENCE: [i32; 5] = [FINDINGS, TAMPERED, INCOMPLETE, NOT_COVERED, OK];

/// The status a run exits with when `a` and `b` both apply (for any order of the two).
pub fn most_severe(a: i32, b: i32) -> i32 {
    let rank = |c: i32| PRECEDENCE.iter().position(|p| *p == c).map_or(0, |i| i + 1);
    if rank(b) < rank(a) { b } else { a }
}

/// Every status with the short meaning `--help` shows.
pub const TABLE: &[(i32, &str)] = &[
    (OK, "success"),
    (ERROR, "error"),
    (USAGE, "usage error"),
    (
        INCOMPLETE,
        "report written but some input was skipped (named on stderr)",
    ),
    (FINDINGS, "--fail-on: findings at or above that severity"),
    (NO_TOKEN, "no ID token"),
    (STS_REFUSED, "STS refused"),
    (STS_UNAVAILABLE, "STS unavailable"),
    (
        TAMPERED,
        "verify: log files modified or deleted, or digests invalid",
    ),
    (
        NOT_COVERED,
        "verify: part of the input not covered by valid digests",
    ),
    (INTERRUPTED, "interrupted (Ctrl-C; --from-api resumes)"),
    (TERMINATED, "ended by SIGTERM"),
];

/// The `Exit status:` paragraph of `--help`.
pub fn help() -> String {
    let items: Vec<String> = TABLE.iter().map(|(c, m)| format!("{c} {m}")).collect();
    format!("Exit status: {}. See the README.", items.join("; "))
}

/// The one line a command ends with when it fails (on stderr).
pub fn error_line(message: impl std::fmt::Display) -> String {
    format!("janus-audit: error: {message}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_order_wins_whatever_order_the_statuses_come_in() {
        let order = [ERROR, FINDINGS, TAMPERED, INCOMPLETE, NOT_COVERED, OK];
        for (i, a) in order.iter().enumerate() {
            for b in &order[i..] {
                assert_eq!(most_severe(*a, *b), *a, "{a} over {b}");
                assert_eq!(most_severe(*b, *a), *a, "{a} over {b}, other way round");
            }
        }
    }
}
