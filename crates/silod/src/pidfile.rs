//! The pid file: refuses a second daemon on the same pid file, removed on clean exit.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// A pid file owned by this process; removed when dropped.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Writes our pid to `path`, unless a live process already owns it.
    pub fn create(path: &Path) -> Result<Self> {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(pid) = text.trim().parse::<i32>() {
                if pid != std::process::id() as i32 && process_alive(pid) {
                    bail!(
                        "pid file {} names a running process ({pid}): is another silod running?",
                        path.display()
                    );
                }
            }
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        }
        std::fs::write(path, format!("{}\n", std::process::id()))
            .with_context(|| format!("write pid file {}", path.display()))?;
        Ok(PidFile {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn process_alive(pid: i32) -> bool {
    // /proc/<pid> exists for live processes and zombies alike; a zombie cannot own the file.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit_once(") ")
                .map(|(_, rest)| !rest.starts_with('Z'))
                .unwrap_or(false)
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_live_owner_and_takes_over_a_stale_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("silod.pid");
        // pid 1 is always alive.
        std::fs::write(&path, "1\n").unwrap();
        assert!(PidFile::create(&path).is_err());
        std::fs::write(&path, "999999999\n").unwrap();
        let pid = PidFile::create(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().trim(),
            std::process::id().to_string()
        );
        drop(pid);
        assert!(!path.exists());
    }
}
