//! Document → OCI runtime-spec (`config.json`): the contract between the compute service and
//! the runtime that builds process-isolated systems (youki's libcontainer, or crun/runc).
//!
//! The defaults are Docker's, so that images behave as they do under Docker: the same
//! capability set, masked and read-only paths, mounts, device rules, environment defaults and a
//! syscall filter of the same shape. Generation is pure apart from reading the image's
//! `/etc/passwd` and `/etc/group` when a user is given by name.

pub mod caps;
pub mod mounts;
pub mod resources;
pub mod seccomp;
mod user;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    BoxBuilder, Capability, Linux, LinuxCapabilities, LinuxIdMappingBuilder, LinuxNamespace,
    LinuxNamespaceType, Mount as OciMount, PosixRlimit, PosixRlimitBuilder, PosixRlimitType,
    Process, Root, Spec, User as OciUser,
};
use silo_errdefs::{ErrorKind, HasKind};

use crate::document::{
    ComputeSystemDocument, DocumentError, NetworkNamespace, ProcessParameters, SeccompProfile,
};
pub use seccomp::default_seccomp;
pub use user::{resolve_user, secure_join, ResolvedUser};

/// The OCI runtime-spec version generated.
pub const OCI_VERSION: &str = "1.2.0";
/// `PATH` when the image and the document set none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Where silo's init is bind-mounted inside the container. Contract with the init: it is
/// started as `silo-init -- <args...>`, runs args as its child, forwards signals and reaps.
///
/// `/sbin` as Docker's `/sbin/docker-init`: a root-owned system directory every distribution
/// has (or links to `/usr/sbin`), where a file named after silo shadows nothing of the image's
/// own and which tools that read `/proc/1/cmdline` already expect to find an init in.
pub const INIT_PATH: &str = "/sbin/silo-init";
/// Open-file limits when the document sets none: a soft limit `select()` users survive and a
/// hard limit servers can raise to.
pub const DEFAULT_NOFILE: (u64, u64) = (1024, 524_288);

