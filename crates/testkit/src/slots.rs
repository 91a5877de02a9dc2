//! Host-wide resources shared by parallel tests (nextest runs each test in its own process):
//! numbered slots claimed with `flock` on a file in the temp dir, held until dropped. A
//! crashed test's lock dies with its process, so slots never leak.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;

/// One claimed slot of a named kind.
#[derive(Debug)]
pub struct Slot {
    pub index: usize,
    _lock: File,
}

/// Claims a free slot among `count` of `kind`, starting at a place that differs per process
/// so parallel claimers rarely collide; `None` when all are taken.
pub fn claim(kind: &str, count: usize) -> Option<Slot> {
    let start = std::process::id() as usize % count;
    (0..count).map(|i| (start + i) % count).find_map(|index| {
        let path = std::env::temp_dir().join(format!("silo-slot-{kind}-{index}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .ok()?;
        // SAFETY: flock(2) on a descriptor we own and keep open for the lock's lifetime.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        (rc == 0).then_some(Slot { index, _lock: file })
    })
}
