//! [`ProcessComputeService`]: creates, finds and lists process-isolated compute systems.
//!
//! Each system owns `<state_root>/<id>/`, which is both the OCI bundle (`config.json`) and the
//! shim's state directory (socket, json-file log, `exit.json`, runtime state), plus the
//! `document.json` it was created from so that [`ComputeService::open`] can rebuild a handle
//! after a daemon restart. The container's root is an overlay mounted in the document's sandbox
//! directory (see [`super::rootfs`]).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use silo_errdefs::ErrorKind;
use tokio::sync::broadcast;

use super::cgroup::CgroupDirs;
use super::rootfs::{self, RootfsError};
use super::shared::Shared;
use super::shim::{RunIo, ShimPaths};
use super::system::ProcessComputeSystem;
use crate::document::{ComputeSystemDocument, Isolation};
use crate::error::{Cause, ComputeError, Result};
use crate::host::CgroupInfo;
use crate::properties::{PropertyQuery, Stdio, SystemSummary};
use crate::state::{Event, Operation, SystemEvent};
use crate::{BoxFuture, ComputeService, ComputeSystem};

const DOCUMENT_FILE: &str = "document.json";
const CONFIG_FILE: &str = "config.json";
/// `sun_path` is 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;
/// Events kept for slow subscribers before they are told they lagged.
const EVENT_BUFFER: usize = 1024;

/// The process-isolation backend (`--isolation=process`).
#[derive(Debug)]
pub struct ProcessComputeService {
    state_root: PathBuf,
    shim_binary: PathBuf,
    /// The static `silo-init` bind-mounted at [`crate::spec::INIT_PATH`] for `init: true`.
    init_binary: PathBuf,
    cgroups: CgroupInfo,
    events: broadcast::Sender<SystemEvent>,
    /// Live handles, so every `open` of one system shares its memory of how it stopped.
    systems: Mutex<HashMap<String, Weak<Shared>>>,
}

impl ProcessComputeService {
    /// A service keeping per-system state under `state_root` (created if missing), running
    /// containers through the `silo-shim` binary at `shim_binary` and, for documents with
    /// `init: true`, the static `silo-init` at `init_binary` as their PID 1. The init binary is
    /// checked at each such create (see [`super::check_init_binary`]), so installing it later
    /// needs no restart.
    pub fn new(
        state_root: PathBuf,
        shim_binary: PathBuf,
        init_binary: PathBuf,
        cgroups: CgroupInfo,
    ) -> io::Result<Self> {
        std::fs::create_dir_all(&state_root)?;
        Ok(ProcessComputeService {
            state_root,
            shim_binary,
            init_binary,
            cgroups,
            events: broadcast::channel(EVENT_BUFFER).0,
            systems: Mutex::new(HashMap::new()),
        })
    }

