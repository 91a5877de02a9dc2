use silo_errdefs::{ErrorKind, HasKind};

use super::*;

const ALL_STATES: [State; 4] = [
    State::Created,
    State::Running,
    State::Paused,
    State::Stopped,
];

/// The table in the crate documentation, row by row: the allowed states of each operation.
#[test]
fn guards_match_the_documented_table() {
    let table: [(Operation, &[State]); 9] = [
        (Operation::Start, &[State::Created]),
        (Operation::Shutdown, &[State::Running]),
        (
            Operation::Terminate,
            &[State::Created, State::Running, State::Paused],
        ),
        (Operation::Pause, &[State::Running]),
        (Operation::Resume, &[State::Paused]),
        (Operation::Signal, &[State::Running]),
        (Operation::CreateProcess, &[State::Running]),
        (
            Operation::Modify,
            &[State::Created, State::Running, State::Paused],
        ),
        (Operation::Delete, &[State::Created, State::Stopped]),
    ];
    for (op, allowed) in table {
        for state in ALL_STATES {
            assert_eq!(
                state.allows(op),
                allowed.contains(&state),
                "{op:?} in {state:?}"
            );
        }
    }
    for op in [Operation::Properties, Operation::Wait, Operation::Open] {
        assert!(ALL_STATES.iter().all(|s| s.allows(op)));
    }
}

#[test]
fn guard_failures_are_failed_precondition_naming_the_state() {
    ComputeError::check_state(Operation::Start, "abc", State::Created).unwrap();
    let err = ComputeError::check_state(Operation::Start, "abc", State::Running).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    assert_eq!(
        err.to_string(),
        "start compute system abc: compute system is running"
    );
    assert!(matches!(
        err.cause,
        Cause::InvalidState {
            state: State::Running
        }
    ));
}

#[test]
fn causes_map_to_kinds() {
    let cases: Vec<(Cause, ErrorKind)> = vec![
        (Cause::NotFound, ErrorKind::NotFound),
        (Cause::AlreadyExists, ErrorKind::AlreadyExists),
        (Cause::ProcessNotFound { pid: 7 }, ErrorKind::NotFound),
        (
            Cause::InvalidDocument(DocumentError::EmptyArgs),
            ErrorKind::InvalidArgument,
        ),
        (
            Cause::Spec(spec::SpecError::InitUnavailable),
            ErrorKind::Internal,
        ),
        (
            Cause::Spec(spec::SpecError::UnknownUser { user: "x".into() }),
            ErrorKind::InvalidArgument,
        ),
        (
            Cause::NotSupported {
                what: "adding mounts",
                isolation: Isolation::Process,
            },
            ErrorKind::NotImplemented,
        ),
        (
            Cause::Timeout(Duration::from_secs(1)),
            ErrorKind::Unavailable,
        ),
        (
            Cause::Io {
                action: "write",
                path: "/sys/fs/cgroup/x".into(),
                source: std::io::Error::from_raw_os_error(13),
            },
            ErrorKind::Internal,
        ),
        (
            Cause::Backend {
                kind: ErrorKind::Unavailable,
                source: "shim gone".into(),
            },
            ErrorKind::Unavailable,
        ),
    ];
    for (cause, kind) in cases {
        let err = ComputeError::new(Operation::Start, "abc", cause);
        assert_eq!(err.kind(), kind, "{err}");
    }
}

#[test]
fn messages_name_operation_object_and_path() {
    let err = ComputeError::new(
        Operation::Modify,
        "3f2a",
        Cause::Io {
            action: "write",
            path: "/sys/fs/cgroup/memory/silo/3f2a/memory.limit_in_bytes".into(),
            source: std::io::Error::from_raw_os_error(13),
        },
    );
    let text = err.to_string();
    assert!(text.starts_with("modify compute system 3f2a: write /sys/fs/cgroup/memory/silo/3f2a/"));
    assert!(text.contains("ermission denied"), "{text}");
    assert!(std::error::Error::source(&err).is_some());

    let list = ComputeError::new(Operation::List, "", Cause::Timeout(Duration::from_secs(2)));
    assert_eq!(list.to_string(), "list compute systems: timed out after 2s");
}

#[test]
fn exit_status_codes() {
    let at = chrono::Utc::now();
    let killed = ExitStatus::signaled(9, ExitType::ForcedExit, at);
    assert_eq!((killed.code, killed.signal), (137, Some(9)));
    let exited = ExitStatus::exited(3, ExitType::GracefulExit, at);
    assert_eq!(
        (exited.code, exited.signal, exited.oom_killed),
        (3, None, false)
    );
}

#[test]
fn events_serialize_with_a_type_tag() {
    let event = SystemEvent {
        id: "abc".into(),
        at: chrono::DateTime::from_timestamp(0, 0).unwrap(),
        event: Event::ProcessCreated { pid: 42 },
    };
    let value = serde_json::to_value(&event).unwrap();
    assert_eq!(value["event"]["type"], "processCreated");
    assert_eq!(value["event"]["pid"], 42);
    let back: SystemEvent = serde_json::from_value(value).unwrap();
    assert_eq!(back, event);
    assert_eq!(serde_json::to_value(State::Paused).unwrap(), "paused");
}

