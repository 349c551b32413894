//! A memory ceiling for the whole process. polars has no memory limit of its own, and a query
//! such as a large cross join would otherwise run until the allocator fails and Rust aborts the
//! process (exit 134) without a word. The binary installs [`Capped`] as its global allocator:
//! it counts live heap bytes, and an allocation that would pass the ceiling ends the run at once
//! with one clear line and exit status 1. Outputs are written atomically, so nothing half-written
//! is left behind, and a scheduled run's state does not advance.

use std::alloc::{GlobalAlloc, Layout};
use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tikv_jemallocator::Jemalloc as Heap;

/// jemalloc (see [`_rjem_malloc_conf`]), counted and capped.
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

    /// `size` more bytes live, and the peak raised to them.
    fn took(&self, size: usize) {
        let now = self.used.fetch_add(size, Ordering::Relaxed) + size;
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

// SAFETY: every call is passed to jemalloc with the same arguments; the counter and the
// ceiling only decide whether to end the process first.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.admit(layout.size());
        let p = unsafe { Heap.alloc(layout) };
        if !p.is_null() {
            self.took(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.admit(layout.size());
        let p = unsafe { Heap.alloc_zeroed(layout) };
        if !p.is_null() {
            self.took(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { Heap.dealloc(ptr, layout) };
        self.used.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.admit(new_size.saturating_sub(layout.size()));
        let p = unsafe { Heap.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            self.took(new_size);
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

/// jemalloc's settings, unless `_RJEM_MALLOC_CONF` (read at start) says otherwise: a
/// background thread returns pages freed for a second (`dirty_decay_ms`) to the system at once
/// (`muzzy_decay_ms:0`), instead of ten seconds of each by default. On 2026-12-07, `report` over
/// a dataset of 30M events with 988 MiB of live heap peaked at 1,293 MiB as jemalloc comes,
/// 1,069 MiB so, and 1,001 MiB returning every freed page at once, in 63 s instead of 39 s.
/// One arena (`narenas:1`) where jemalloc makes four a core: the threads that parse and decode
/// in parallel free into each other's arenas, whose pages then stay half used. `report` over
/// the JSON at 30M (906 MiB live) peaked at 1,013-1,017 MiB with one arena (three runs) against
/// 1,025-1,082 MiB with eight (four runs), in the same time (2026-12-08).
#[allow(non_upper_case_globals)]
#[unsafe(no_mangle)]
pub static _rjem_malloc_conf: Conf =
    Conf(c"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,narenas:1".as_ptr());

/// A C string jemalloc reads as `const char *`: one pointer wide.
#[repr(transparent)]
pub struct Conf(*const std::ffi::c_char);

// SAFETY: it points at a string literal, never written.
unsafe impl Sync for Conf {}

/// Return the pages jemalloc holds free to the system now, not a second later, and those
/// glibc's malloc holds (C code still uses it). Called between the phases of a run (the calls
/// read, the tables built, the queries run), whose freed memory the next would otherwise sit
/// beside.
pub fn give_back() {
    // MALLCTL_ARENAS_ALL: every arena.
    // SAFETY: purging reads and writes nothing through the (null) pointers given.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            c"arena.4096.purge".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory malloc holds as free; it touches no live block.
    unsafe {
        libc::malloc_trim(0);
    }
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

    /// What jemalloc was started with: `_rjem_malloc_conf`'s settings, unless the environment
    /// overrides them.
    #[test]
    fn jemalloc_runs_on_the_settings_given_it() {
        if std::env::var_os("_RJEM_MALLOC_CONF").is_some() {
            return;
        }
        fn read<T: Default>(name: &std::ffi::CStr) -> T {
            let mut value = T::default();
            let mut len = std::mem::size_of::<T>();
            // SAFETY: `value` is as wide as the option jemalloc writes into it.
            let rc = unsafe {
                tikv_jemalloc_sys::mallctl(
                    name.as_ptr(),
                    (&raw mut value).cast(),
                    &mut len,
                    std::ptr::null_mut(),
                    0,
                )
            };
            assert_eq!(rc, 0, "{name:?}");
            value
        }
        // Something allocated through jemalloc first, so that it has read its settings.
        // SAFETY: freed with the layout it was allocated with.
        unsafe {
            let layout = Layout::new::<u64>();
            Heap.dealloc(Heap.alloc(layout), layout);
        }
        assert!(read::<bool>(c"opt.background_thread"));
        assert_eq!(read::<isize>(c"opt.dirty_decay_ms"), 1000);
        assert_eq!(read::<isize>(c"opt.muzzy_decay_ms"), 0);
        assert_eq!(read::<u32>(c"opt.narenas"), 1);
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
}