    /// `<state_root>/<id>`: where the shim keeps the container's log (`log.json`, readable with
    /// `silo_shim::logs::read_logs`) and its stdin FIFO.
    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.state_root.join(id)
    }

    fn handle(&self, id: &str, doc: &ComputeSystemDocument) -> ProcessComputeSystem {
        let mut systems = self.systems.lock().unwrap_or_else(|e| e.into_inner());
        // A deleted system's handles stay NotFound; a system created again under the same id
        // (the engine restarting a container) is a new one.
        let live = systems
            .get(id)
            .and_then(Weak::upgrade)
            .filter(|s| !s.memo().deleted);
        if let Some(shared) = live {
            return ProcessComputeSystem { shared };
        }
        let shared = Arc::new(Shared::new(
            id.to_string(),
            doc.owner.clone(),
            doc.rootfs.sandbox.clone(),
            self.paths(id),
            CgroupDirs::new(&self.cgroups, &format!("silo/{id}")),
            self.events.clone(),
        ));
        systems.retain(|_, w| w.strong_count() > 0);
        systems.insert(id.to_string(), Arc::downgrade(&shared));
        ProcessComputeSystem { shared }
    }

    fn paths(&self, id: &str) -> ShimPaths {
        ShimPaths {
            binary: self.shim_binary.clone(),
            dir: self.state_dir(id),
        }
    }

    /// Refuses what this backend cannot honour, before anything is acquired.
    fn check_supported(doc: &ComputeSystemDocument, stdio: &Stdio) -> Result<()> {
        let refuse = |what| {
            let cause = Cause::NotSupported {
                what,
                isolation: Isolation::Process,
            };
            Err(ComputeError::new(Operation::Create, &doc.id, cause))
        };
        if doc.isolation != Isolation::Process {
            return refuse("a document for hyperv isolation");
        }
        if stdio.stdin.is_some() || stdio.stdout.is_some() || stdio.stderr.is_some() {
            // The shim owns the streams: output goes to its json-file log in state_dir(id).
            return refuse("stdio paths (the shim writes output to its json-file log)");
        }
        Ok(())
    }

    /// With `init: true`, the init binary must be usable now (it is bind-mounted into the
    /// container): otherwise Unavailable, naming the path and how to build it.
    fn check_init(&self, doc: &ComputeSystemDocument) -> Result<()> {
        if !doc.init {
            return Ok(());
        }
        super::check_init_binary(&self.init_binary).map_err(|e| {
            let cause = Cause::Backend {
                kind: ErrorKind::Unavailable,
                source: Box::new(e),
            };
            ComputeError::new(Operation::Create, &doc.id, cause)
        })
    }

    async fn create_inner(&self, doc: ComputeSystemDocument) -> Result<ProcessComputeSystem> {
        let op = Operation::Create;
        let id = doc.id.clone();
        let io_err = |action, path: &Path| {
            let path = path.to_path_buf();
            let id = id.clone();
            move |source| {
                ComputeError::new(
                    op,
                    id,
                    Cause::Io {
                        action,
                        path,
                        source,
                    },
                )
            }
        };
        let paths = self.paths(&id);
        let longest = paths.dir.as_os_str().len() + 1 + silo_shim::LONGEST_SOCKET_FILE;
        if longest > MAX_SOCKET_PATH {
            let message = format!(
                "shim socket paths in {} would be {longest} bytes, longer than {MAX_SOCKET_PATH}; use a shorter state root",
                paths.dir.display()
            );
            let cause = Cause::Backend {
                kind: ErrorKind::InvalidArgument,
                source: message.into(),
            };
            return Err(ComputeError::new(op, &id, cause));
        }
        match std::fs::create_dir(&paths.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(ComputeError::new(op, &id, Cause::AlreadyExists))
            }
            Err(e) => return Err(io_err("create", &paths.dir)(e)),
        }
        let mut guard = CreateGuard {
            dir: Some(paths.dir.clone()),
            sandbox: None,
        };
        // Armed before mounting: a failed mount still leaves the directories it created.
        guard.sandbox = Some(doc.rootfs.sandbox.clone());
        let merged = rootfs::mount_sandbox(&doc.rootfs, doc.user_namespace.as_ref())
            .map_err(|e| rootfs_err(&id, e))?;
        let mut spec = crate::spec::oci_spec(&doc, &merged, Some(&self.init_binary))
            .map_err(|e| ComputeError::new(op, &id, e))?;
        fit_default_nofile(&doc, &mut spec);
        fit_privileged_capabilities(&doc, &mut spec);
        let config = paths.dir.join(CONFIG_FILE);
        let data =
            serde_json::to_vec_pretty(&spec).map_err(|e| io_err("encode", &config)(e.into()))?;
        std::fs::write(&config, data).map_err(io_err("write", &config))?;
        let doc_path = paths.dir.join(DOCUMENT_FILE);
        let data =
            serde_json::to_vec_pretty(&doc).map_err(|e| io_err("encode", &doc_path)(e.into()))?;
        std::fs::write(&doc_path, data).map_err(io_err("write", &doc_path))?;
        if let Err(e) = paths.run(&id, RunIo::of(&doc.process), &doc.log).await {
            // The shim may have got as far as creating the container's cgroup.
            let _ = paths.cleanup(op, &id).await;
            return Err(e);
        }
        guard.disarm();
        Ok(self.handle(&id, &doc))
    }

    fn read_document(&self, op: Operation, id: &str) -> Result<ComputeSystemDocument> {
        let path = self.state_dir(id).join(DOCUMENT_FILE);
        let data = match std::fs::read(&path) {
            Ok(data) => data,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ComputeError::new(op, id, Cause::NotFound))
            }
            Err(source) => {
                let cause = Cause::Io {
                    action: "read",
                    path,
                    source,
                };
                return Err(ComputeError::new(op, id, cause));
            }
        };
        serde_json::from_slice(&data).map_err(|e| {
            let cause = Cause::Io {
                action: "decode",
                path,
                source: io::Error::new(io::ErrorKind::InvalidData, e),
            };
            ComputeError::new(op, id, cause)
        })
    }

    async fn open_inner(&self, op: Operation, id: &str) -> Result<ProcessComputeSystem> {
        // Ids become path components: refuse anything that could leave the state root.
        if id.is_empty() || id.contains('/') || id.starts_with('.') {
            return Err(ComputeError::new(op, id, Cause::NotFound));
        }
        let doc = self.read_document(op, id)?;
        let system = self.handle(id, &doc);
        // A sandbox left unmounted by a host reboot is mounted again over the same upper dir.
        if system.shared.sandbox.join("upper").exists() {
            rootfs::mount_sandbox(&doc.rootfs, doc.user_namespace.as_ref())
                .map_err(|e| rootfs_err(id, e))?;
        }
        let props = system.properties(PropertyQuery::default()).await?;
        if props.state != crate::State::Stopped && props.state != crate::State::Created {
            system.shared.watch();
        }
        Ok(system)
    }
}

