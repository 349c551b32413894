//! Settings that come from the environment.

/// The first of `names` that is set to something non-empty.
pub fn first_env(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
}
