//! `<state>/exit.json`: the container's exit record, on disk before anyone is told.
//!
//! The shim writes it before it answers any `State` or `Wait` with the exit, so the record
//! survives a shim that dies right after, and a daemon that finds a dead shim can still read how
//! its container ended. Written to a temporary file and renamed, so readers never see half of it.

use std::fs;
use std::io;
use std::path::Path;

use crate::protocol::ExitRecord;
use crate::EXIT_FILE;

/// Writes `record` to `<dir>/exit.json` atomically (write a temporary file, then rename).
pub fn write_exit(dir: &Path, record: &ExitRecord) -> io::Result<()> {
    let tmp = dir.join(format!(".{EXIT_FILE}.tmp"));
    let data = serde_json::to_vec(record).map_err(io::Error::other)?;
    let annotate = |op: &str, p: &Path, e: io::Error| {
        io::Error::new(e.kind(), format!("{op} {}: {e}", p.display()))
    };
    fs::write(&tmp, data).map_err(|e| annotate("write", &tmp, e))?;
    let dest = dir.join(EXIT_FILE);
    fs::rename(&tmp, &dest).map_err(|e| annotate("rename to", &dest, e))
}

/// Reads `<dir>/exit.json`; `Ok(None)` if the container has not exited (or no shim saw it).
pub fn read_exit(dir: &Path) -> io::Result<Option<ExitRecord>> {
    let path = dir.join(EXIT_FILE);
    match fs::read(&path) {
        Ok(data) => serde_json::from_slice(&data).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("read {}: {e}", path.display()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_record_round_trips_atomically() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_exit(dir.path()).unwrap(), None);
        let rec = ExitRecord {
            code: 3,
            signal: None,
            exited_at: chrono::Utc::now(),
            oom_killed: false,
        };
        write_exit(dir.path(), &rec).unwrap();
        assert_eq!(read_exit(dir.path()).unwrap(), Some(rec));
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["exit.json"]);
        let text = fs::read_to_string(dir.path().join("exit.json")).unwrap();
        assert!(text.starts_with(r#"{"code":3,"exited_at":"#), "{text}");
    }
}
