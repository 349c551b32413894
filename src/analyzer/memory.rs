//! A memory ceiling for the whole process. polars has no memory limit of its own, and a query
//! such as a large cross join would otherwise run until the allocator fails and Rust aborts the
//! process (exit 134) without a word. The binary installs [`Capped`] as its global allocator:
//! it counts live heap bytes, and an allocation that would pass the ceiling ends the run at once
//! with one clear line and exit status 1. Outputs are written atomically, so nothing half-written
//! is left behind, and a scheduled run's state does not advance.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The system allocator, counted and capped.
pub struct Capped {
    used: AtomicUsize,
    /// The most `used` has been.
    peak: AtomicUsize,
    /// 0: no ceiling (the default until [`Capped::set_limit`]).
    limit: AtomicUsize,
    /// Once the ceiling is hit, everything is allowed: the exit path may allocate.
    dying: AtomicBool,
}

/// The line printed when the ceiling is hit, made before it can be needed (printing it then
/// must not allocate).
static MESSAGE: OnceLock<String> = OnceLock::new();

impl Capped {
    pub const fn new() -> Capped {
        Capped {
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            limit: AtomicUsize::new(0),
            dying: AtomicBool::new(false),
        }
    }

    /// Cap live heap bytes at `bytes`.
    pub fn set_limit(&self, bytes: u64) {
        let _ = MESSAGE.set(format!(
            "janus-audit: error: out of memory: this run needed more than --max-memory ({}); \
             narrow --since/--until or the query, or raise --max-memory\n",
            human(bytes)
        ));
        self.limit.store(
            usize::try_from(bytes).unwrap_or(usize::MAX),
            Ordering::Relaxed,
        );
    }

    /// Live heap bytes now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// The most live heap bytes there have been.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    fn grew(&self, now: usize) {
        if now > self.peak.load(Ordering::Relaxed) {
            self.peak.fetch_max(now, Ordering::Relaxed);
        }
    }

    fn admit(&self, more: usize) {
        let limit = self.limit.load(Ordering::Relaxed);
        if limit != 0
            && self.used.load(Ordering::Relaxed).saturating_add(more) > limit
            && !self.dying.swap(true, Ordering::SeqCst)
        {
            let message = MESSAGE
                .get()
                .map_or("janus-audit: error: out of memory\n", |m| m);
            let _ = std::io::stderr().write_all(message.as_bytes());
            std::process::exit(crate::base::exit::ERROR);
        }
    }
}

impl Default for Capped {
    fn default() -> Self {
        Capped::new()
    }
}

// SAFETY: every call is passed to `System` with the same arguments; the counter and the
// ceiling only decide whether to end the process first.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.admit(layout.size());
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let before = self.used.fetch_add(layout.size(), Ordering::Relaxed);
            self.grew(before + layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.admit(layout.size());
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            let before = self.used.fetch_add(layout.size(), Ordering::Relaxed);
            self.grew(before + layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        self.used.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.admit(new_size.saturating_sub(layout.size()));
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            let before = self.used.fetch_add(new_size, Ordering::Relaxed);
            self.grew(before + new_size);
            self.used.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

/// The default ceiling: three quarters of the memory this process may use (the machine's, or
/// its cgroup's limit when lower), leaving room for the page cache and the rest of the system.
pub fn default_limit() -> Option<u64> {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    });
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok());
    let least = match (total, cgroup) {
        (Some(t), Some(c)) => t.min(c),
        (t, c) => t.or(c)?,
    };
    Some(least / 4 * 3)
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Return the free pages at the top of the heap and in the arenas to the system. Parsing on
/// every core leaves glibc's per-thread arenas holding freed buffers, and what is allocated
/// after (the tables' last steps, the query) lands beside them: peak RSS grew by 10% with the
/// same peak heap. Called once the tables are built, between the two phases.
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory malloc holds as free; it touches no live block.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// At most one malloc arena per core, unless `GLIBC_TUNABLES` sets the number. Called first
/// thing, before any thread starts.
///
/// glibc gives a thread that finds the arenas busy a new one, up to eight per core, and memory
/// freed in one arena serves only that arena's threads: the tables are built on the rayon pool
/// and the queries run on polars' own, so each phase's freed memory sat in arenas the next one
/// did not use. With one arena per core, on 2026-12-06 (2 cores, 10M events over the dataset),
/// peak RSS fell from 820 to 661 MiB for `by-instance`, 823 to 667 MiB for `sessions` and 495
/// to 405 MiB for a timeline, in no more time.
pub fn few_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let set = std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("arena_max"));
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if !set {
            // SAFETY: mallopt only changes malloc's settings; called before any other thread.
            unsafe {
                libc::mallopt(libc::M_ARENA_MAX, i32::try_from(cores).unwrap_or(i32::MAX));
            }
        }
    }
}