/// Why a spec could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The document does not validate (InvalidArgument).
    #[error("invalid document: {0}")]
    Document(#[from] DocumentError),
    /// A user name not in the image's `/etc/passwd` (InvalidArgument).
    #[error("unable to find user {user}: no matching entries in passwd file")]
    UnknownUser {
        /// The name asked for.
        user: String,
    },
    /// A group name not in the image's `/etc/group` (InvalidArgument).
    #[error("unable to find group {group}: no matching entries in group file")]
    UnknownGroup {
        /// The name asked for.
        group: String,
    },
    /// A file of the rootfs could not be read (Internal).
    #[error("read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An OCI type refused its fields; a bug in this module (Internal).
    #[error("build OCI spec: {0}")]
    Build(#[from] oci_spec::OciSpecError),
    /// The document asks for an init but the backend has no init binary (Internal).
    #[error("the document asks for an init process but no init binary is configured")]
    InitUnavailable,
}

impl HasKind for SpecError {
    fn kind(&self) -> ErrorKind {
        match self {
            SpecError::Document(_) | SpecError::UnknownUser { .. } => ErrorKind::InvalidArgument,
            SpecError::UnknownGroup { .. } => ErrorKind::InvalidArgument,
            SpecError::Read { .. } | SpecError::Build(_) | SpecError::InitUnavailable => {
                ErrorKind::Internal
            }
        }
    }
}

/// Builds the `config.json` for `doc`, whose root filesystem the backend has assembled at
/// `rootfs`. `init` is the host path of silo's init binary, bind-mounted at [`INIT_PATH`]
/// when `doc.init` is set.
pub fn oci_spec(
    doc: &ComputeSystemDocument,
    rootfs: &Path,
    init: Option<&Path>,
) -> Result<Spec, SpecError> {
    doc.validate()?;
    let mut process = oci_process(doc, &doc.process, rootfs)?;
    let mut all_mounts = mounts::mounts(doc);
    if doc.init {
        let init = init.ok_or(SpecError::InitUnavailable)?;
        let mut mount = OciMount::default();
        mount
            .set_destination(PathBuf::from(INIT_PATH))
            .set_typ(Some("bind".to_string()))
            .set_source(Some(init.to_path_buf()))
            .set_options(Some(vec!["bind".into(), "ro".into(), "nosuid".into()]));
        all_mounts.push(mount);
        let args = [INIT_PATH.to_string(), "--".to_string()]
            .into_iter()
            .chain(doc.process.args.iter().cloned())
            .collect();
        process.set_args(Some(args));
    }

    let mut root = Root::default();
    root.set_path(rootfs.to_path_buf())
        .set_readonly(Some(doc.rootfs.read_only));

    let mut spec = Spec::default();
    spec.set_version(OCI_VERSION.to_string())
        .set_root(Some(root))
        .set_hostname(Some(hostname(doc)))
        .set_mounts(Some(all_mounts))
        .set_process(Some(process))
        .set_annotations(None)
        .set_linux(Some(linux(doc)?));
    Ok(spec)
}

/// The process part of the spec, also what the backend runs for `create_process` (exec): the
/// same capability rules and defaults as the first process, without the init wrapper.
pub fn oci_process(
    doc: &ComputeSystemDocument,
    params: &ProcessParameters,
    rootfs: &Path,
) -> Result<Process, SpecError> {
    params.validate()?;
    let resolved = resolve_user(rootfs, &params.user)?;
    let mut user = OciUser::default();
    user.set_uid(resolved.uid).set_gid(resolved.gid);
    if !resolved.additional_gids.is_empty() {
        user.set_additional_gids(Some(resolved.additional_gids));
    }

    let caps = process_capabilities(doc, params);
    let set: oci_spec::runtime::Capabilities = caps.into_iter().collect();
    let mut capabilities = LinuxCapabilities::default();
    // Inheritable and ambient stay empty: granting them lets non-root programs keep
    // capabilities across execve, which Docker stopped doing (CVE-2022-24769).
    capabilities
        .set_bounding(Some(set.clone()))
        .set_effective(Some(set.clone()))
        .set_permitted(Some(set))
        .set_inheritable(None)
        .set_ambient(None);

    let console_size = match params.console_size {
        Some(size) => Some(
            BoxBuilder::default()
                .width(u64::from(size.width))
                .height(u64::from(size.height))
                .build()?,
        ),
        None => None,
    };
    let mut process = Process::default();
    process
        .set_terminal(Some(params.terminal))
        .set_console_size(console_size)
        .set_user(user)
        .set_args(Some(params.args.clone()))
        .set_env(Some(environment(doc, params)))
        .set_cwd(params.cwd.clone())
        .set_capabilities(Some(capabilities))
        .set_rlimits(Some(rlimits(params)?))
        // Absent rather than `false` when unset: youki treats any value as "set" and then loads
        // seccomp after dropping CAP_SYS_ADMIN, which the kernel refuses without the bit.
        .set_no_new_privileges(params.no_new_privileges.then_some(true))
        .set_oom_score_adj(params.oom_score_adj);
    Ok(process)
}

/// The capabilities a process of `doc` gets.
pub fn process_capabilities(
    doc: &ComputeSystemDocument,
    params: &ProcessParameters,
) -> Vec<Capability> {
    caps::effective_capabilities(
        &params.capabilities.add,
        &params.capabilities.drop,
        doc.security.privileged,
    )
}

/// The hostname: the document's, else the first 12 characters of the id (Docker's short id).
pub fn hostname(doc: &ComputeSystemDocument) -> String {
    doc.hostname
        .clone()
        .unwrap_or_else(|| doc.id.chars().take(12).collect())
}

/// Defaults first (`PATH`, `HOSTNAME`, `TERM` with a terminal), then the process's entries,
/// which replace a default with the same key in place and otherwise append; a later duplicate
/// key replaces an earlier one.
pub fn environment(doc: &ComputeSystemDocument, params: &ProcessParameters) -> Vec<String> {
    let mut env = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={}", hostname(doc)),
    ];
    if params.terminal {
        env.push("TERM=xterm".to_string());
    }
    for entry in &params.env {
        let key = entry.split_once('=').map_or(entry.as_str(), |(k, _)| k);
        let existing = env
            .iter()
            .position(|e| e.split_once('=').is_some_and(|(k, _)| k == key));
        match existing {
            Some(index) => env[index] = entry.clone(),
            None => env.push(entry.clone()),
        }
    }
    env
}

/// Maps `nofile` (any case, optional `RLIMIT_` prefix) to the OCI type.
pub fn rlimit_type(name: &str) -> Option<PosixRlimitType> {
    let lower = name.to_ascii_lowercase();
    let bare = lower.strip_prefix("rlimit_").unwrap_or(&lower);
    Some(match bare {
        "cpu" => PosixRlimitType::RlimitCpu,
        "fsize" => PosixRlimitType::RlimitFsize,
        "data" => PosixRlimitType::RlimitData,
        "stack" => PosixRlimitType::RlimitStack,
        "core" => PosixRlimitType::RlimitCore,
        "rss" => PosixRlimitType::RlimitRss,
        "nproc" => PosixRlimitType::RlimitNproc,
        "nofile" => PosixRlimitType::RlimitNofile,
        "memlock" => PosixRlimitType::RlimitMemlock,
        "as" => PosixRlimitType::RlimitAs,
        "locks" => PosixRlimitType::RlimitLocks,
        "sigpending" => PosixRlimitType::RlimitSigpending,
        "msgqueue" => PosixRlimitType::RlimitMsgqueue,
        "nice" => PosixRlimitType::RlimitNice,
        "rtprio" => PosixRlimitType::RlimitRtprio,
        "rttime" => PosixRlimitType::RlimitRttime,
        _ => return None,
    })
}

