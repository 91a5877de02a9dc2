//! The life of a compute system: states with guards, exit statuses, events and operation names.
//!
//! ```text
//!             start               pause
//!   Created ─────────▶ Running ─────────▶ Paused
//!      │                │   ▲  ◀───────── │
//!      │ terminate      │   │    resume   │ terminate
//!      ▼                ▼   │             ▼
//!   Stopped ◀─────── (init exits, shutdown, terminate)
//! ```
//!
//! Every operation checks its guard first (see [`State::allows`]) and fails with
//! FailedPrecondition naming the current state; nothing is a silent no-op.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The state of a compute system, the same four as HCS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Created (rootfs, cgroup, namespaces ready) but the first process has not been started.
    Created,
    /// The first process runs.
    Running,
    /// Every process is frozen.
    Paused,
    /// The first process has exited; only `properties`, `wait` and `delete` remain.
    Stopped,
}

impl State {
    /// Lowercase name used in messages and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Running => "running",
            State::Paused => "paused",
            State::Stopped => "stopped",
        }
    }

    /// `start` runs the first process of a created system.
    pub fn can_start(self) -> bool {
        self == State::Created
    }

    /// `pause` freezes a running system.
    pub fn can_pause(self) -> bool {
        self == State::Running
    }

    /// `resume` thaws a paused system.
    pub fn can_resume(self) -> bool {
        self == State::Paused
    }

    /// `shutdown` asks the first process to exit, which it can only do while running; a paused
    /// system must be resumed or terminated.
    pub fn can_shutdown(self) -> bool {
        self == State::Running
    }

    /// `terminate` kills whatever is left: allowed until the system has stopped (a paused
    /// system is thawed by the backend so the kill is delivered).
    pub fn can_terminate(self) -> bool {
        matches!(self, State::Created | State::Running | State::Paused)
    }

    /// `create_process` (exec) needs running processes to join.
    pub fn can_exec(self) -> bool {
        self == State::Running
    }

    /// `signal` reaches the first process only while it runs.
    pub fn can_signal(self) -> bool {
        self == State::Running
    }

    /// `modify` changes limits of a system that still exists as a running whole.
    pub fn can_modify(self) -> bool {
        matches!(self, State::Created | State::Running | State::Paused)
    }

    /// `attach` and `resize_console` reach the first process's streams from `create` (its
    /// terminal and pipes exist before `start`) until it has exited.
    pub fn can_attach(self) -> bool {
        matches!(self, State::Created | State::Running | State::Paused)
    }

    /// `delete` releases everything; live processes must be stopped first.
    pub fn can_delete(self) -> bool {
        matches!(self, State::Created | State::Stopped)
    }

    /// Whether `op` may run in this state. Operations without a state requirement (open,
    /// properties, wait, ...) are always allowed.
    pub fn allows(self, op: Operation) -> bool {
        match op {
            Operation::Start => self.can_start(),
            Operation::Pause => self.can_pause(),
            Operation::Resume => self.can_resume(),
            Operation::Shutdown => self.can_shutdown(),
            Operation::Terminate => self.can_terminate(),
            Operation::CreateProcess => self.can_exec(),
            Operation::Signal => self.can_signal(),
            Operation::Modify => self.can_modify(),
            Operation::Delete => self.can_delete(),
            Operation::Attach | Operation::Resize => self.can_attach(),
            Operation::Create
            | Operation::Open
            | Operation::List
            | Operation::Properties
            | Operation::Wait
            | Operation::SignalProcess
            | Operation::ResizeConsole
            | Operation::CloseStdin
            | Operation::WaitProcess => true,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The operations of the service, named once so errors and trace spans agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Operation {
    /// `ComputeService::create`.
    Create,
    /// `ComputeService::open`.
    Open,
    /// `ComputeService::list`.
    List,
    /// `ComputeSystem::start`.
    Start,
    /// `ComputeSystem::shutdown`.
    Shutdown,
    /// `ComputeSystem::terminate`.
    Terminate,
    /// `ComputeSystem::pause`.
    Pause,
    /// `ComputeSystem::resume`.
    Resume,
    /// `ComputeSystem::properties`.
    Properties,
    /// `ComputeSystem::modify`.
    Modify,
    /// `ComputeSystem::signal`.
    Signal,
    /// `ComputeSystem::create_process`.
    CreateProcess,
    /// `ComputeSystem::wait`.
    Wait,
    /// `ComputeSystem::delete`.
    Delete,
    /// `ComputeSystem::attach`.
    Attach,
    /// `ComputeSystem::resize_console`.
    Resize,
    /// `Process::signal`.
    SignalProcess,
    /// `Process::resize_console`.
    ResizeConsole,
    /// `Process::close_stdin`.
    CloseStdin,
    /// `Process::wait`.
    WaitProcess,
}

impl Operation {
    /// The verb used in messages: "start compute system abc: ...".
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Open => "open",
            Operation::List => "list",
            Operation::Start => "start",
            Operation::Shutdown => "shut down",
            Operation::Terminate => "terminate",
            Operation::Pause => "pause",
            Operation::Resume => "resume",
            Operation::Properties => "query properties of",
            Operation::Modify => "modify",
            Operation::Signal => "signal",
            Operation::CreateProcess => "create process in",
            Operation::Wait => "wait for",
            Operation::Delete => "delete",
            Operation::Attach => "attach to",
            Operation::Resize => "resize the console of",
            Operation::SignalProcess => "signal process in",
            Operation::ResizeConsole => "resize console of process in",
            Operation::CloseStdin => "close stdin of process in",
            Operation::WaitProcess => "wait for process in",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a system stopped — the question `stop` must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExitType {
    /// The first process exited by itself, or in answer to `shutdown`'s signal within the
    /// timeout.
    GracefulExit,
    /// The system was killed: `terminate`, or `shutdown` whose timeout ran out.
    ForcedExit,
    /// The system died for a reason outside its program: the OOM killer, a runtime or shim
    /// failure, a VM crash.
    UnexpectedExit,
}

/// How a system or process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExitStatus {
    /// The shell-style code: the exit status, or 128 + signal when killed by a signal.
    pub code: i32,
    /// The signal that killed the process, if one did.
    pub signal: Option<i32>,
    /// Why it ended.
    pub exit_type: ExitType,
    /// The memory cgroup's OOM killer ran while the system was alive.
    pub oom_killed: bool,
    /// When the exit was observed.
    pub finished_at: DateTime<Utc>,
}

impl ExitStatus {
    /// A normal `exit(code)`.
    pub fn exited(code: i32, exit_type: ExitType, finished_at: DateTime<Utc>) -> Self {
        ExitStatus {
            code,
            signal: None,
            exit_type,
            oom_killed: false,
            finished_at,
        }
    }

    /// Death by `signal`, reported as 128 + signal like a shell (and Docker) does.
    pub fn signaled(signal: i32, exit_type: ExitType, finished_at: DateTime<Utc>) -> Self {
        ExitStatus {
            code: 128 + signal,
            signal: Some(signal),
            exit_type,
            oom_killed: false,
            finished_at,
        }
    }
}

/// Something that happened to a compute system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum Event {
    /// The system exists in state Created.
    Created,
    /// The first process runs.
    Started {
        /// Its pid.
        pid: u32,
    },
    /// The system was frozen.
    Paused,
    /// The system was thawed.
    Resumed,
    /// Limits or mounts changed through `modify`.
    Modified,
    /// A process was added with `create_process`.
    ProcessCreated {
        /// Its pid.
        pid: u32,
    },
    /// A process added with `create_process` ended.
    ProcessExited {
        /// Its pid.
        pid: u32,
        /// How it ended.
        status: ExitStatus,
    },
    /// The OOM killer ran inside the system.
    OutOfMemory,
    /// The first process ended; the system is Stopped.
    Exited {
        /// How it ended.
        status: ExitStatus,
    },
    /// The system and all it held are gone.
    Deleted,
}

/// An [`Event`] with the system it concerns and its time: the envelope subscribers receive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemEvent {
    /// The compute system's id.
    pub id: String,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened.
    pub event: Event,
}
