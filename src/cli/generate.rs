//! `janus-audit man` and `janus-audit completions`: the manual pages and shell completions,
//! generated from the clap definitions, so that they can never disagree with `--help`.

use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub enum Generate {
    /// The top-level page on stdout, or every page (one per subcommand) into a directory.
    Man {
        dir: Option<PathBuf>,
    },
    Completions(clap_complete::Shell),
}

/// `cmd` is the whole command line's definition (`Cli::command()`).
pub fn write(what: &Generate, mut cmd: clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    match what {
        Generate::Man { dir: None } => clap_mangen::Man::new(cmd).render(out),
        Generate::Man { dir: Some(dir) } => {
            std::fs::create_dir_all(dir)?;
            clap_mangen::generate_to(cmd, dir)
        }
        Generate::Completions(shell) => {
            clap_complete::generate(*shell, &mut cmd, "janus-audit", out);
            Ok(())
        }
    }
}
