//! Progress on a terminal: a bar over the files being read, and a spinner over a LookupEvents
//! fetch. Shown only when the caller asks (the binary asks when stderr is a terminal).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::analyzer::source::api::Progress;

/// A bar counting files, with `label` before it; nothing is drawn when progress is not wanted.
pub struct FilesBar(Option<ProgressBar>);

pub fn files_bar(show: bool, label: &str) -> FilesBar {
    FilesBar(show.then(|| {
        let pb = ProgressBar::new(0);
        let template =
            format!("{{spinner}} {label}reading {{pos}}/{{len}} files {{wide_bar}} {{eta}}");
        pb.set_style(ProgressStyle::with_template(&template).expect("static template"));
        pb
    }))
}

impl FilesBar {
    /// What library code counts files into.
    pub fn count(&self) -> Option<&dyn crate::analyzer::notice::FileCount> {
        self.0.as_ref().map(|b| b as _)
    }

    /// Clear the bar before the command's own lines.
    pub fn finish(&self) {
        if let Some(pb) = &self.0 {
            pb.finish_and_clear();
        }
    }
}

impl crate::analyzer::notice::FileCount for ProgressBar {
    fn set_total(&self, n: u64) {
        self.set_length(n);
    }
    fn one_done(&self) {
        self.inc(1);
    }
}

/// A spinner redrawn from `progress` every 200 ms until dropped.
pub struct FetchSpinner {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FetchSpinner {
    pub fn start(show: bool, progress: Arc<Progress>) -> FetchSpinner {
        let done = Arc::new(AtomicBool::new(false));
        let thread = show.then(|| {
            let done = done.clone();
            std::thread::spawn(move || {
                let pb = ProgressBar::new_spinner();
                let started = Instant::now();
                while !done.load(Ordering::SeqCst) {
                    pb.set_message(progress.status(started.elapsed()));
                    pb.tick();
                    std::thread::sleep(Duration::from_millis(200));
                }
                pb.finish_and_clear();
            })
        });
        FetchSpinner { done, thread }
    }
}

impl Drop for FetchSpinner {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
