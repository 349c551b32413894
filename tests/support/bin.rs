//! The janus-audit binary, run from the repository root with the caller's environment (but no
//! query override), and what it said.
#![allow(dead_code)]

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(args: &[&str]) -> Run {
    run_with(args, &[])
}

/// As [`run`], with these variables set too.
pub fn run_with(args: &[&str], vars: &[(&str, &str)]) -> Run {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_janus-audit"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("JANUS_AUDIT_QUERIES")
        .envs(vars.iter().copied())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
