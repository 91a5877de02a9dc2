use super::*;

/// A document that validates; tests change one field at a time.
pub(crate) fn sample() -> ComputeSystemDocument {
    ComputeSystemDocument {
        schema_version: SCHEMA_VERSION,
        owner: "silod".into(),
        id: "3f2a9c0d1e2b4a5f".into(),
        isolation: Isolation::Process,
        rootfs: Rootfs {
            layers: vec![
                "/var/lib/silo/layers/a".into(),
                "/var/lib/silo/layers/b".into(),
            ],
            sandbox: "/var/lib/silo/sandboxes/3f2a".into(),
            read_only: false,
        },
        mounts: vec![],
        resources: Resources::default(),
        network: NetworkNamespace::New,
        process: ProcessParameters {
            args: vec!["sh".into(), "-c".into(), "echo hi".into()],
            env: vec!["FOO=bar".into()],
            cwd: "/".into(),
            user: User::default(),
            terminal: false,
            console_size: None,
            open_stdin: false,
            stdin_once: false,
            no_new_privileges: false,
            capabilities: CapabilitySet::default(),
            oom_score_adj: None,
            rlimits: vec![],
        },
        hostname: None,
        security: Security::default(),
        user_namespace: None,
        init: false,
        log: Default::default(),
    }
}

fn invalid(change: impl FnOnce(&mut ComputeSystemDocument)) -> DocumentError {
    let mut doc = sample();
    change(&mut doc);
    match doc.validate() {
        Err(e) => e,
        Ok(()) => panic!("document should have been refused: {doc:#?}"),
    }
}

#[test]
fn sample_is_valid() {
    sample().validate().unwrap();
}

#[test]
fn ids_must_be_safe_path_components() {
    for id in [
        "",
        "../etc",
        "a/b",
        "-leading",
        "has space",
        &"x".repeat(129),
    ] {
        let err = invalid(|d| d.id = id.to_string());
        assert!(
            matches!(err, DocumentError::InvalidId { .. }),
            "{id:?}: {err}"
        );
    }
    let mut doc = sample();
    doc.id = "web-1_a.b".into();
    doc.validate().unwrap();
}

#[test]
fn process_errors() {
    assert_eq!(
        invalid(|d| d.process.args.clear()),
        DocumentError::EmptyArgs
    );
    assert!(matches!(
        invalid(|d| d.process.cwd = "relative/dir".into()),
        DocumentError::InvalidPath { field: "cwd", .. }
    ));
    assert!(matches!(
        invalid(|d| d.process.env.push("NOEQUALS".into())),
        DocumentError::InvalidEnv { .. }
    ));
    assert!(matches!(
        invalid(|d| d.process.env.push("=value".into())),
        DocumentError::InvalidEnv { .. }
    ));
    assert_eq!(
        invalid(|d| d.process.capabilities.add.push("CAP_FLY".into())),
        DocumentError::UnknownCapability {
            name: "CAP_FLY".into()
        }
    );
    assert!(matches!(
        invalid(|d| d.process.oom_score_adj = Some(1001)),
        DocumentError::OutOfRange {
            field: "oom_score_adj",
            ..
        }
    ));
    assert!(matches!(
        invalid(|d| d.process.rlimits.push(Rlimit {
            name: "nofiles".into(),
            soft: 1,
            hard: 1
        })),
        DocumentError::UnknownRlimit { .. }
    ));
    assert!(matches!(
        invalid(|d| d.process.rlimits.push(Rlimit {
            name: "nofile".into(),
            soft: 2,
            hard: 1
        })),
        DocumentError::RlimitSoftAboveHard { .. }
    ));
    assert_eq!(
        invalid(|d| d.process.user = User::Named {
            user: String::new(),
            group: None,
            additional_groups: vec![]
        }),
        DocumentError::EmptyUser
    );
}

#[test]
fn capability_names_accept_docker_spellings() {
    let mut doc = sample();
    doc.process.capabilities.add = vec!["net_admin".into(), "CAP_SYS_PTRACE".into(), "ALL".into()];
    doc.process.capabilities.drop = vec!["all".into()];
    doc.validate().unwrap();
}

#[test]
fn memory_limits() {
    assert_eq!(
        invalid(|d| d.resources.memory_bytes = Some(1024)),
        DocumentError::MemoryTooLow { bytes: 1024 }
    );
    assert_eq!(
        invalid(|d| d.resources.memory_swap = Some(64 << 20)),
        DocumentError::SwapWithoutMemory
    );
    assert_eq!(
        invalid(|d| {
            d.resources.memory_bytes = Some(64 << 20);
            d.resources.memory_swap = Some(32 << 20);
        }),
        DocumentError::SwapBelowMemory {
            swap: 32 << 20,
            memory: 64 << 20
        }
    );
    let mut doc = sample();
    doc.resources.memory_bytes = Some(64 << 20);
    doc.resources.memory_swap = Some(-1);
    doc.validate().unwrap();
}