/// The NOFILE default, then the document's limits; a later limit of one type replaces an
/// earlier one.
fn rlimits(params: &ProcessParameters) -> Result<Vec<PosixRlimit>, SpecError> {
    let wanted = std::iter::once((
        PosixRlimitType::RlimitNofile,
        DEFAULT_NOFILE.0,
        DEFAULT_NOFILE.1,
    ))
    .chain(
        params
            .rlimits
            .iter()
            .filter_map(|r| Some((rlimit_type(&r.name)?, r.soft, r.hard))),
    );
    let mut out: Vec<PosixRlimit> = Vec::new();
    for (typ, soft, hard) in wanted {
        let limit = PosixRlimitBuilder::default()
            .typ(typ)
            .soft(soft)
            .hard(hard)
            .build()?;
        out.retain(|l| l.typ() != typ);
        out.push(limit);
    }
    Ok(out)
}

fn namespace(typ: LinuxNamespaceType, path: Option<PathBuf>) -> LinuxNamespace {
    let mut ns = LinuxNamespace::default();
    ns.set_typ(typ).set_path(path);
    ns
}

/// The namespaces: always pid, ipc, uts and mount; network unless the host's is shared;
/// user when the document maps ids. No cgroup namespace, as Docker on cgroup v1 and hybrid
/// hosts.
pub fn namespaces(doc: &ComputeSystemDocument) -> Vec<LinuxNamespace> {
    let mut out = vec![
        namespace(LinuxNamespaceType::Pid, None),
        namespace(LinuxNamespaceType::Ipc, None),
        namespace(LinuxNamespaceType::Uts, None),
        namespace(LinuxNamespaceType::Mount, None),
    ];
    match &doc.network {
        NetworkNamespace::Host => {}
        NetworkNamespace::Path { path } => {
            out.push(namespace(LinuxNamespaceType::Network, Some(path.clone())))
        }
        NetworkNamespace::None | NetworkNamespace::New => {
            out.push(namespace(LinuxNamespaceType::Network, None))
        }
    }
    if doc.user_namespace.is_some() {
        out.push(namespace(LinuxNamespaceType::User, None));
    }
    out
}

/// Every group may open ICMP echo sockets. Inside a user namespace the kernel takes only groups
/// the namespace maps, so the range is its mapped groups.
fn ping_group_range(userns: Option<&crate::document::UserNamespace>) -> String {
    let Some(userns) = userns else {
        return "0 2147483647".to_string();
    };
    let low = userns.gid_map.iter().map(|m| m.container_id).min();
    let high = userns
        .gid_map
        .iter()
        .map(|m| m.container_id + (m.size - 1))
        .max();
    match (low, high) {
        (Some(low), Some(high)) => format!("{low} {high}"),
        // No groups mapped (refused by document validation): nobody may ping.
        _ => "1 0".to_string(),
    }
}

fn linux(doc: &ComputeSystemDocument) -> Result<Linux, SpecError> {
    let privileged = doc.security.privileged;
    let mut resources = resources::linux_resources(&doc.resources);
    resources.set_devices(Some(mounts::device_rules(privileged)));

    let seccomp = match (privileged, doc.security.seccomp) {
        (false, SeccompProfile::Default) => Some(default_seccomp(
            &process_capabilities(doc, &doc.process),
            std::env::consts::ARCH,
        )?),
        _ => None,
    };
    // With its own network namespace nothing outside is reachable through these, so
    // binding low ports and ICMP echo sockets are opened to every user, as Docker does.
    let sysctl = (doc.network != NetworkNamespace::Host).then(|| {
        HashMap::from([
            (
                "net.ipv4.ip_unprivileged_port_start".to_string(),
                "0".to_string(),
            ),
            (
                "net.ipv4.ping_group_range".to_string(),
                ping_group_range(doc.user_namespace.as_ref()),
            ),
        ])
    });
    let id_map = |maps: &[crate::document::IdMap]| {
        maps.iter()
            .map(|m| {
                LinuxIdMappingBuilder::default()
                    .container_id(m.container_id)
                    .host_id(m.host_id)
                    .size(m.size)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let (uid_map, gid_map) = match &doc.user_namespace {
        Some(userns) => (
            Some(id_map(&userns.uid_map)?),
            Some(id_map(&userns.gid_map)?),
        ),
        None => (None, None),
    };

    let mut linux = Linux::default();
    linux
        .set_namespaces(Some(namespaces(doc)))
        .set_uid_mappings(uid_map)
        .set_gid_mappings(gid_map)
        .set_resources(Some(resources))
        .set_cgroups_path(Some(PathBuf::from(format!("/silo/{}", doc.id))))
        .set_seccomp(seccomp)
        .set_masked_paths(Some(mounts::masked_paths(doc)))
        .set_readonly_paths(Some(mounts::readonly_paths(doc)))
        .set_sysctl(sysctl)
        .set_devices(None);
    Ok(linux)
}

#[cfg(test)]
mod tests;
