//! Is the host's `silo-init` usable as a container's PID 1? It is bind-mounted into images that
//! may have no dynamic loader or libc (busybox) or another libc (musl), so it must be a static
//! ELF executable: one without a `PT_INTERP` program header.
//!
//! The check reads the 64-byte ELF header and the program headers by hand (about 20 lines)
//! rather than pulling in an object-file crate for one bit of information.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Why the init binary cannot be used; names the path and how to fix it.
#[derive(Debug, thiserror::Error)]
#[error("init binary {path}: {problem}; build it with scripts/build-init.sh or set init-path in daemon.json (or run the container with --init=false)")]
pub struct InitBinaryError {
    /// The path checked.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: InitProblem,
}

/// What is wrong with an init binary.
#[derive(Debug)]
pub enum InitProblem {
    /// It cannot be opened or read (missing, permissions).
    Unreadable(io::Error),
    /// It is not a regular file with an execute bit.
    NotExecutable,
    /// It is not a 64-bit little-endian ELF executable.
    NotElf,
    /// It needs a program interpreter (dynamic loader), which the image may lack.
    Dynamic,
}

impl fmt::Display for InitProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitProblem::Unreadable(e) => write!(f, "{e}"),
            InitProblem::NotExecutable => f.write_str("not an executable file"),
            InitProblem::NotElf => f.write_str("not a 64-bit little-endian ELF executable"),
            InitProblem::Dynamic => {
                f.write_str("dynamically linked (it must be static to run in any image)")
            }
        }
    }
}

const PT_INTERP: u32 = 3;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;

/// Checks that `path` is an executable, statically linked ELF file.
pub fn check_init_binary(path: &Path) -> Result<(), InitBinaryError> {
    let fail = |problem| InitBinaryError {
        path: path.to_path_buf(),
        problem,
    };
    let mut file = File::open(path).map_err(|e| fail(InitProblem::Unreadable(e)))?;
    let meta = file
        .metadata()
        .map_err(|e| fail(InitProblem::Unreadable(e)))?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(fail(InitProblem::NotExecutable));
    }
    match has_interpreter(&mut file) {
        Ok(Some(false)) => Ok(()),
        Ok(Some(true)) => Err(fail(InitProblem::Dynamic)),
        Ok(None) => Err(fail(InitProblem::NotElf)),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(fail(InitProblem::NotElf)),
        Err(e) => Err(fail(InitProblem::Unreadable(e))),
    }
}

/// `Some(has PT_INTERP)` for a 64-bit little-endian ELF executable, `None` for anything else.
fn has_interpreter(file: &mut File) -> io::Result<Option<bool>> {
    let mut h = [0u8; 64];
    file.read_exact(&mut h)?;
    let u16_at = |o: usize| u16::from_le_bytes([h[o], h[o + 1]]);
    // Magic, ELFCLASS64, ELFDATA2LSB; then e_type, e_phoff, e_phentsize, e_phnum.
    if h[..4] != *b"\x7fELF" || h[4] != 2 || h[5] != 1 {
        return Ok(None);
    }
    if !matches!(u16_at(0x10), ET_EXEC | ET_DYN) {
        return Ok(None);
    }
    let mut phoff = [0u8; 8];
    phoff.copy_from_slice(&h[0x20..0x28]);
    let (phentsize, phnum) = (usize::from(u16_at(0x36)), usize::from(u16_at(0x38)));
    if phentsize < 4 || phnum == 0 {
        return Ok(None);
    }
    let mut table = vec![0u8; phentsize * phnum];
    file.seek(SeekFrom::Start(u64::from_le_bytes(phoff)))?;
    file.read_exact(&mut table)?;
    Ok(Some(table.chunks_exact(phentsize).any(|ph| {
        u32::from_le_bytes([ph[0], ph[1], ph[2], ph[3]]) == PT_INTERP
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_missing_and_non_elf_files_are_refused_with_the_path() {
        // Every Rust test binary is dynamically linked against the host's libc.
        let me = std::env::current_exe().unwrap();
        let err = check_init_binary(&me).unwrap_err();
        assert!(matches!(err.problem, InitProblem::Dynamic), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(&me.display().to_string()), "{msg}");
        assert!(msg.contains("scripts/build-init.sh"), "{msg}");

        let err = check_init_binary(Path::new("/no/such/silo-init")).unwrap_err();
        assert!(matches!(err.problem, InitProblem::Unreadable(_)), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("init.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = check_init_binary(&script).unwrap_err();
        assert!(matches!(err.problem, InitProblem::NotElf), "{err}");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = check_init_binary(&script).unwrap_err();
        assert!(matches!(err.problem, InitProblem::NotExecutable), "{err}");
    }

    #[test]
    fn a_static_binary_passes() {
        // busybox-static, when installed (the compute integration tests need it anyway).
        let busybox = Path::new("/bin/busybox");
        if busybox.exists() {
            check_init_binary(busybox).unwrap();
        }
    }
}