#[test]
fn cpu_and_pids_limits() {
    assert_eq!(
        invalid(|d| {
            d.resources.nano_cpus = Some(1_000_000_000);
            d.resources.cpu_period = Some(100_000);
        }),
        DocumentError::CpuConflict
    );
    for change in [
        (|d: &mut ComputeSystemDocument| d.resources.nano_cpus = Some(0)) as fn(&mut _),
        |d| d.resources.cpu_quota = Some(999),
        |d| d.resources.cpu_period = Some(999),
        |d| d.resources.cpu_period = Some(1_000_001),
        |d| d.resources.cpu_shares = Some(1),
        |d| d.resources.cpu_shares = Some(262_145),
        |d| d.resources.pids_limit = Some(-2),
    ] {
        assert!(matches!(invalid(change), DocumentError::OutOfRange { .. }));
    }
}

#[test]
fn mount_errors() {
    let tmpfs = |dest: &str| Mount {
        source: None,
        destination: dest.into(),
        kind: MountKind::Tmpfs,
        read_only: false,
        options: vec![],
    };
    assert!(matches!(
        invalid(|d| d.mounts = vec![tmpfs("/run"), tmpfs("/run")]),
        DocumentError::DuplicateMount { .. }
    ));
    assert!(matches!(
        invalid(|d| d.mounts = vec![tmpfs("/")]),
        DocumentError::InvalidPath { .. }
    ));
    assert!(matches!(
        invalid(|d| d.mounts = vec![tmpfs("/a/../../etc")]),
        DocumentError::InvalidPath {
            reason: "must not contain '..'",
            ..
        }
    ));
    assert!(matches!(
        invalid(|d| d.mounts = vec![Mount {
            kind: MountKind::Bind,
            ..tmpfs("/data")
        }]),
        DocumentError::BindWithoutSource { .. }
    ));
    assert!(matches!(
        invalid(|d| d.mounts = vec![Mount {
            options: vec!["ro".into()],
            ..tmpfs("/data")
        }]),
        DocumentError::ReadOnlyOption { .. }
    ));
}

#[test]
fn other_fields() {
    assert!(matches!(
        invalid(|d| d.hostname = Some("bad_host".into())),
        DocumentError::InvalidHostname { .. }
    ));
    assert!(matches!(
        invalid(|d| d.hostname = Some("a".repeat(65))),
        DocumentError::InvalidHostname { .. }
    ));
    assert_eq!(invalid(|d| d.owner.clear()), DocumentError::EmptyOwner);
    assert!(matches!(
        invalid(|d| d.rootfs.sandbox = "sandbox".into()),
        DocumentError::InvalidPath {
            field: "rootfs sandbox",
            ..
        }
    ));
    assert!(matches!(
        invalid(|d| d.network = NetworkNamespace::Path {
            path: "netns".into()
        }),
        DocumentError::InvalidPath { .. }
    ));
    assert!(matches!(
        invalid(|d| d.schema_version = SCHEMA_VERSION + 1),
        DocumentError::UnsupportedSchema { .. }
    ));
    assert_eq!(
        invalid(|d| d.user_namespace = Some(UserNamespace {
            uid_map: vec![IdMap {
                container_id: 0,
                host_id: 100_000,
                size: 65536
            }],
            gid_map: vec![],
        })),
        DocumentError::InvalidIdMap { which: "gid" }
    );
}

#[test]
fn every_document_error_is_invalid_argument() {
    use silo_errdefs::{ErrorKind, HasKind};
    assert_eq!(DocumentError::EmptyArgs.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn isolation_names() {
    assert_eq!("process".parse::<Isolation>().unwrap(), Isolation::Process);
    assert_eq!("HyperV".parse::<Isolation>().unwrap(), Isolation::HyperV);
    assert_eq!("vm".parse::<Isolation>().unwrap(), Isolation::HyperV);
    assert!("default".parse::<Isolation>().is_err());
    let vm: Isolation = serde_json::from_str("\"vm\"").unwrap();
    assert_eq!(vm, Isolation::HyperV);
    assert_eq!(
        serde_json::to_string(&Isolation::HyperV).unwrap(),
        "\"hyperv\""
    );
}

#[test]
fn json_round_trip_and_defaults() {
    let doc = sample();
    let json = serde_json::to_string(&doc).unwrap();
    let back: ComputeSystemDocument = serde_json::from_str(&json).unwrap();
    assert_eq!(back, doc);

    // The smallest document a client may write: everything else has a default.
    let minimal = r#"{
        "owner": "silod", "id": "c1",
        "rootfs": {"layers": [], "sandbox": "/s"},
        "network": {"mode": "path", "path": "/run/netns/c1"},
        "process": {"args": ["true"], "user": {"kind": "named", "user": "nobody"}}
    }"#;
    let doc: ComputeSystemDocument = serde_json::from_str(minimal).unwrap();
    doc.validate().unwrap();
    assert_eq!(doc.schema_version, SCHEMA_VERSION);
    assert_eq!(doc.isolation, Isolation::Process);
    assert_eq!(doc.process.cwd, std::path::Path::new("/"));
    assert_eq!(doc.security.seccomp, SeccompProfile::Default);
    assert_eq!(
        doc.network,
        NetworkNamespace::Path {
            path: "/run/netns/c1".into()
        }
    );
}