/// The spec's default open-file limit may be above what this daemon may grant: raising a hard
/// limit needs CAP_SYS_RESOURCE, which some hosts withhold even from root. A limit the document
/// did not ask for is lowered to the daemon's own hard limit instead of failing the create (as
/// containerd's "inherit the daemon's limits" does); an explicit `--ulimit` is left to fail
/// loudly.
fn fit_default_nofile(doc: &ComputeSystemDocument, spec: &mut oci_spec::runtime::Spec) {
    use oci_spec::runtime::{PosixRlimitBuilder, PosixRlimitType};
    if doc.process.rlimits.iter().any(|r| r.name == "nofile") {
        return;
    }
    let Some(host_hard) = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum
    else {
        return;
    };
    let Some(mut process) = spec.process().clone() else {
        return;
    };
    let rlimits = process
        .rlimits()
        .iter()
        .flatten()
        .map(|r| {
            if r.typ() != PosixRlimitType::RlimitNofile || r.hard() <= host_hard {
                return *r;
            }
            PosixRlimitBuilder::default()
                .typ(r.typ())
                .soft(r.soft().min(host_hard))
                .hard(host_hard)
                .build()
                .unwrap_or(*r)
        })
        .collect();
    process.set_rlimits(Some(rlimits));
    spec.set_process(Some(process));
}

/// `--privileged` (and `--cap-add ALL`) mean every capability the daemon itself may grant, as
/// in Docker: a host that withholds some from root's bounding set (CAP_SYS_RESOURCE here) would
/// otherwise make every privileged create fail in `capset`. Explicitly named capabilities are
/// left to fail loudly.
fn fit_privileged_capabilities(doc: &ComputeSystemDocument, spec: &mut oci_spec::runtime::Spec) {
    let Some(mut process) = spec.process().clone() else {
        return;
    };
    fit_capabilities_to_host(doc, &doc.process, &mut process);
    spec.set_process(Some(process));
}

/// [`fit_privileged_capabilities`] for one process (the first one, or an exec whose
/// `params` it was built from).
pub(super) fn fit_capabilities_to_host(
    doc: &ComputeSystemDocument,
    params: &crate::ProcessParameters,
    process: &mut oci_spec::runtime::Process,
) {
    let all = doc.security.privileged
        || params
            .capabilities
            .add
            .iter()
            .any(|c| c.eq_ignore_ascii_case("ALL"));
    if !all {
        return;
    }
    let Some(bounding) = bounding_set() else {
        return;
    };
    let Some(mut caps) = process.capabilities().clone() else {
        return;
    };
    let keep = |set: &Option<oci_spec::runtime::Capabilities>| {
        set.as_ref().map(|s| {
            s.iter()
                .copied()
                .filter(|c| {
                    let bit = crate::spec::caps::ALL_CAPABILITIES
                        .iter()
                        .position(|a| a == c);
                    bit.is_none_or(|b| bounding & (1u64 << b) != 0)
                })
                .collect()
        })
    };
    let (b, e, p) = (
        keep(caps.bounding()),
        keep(caps.effective()),
        keep(caps.permitted()),
    );
    caps.set_bounding(b).set_effective(e).set_permitted(p);
    process.set_capabilities(Some(caps));
}

/// This process's capability bounding set (`CapBnd` of `/proc/self/status`).
fn bounding_set() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapBnd:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

fn rootfs_err(id: &str, e: RootfsError) -> ComputeError {
    let cause = Cause::Io {
        action: e.action,
        path: e.path,
        source: e.source,
    };
    ComputeError::new(Operation::Create, id, cause)
}

/// Undoes a half-done create: unmounts and removes the sandbox and the state directory.
struct CreateGuard {
    dir: Option<PathBuf>,
    sandbox: Option<PathBuf>,
}

