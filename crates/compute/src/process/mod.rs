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
//! Not yet served (they answer NotImplemented naming the operation, never a silent no-op):
//! pause/resume, exec (`create_process`), `modify`, terminals, caller-supplied stdio paths and
//! `init: true`, because the shim protocol v1 has no request for them or, for init, because
//! `silo-shim init` is not yet a static binary that any image can run.

mod backend;
mod cgroup;
pub mod rootfs;
mod shared;
mod shim;
mod system;

pub use backend::ProcessComputeService;
pub use cgroup::CgroupDirs;
pub use system::ProcessComputeSystem;
