//! The process-isolation backend (`--isolation=process`, the Windows Server container analog):
//! namespaces, cgroups, seccomp and capabilities on the host kernel.
//!
//! The daemon never parents a container. [`ProcessComputeService::create`] assembles the rootfs
//! (an overlay per container, [`rootfs`]), writes the OCI bundle from the document
//! ([`crate::spec::oci_spec`]) and starts one detached `silo-shim` per container, which creates
//! the container through youki's libcontainer, owns its stdio and log, reaps it and records its
//! exit. Every later operation is a request to that shim over its socket, so the daemon can be
//! restarted at any time: [`crate::ComputeService::open`] reconnects, or, when the shim is gone,
//! reads the exit record it left or cleans up after it.
//!
//! Streams (shim protocol v2): `attach` connects to the shim's `attach.sock` (Docker stdcopy
//! frames; the json-file log stays the complete record), `terminal: true` gives the first
//! process a pty owned by the shim, `resize_console` sizes it; pause/resume use the cgroup
//! freezer; `create_process` (exec, in `process/exec.rs`) is started by the shim through a
//! single-threaded helper and re-parented to it. Caller-supplied stdio paths are refused
//! (NotImplemented): the shim owns the streams.
//!
//! `init: true` runs the static `silo-init` (crates/init, built by `scripts/build-init.sh`) as
//! the container's PID 1, bind-mounted read-only at [`crate::spec::INIT_PATH`]; a missing or
//! dynamically linked init fails the create ([`check_init_binary`]).
//!
//! A document with a user namespace gets its layers through idmapped bind mounts ([`idmap`]),
//! so the remapped root owns its root filesystem without any layer being copied or chowned.

mod backend;
mod cgroup;
mod exec;
mod idmap;
mod init_binary;
pub mod rootfs;
mod shared;
mod shim;
mod system;

pub use backend::ProcessComputeService;
pub use cgroup::CgroupDirs;
pub use init_binary::{check_init_binary, InitBinaryError, InitProblem};
pub use system::ProcessComputeSystem;