impl CreateGuard {
    fn disarm(&mut self) {
        self.dir = None;
        self.sandbox = None;
    }
}

impl Drop for CreateGuard {
    fn drop(&mut self) {
        if let Some(sandbox) = self.sandbox.take() {
            if let Err(e) = rootfs::remove_sandbox(&sandbox) {
                tracing::warn!(
                    "undo create: {} {}: {}",
                    e.action,
                    e.path.display(),
                    e.source
                );
            }
        }
        if let Some(dir) = self.dir.take() {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!("undo create: remove {}: {e}", dir.display());
            }
        }
    }
}

impl ComputeService for ProcessComputeService {
    fn create(
        &self,
        document: ComputeSystemDocument,
        stdio: Stdio,
    ) -> BoxFuture<'_, Result<Arc<dyn ComputeSystem>>> {
        Box::pin(async move {
            document
                .validate()
                .map_err(|e| ComputeError::new(Operation::Create, &document.id, e))?;
            Self::check_supported(&document, &stdio)?;
            self.check_init(&document)?;
            let system = self.create_inner(document).await?;
            system.shared.publish(Event::Created);
            Ok(Arc::new(system) as Arc<dyn ComputeSystem>)
        })
    }

    fn open<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Arc<dyn ComputeSystem>>> {
        Box::pin(async move {
            let system = self.open_inner(Operation::Open, id).await?;
            Ok(Arc::new(system) as Arc<dyn ComputeSystem>)
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<SystemSummary>>> {
        Box::pin(async move {
            let entries = std::fs::read_dir(&self.state_root).map_err(|source| {
                let cause = Cause::Io {
                    action: "list",
                    path: self.state_root.clone(),
                    source,
                };
                ComputeError::new(Operation::List, "", cause)
            })?;
            let mut out = Vec::new();
            for entry in entries.flatten() {
                let Some(id) = entry.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                match self.open_inner(Operation::List, &id).await {
                    Ok(system) => {
                        let props = system.properties(PropertyQuery::default()).await?;
                        out.push(SystemSummary {
                            id,
                            owner: props.owner,
                            isolation: Isolation::Process,
                            state: props.state,
                        });
                    }
                    // A directory without a document is a create in progress or debris.
                    Err(e) if silo_errdefs::HasKind::kind(&e) == ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            out.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(out)
        })
    }

    fn subscribe(&self) -> broadcast::Receiver<SystemEvent> {
        self.events.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::PosixRlimitType;

    fn nofile(spec: &oci_spec::runtime::Spec) -> (u64, u64) {
        let process = spec.process().as_ref().unwrap();
        let r = process
            .rlimits()
            .iter()
            .flatten()
            .find(|r| r.typ() == PosixRlimitType::RlimitNofile)
            .unwrap();
        (r.soft(), r.hard())
    }

    #[test]
    fn privileged_gets_the_daemons_bounding_set() {
        let mut doc = crate::document::tests::sample();
        doc.security.privileged = true;
        let mut spec = crate::spec::oci_spec(&doc, Path::new("/rootfs"), None).unwrap();
        fit_privileged_capabilities(&doc, &mut spec);
        let bounding = bounding_set().unwrap();
        let caps = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .clone()
            .unwrap();
        let granted = caps.permitted().as_ref().unwrap();
        assert_eq!(granted.len() as u32, bounding.count_ones().min(41));
    }

    #[test]
    fn default_nofile_fits_the_daemons_hard_limit() {
        let host_hard = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .maximum
            .unwrap_or(u64::MAX);
        let doc = crate::document::tests::sample();
        let mut spec = crate::spec::oci_spec(&doc, Path::new("/rootfs"), None).unwrap();
        fit_default_nofile(&doc, &mut spec);
        let (soft, hard) = nofile(&spec);
        assert!(
            hard <= host_hard && soft <= hard,
            "{soft} {hard} {host_hard}"
        );

        // An explicit --ulimit is the user's choice and stays as asked.
        let mut doc = crate::document::tests::sample();
        doc.process.rlimits = vec![crate::Rlimit {
            name: "nofile".into(),
            soft: 10,
            hard: u64::MAX - 1,
        }];
        let mut spec = crate::spec::oci_spec(&doc, Path::new("/rootfs"), None).unwrap();
        fit_default_nofile(&doc, &mut spec);
        assert_eq!(nofile(&spec), (10, u64::MAX - 1));
    }
}