#[test]
fn resource_updates_are_typed() {
    let update = ResourceUpdate::Limits {
        resources: Resources {
            pids_limit: Some(10),
            ..Resources::default()
        },
    };
    let value = serde_json::to_value(&update).unwrap();
    assert_eq!(value["request"], "limits");
    assert_eq!(value["resources"]["pidsLimit"], 10);
}

/// The traits must stay object-safe: the engine holds backends as trait objects. A minimal
/// in-memory system shows the intended shape of an implementation (guard first, then act).
#[derive(Debug)]
struct Fake {
    state: std::sync::Mutex<State>,
}

impl Fake {
    fn transition(&self, op: Operation, to: State) -> Result<()> {
        let mut state = self.state.lock().unwrap();
        ComputeError::check_state(op, "fake", *state)?;
        *state = to;
        Ok(())
    }
}

impl ComputeSystem for Fake {
    fn id(&self) -> &str {
        "fake"
    }
    fn isolation(&self) -> Isolation {
        Isolation::Process
    }
    fn start(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.transition(Operation::Start, State::Running) })
    }
    fn shutdown(&self, _signal: i32, _timeout: Duration) -> BoxFuture<'_, Result<ExitStatus>> {
        Box::pin(async move {
            self.transition(Operation::Shutdown, State::Stopped)?;
            Ok(ExitStatus::exited(
                0,
                ExitType::GracefulExit,
                chrono::Utc::now(),
            ))
        })
    }
    fn terminate(&self) -> BoxFuture<'_, Result<ExitStatus>> {
        Box::pin(async move {
            self.transition(Operation::Terminate, State::Stopped)?;
            Ok(ExitStatus::signaled(
                9,
                ExitType::ForcedExit,
                chrono::Utc::now(),
            ))
        })
    }
    fn pause(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.transition(Operation::Pause, State::Paused) })
    }
    fn resume(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.transition(Operation::Resume, State::Running) })
    }
    fn signal(&self, _signal: i32) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let state = *self.state.lock().unwrap();
            ComputeError::check_state(Operation::Signal, "fake", state)
        })
    }
    fn properties(&self, _query: PropertyQuery) -> BoxFuture<'_, Result<Properties>> {
        Box::pin(async move {
            Ok(Properties {
                id: "fake".into(),
                owner: "test".into(),
                isolation: Isolation::Process,
                state: *self.state.lock().unwrap(),
                pid: None,
                started_at: None,
                exit_status: None,
                process_list: None,
                statistics: None,
            })
        })
    }
    fn modify(&self, _update: ResourceUpdate) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            Err(ComputeError::new(
                Operation::Modify,
                "fake",
                Cause::NotSupported {
                    what: "modify",
                    isolation: Isolation::Process,
                },
            ))
        })
    }
    fn create_process(
        &self,
        _params: ProcessParameters,
        _io: ProcessIo,
    ) -> BoxFuture<'_, Result<AddedProcess>> {
        Box::pin(async move {
            Err(ComputeError::new(
                Operation::CreateProcess,
                "fake",
                Cause::NotFound,
            ))
        })
    }
    fn wait(&self) -> BoxFuture<'_, Result<ExitStatus>> {
        Box::pin(async move {
            Ok(ExitStatus::exited(
                0,
                ExitType::GracefulExit,
                chrono::Utc::now(),
            ))
        })
    }
    fn delete(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.transition(Operation::Delete, State::Stopped) })
    }
    fn attach(&self, _opts: AttachOptions) -> BoxFuture<'_, Result<AttachStream>> {
        Box::pin(async move {
            let state = *self.state.lock().unwrap();
            ComputeError::check_state(Operation::Attach, "fake", state)?;
            let (ours, _theirs) = AttachStream::pair().map_err(|source| {
                let path = "socketpair".into();
                let cause = Cause::Io {
                    action: "create",
                    path,
                    source,
                };
                ComputeError::new(Operation::Attach, "fake", cause)
            })?;
            Ok(ours)
        })
    }
    fn resize_console(&self, _width: u16, _height: u16) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let state = *self.state.lock().unwrap();
            ComputeError::check_state(Operation::Resize, "fake", state)
        })
    }
}

#[tokio::test]
async fn a_backend_is_driven_through_the_trait_object() {
    let system: Arc<dyn ComputeSystem> = Arc::new(Fake {
        state: std::sync::Mutex::new(State::Created),
    });
    assert_eq!(
        system
            .shutdown(15, DEFAULT_SHUTDOWN_TIMEOUT)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::FailedPrecondition
    );
    system.start().await.unwrap();
    let again = system.start().await.unwrap_err();
    assert_eq!(
        again.to_string(),
        "start compute system fake: compute system is running"
    );
    system.pause().await.unwrap();
    assert_eq!(
        system.signal(15).await.unwrap_err().kind(),
        ErrorKind::FailedPrecondition
    );
    assert_eq!(
        system.delete().await.unwrap_err().kind(),
        ErrorKind::FailedPrecondition
    );
    let status = system.terminate().await.unwrap();
    assert_eq!(status.exit_type, ExitType::ForcedExit);
    let props = system.properties(PropertyQuery::default()).await.unwrap();
    assert_eq!(props.state, State::Stopped);
    system.delete().await.unwrap();
}

fn _object_safe(_: &dyn ComputeService, _: &dyn ComputeSystem, _: &dyn Process) {}