/// glibc's tunable that backs malloc's heaps with transparent huge pages (glibc 2.35 and later).
///
/// janus-audit does not set it (glibc reads it only at start, so that would take a restart):
/// with the kernel's THP `defrag` at `madvise`, the common default, it did not pay on
/// 2026-12-05 (2 cores): `by-instance` over a dataset at 3M events took 0.69-1.53 s with it and
/// 0.70-0.73 s without, at 30M events 7.4-16.4 s with it (two runs in five spent 11 s in the
/// kernel compacting memory for huge pages) and 7.5-8.1 s without; over 1M events of JSON
/// 1.48-1.80 s with it and 1.49-1.54 s without. A user can set it; `-v` says so.
const HUGE_PAGES: &str = "glibc.malloc.hugetlb";

/// glibc's tunables when they put malloc on transparent huge pages (see [`HUGE_PAGES`]).
pub fn huge_pages() -> Option<String> {
    std::env::var("GLIBC_TUNABLES")
        .ok()
        .filter(|t| huge_pages_setting(t) == Some("1"))
}

/// The value `tunables` (`name=value:name=value…`) gives [`HUGE_PAGES`], if it names it.
fn huge_pages_setting(tunables: &str) -> Option<&str> {
    tunables
        .split(':')
        .find_map(|kv| kv.strip_prefix(HUGE_PAGES)?.strip_prefix('='))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human(512 << 20), "512.0 MiB");
        assert_eq!(human(3 << 30), "3.0 GiB");
        assert!(default_limit().is_some_and(|l| l > 64 << 20));
    }

    #[test]
    fn the_peak_is_the_most_held_at_once_not_the_sum_of_what_was_asked() {
        let capped = Capped::new();
        let (a, b) = (Layout::new::<[u8; 4096]>(), Layout::new::<[u8; 1024]>());
        // SAFETY: each block is freed once, with the layout it was allocated with.
        unsafe {
            let p = capped.alloc(a);
            let q = capped.alloc(b);
            capped.dealloc(p, a);
            let q = capped.realloc(q, b, 2048);
            assert_eq!((capped.used(), capped.peak()), (2048, 4096 + 1024));
            let r = capped.alloc_zeroed(a);
            assert_eq!(capped.peak(), 2048 + 4096);
            capped.dealloc(r, a);
            capped.dealloc(q, Layout::from_size_align(2048, b.align()).unwrap());
        }
        assert_eq!((capped.used(), capped.peak()), (0, 2048 + 4096));
    }

    #[test]
    fn huge_pages_are_on_only_when_the_tunable_says_1() {
        let on = |t: &str| huge_pages_setting(t) == Some("1");
        assert!(on("glibc.malloc.hugetlb=1"));
        assert!(on("glibc.malloc.tcache_count=7:glibc.malloc.hugetlb=1"));
        assert!(!on("glibc.malloc.hugetlb=0"));
        assert!(!on("glibc.malloc.hugetlb=10"));
        assert!(!on(""));
        // Named at all, whatever the value: the user's choice, never changed.
        assert_eq!(huge_pages_setting("glibc.malloc.hugetlb=0"), Some("0"));
        assert_eq!(huge_pages_setting("glibc.malloc.tcache_count=7"), None);
    }
}
