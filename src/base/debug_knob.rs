//! Numbers tests turn down so that small trails cross the seams that only large inputs reach
//! (slices, spilled files, memory budgets). Read from the environment in debug builds only: a
//! release build always uses its default, whatever the environment says.

/// `var` as a number in a debug build where it is set and reads as one; `default` otherwise.
pub fn number(var: &str, default: usize) -> usize {
    match std::env::var(var) {
        Ok(n) if cfg!(debug_assertions) => n.parse().unwrap_or(default),
        _ => default,
    }
}
