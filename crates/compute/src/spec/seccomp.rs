//! silo's default seccomp profile, kept as data.
//!
//! The approach is Docker's: deny by default (EPERM) and allow a list of syscalls that ordinary
//! programs need and that are namespaced or harmless. Syscalls that reach global kernel state
//! (mount, module loading, kexec, keyrings, clock setting, ...) stay denied unless the
//! capability that would authorise them anyway was granted, in which case the rule gated on
//! that capability opens them. The profile is resolved per container, against its capabilities
//! and the host's architecture, when the spec is generated.
//!
//! Two rules need care. `clone` is allowed only without `CLONE_NEW*` flags (new namespaces need
//! CAP_SYS_ADMIN). `clone3` passes its flags in memory where seccomp cannot see them, so it
//! fails with ENOSYS and glibc falls back to `clone`.

use oci_spec::runtime::{
    Arch, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder,
    LinuxSeccompOperator, LinuxSyscall,
};

use super::SpecError;

/// errno for everything not allowed.
pub const EPERM: u32 = 1;
/// errno for `clone3`, so libcs fall back to `clone`.
pub const ENOSYS: u32 = 38;
/// `CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
/// CLONE_NEWNET`.
pub const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;
/// `AF_VSOCK`: reaches the hypervisor's host services, never needed inside a container.
const AF_VSOCK: u64 = 40;

#[derive(Clone, Copy)]
enum Action {
    Allow,
    Errno(u32),
}

/// One argument comparison: index, value, value_two, operator.
#[derive(Clone, Copy)]
struct Arg(usize, u64, u64, LinuxSeccompOperator);

const fn eq(index: usize, value: u64) -> Arg {
    Arg(index, value, 0, LinuxSeccompOperator::ScmpCmpEq)
}

/// Which host architectures a rule is for.
#[derive(Clone, Copy, PartialEq)]
enum ArchFamily {
    Any,
    X86,
    Arm,
}

struct Rule {
    names: &'static [&'static str],
    action: Action,
    /// Comparisons OR-ed together: the rule becomes one OCI entry per comparison, because
    /// runtimes split multi-argument entries into separate (OR-ed) filters anyway.
    args: &'static [Arg],
    arch: ArchFamily,
    /// The rule applies only if the container holds this capability.
    requires: Option<Capability>,
    /// The rule applies only if the container lacks this capability.
    unless: Option<Capability>,
}

const fn allow(names: &'static [&'static str]) -> Rule {
    Rule {
        names,
        action: Action::Allow,
        args: &[],
        arch: ArchFamily::Any,
        requires: None,
        unless: None,
    }
}

const fn allow_with(cap: Capability, names: &'static [&'static str]) -> Rule {
    Rule {
        requires: Some(cap),
        ..allow(names)
    }
}

/// Everything an ordinary Linux userland needs: file and socket I/O, memory, signals, threads,
/// timers, process control within the container, identity changes within the container's
/// user namespace, and the 32-bit variants for compat binaries.
#[rustfmt::skip]
const BASE: &[&str] = &[
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget",
    "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
    "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
    "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
    "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
    "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
    "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
    "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr",
    "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
    "ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv",
    "futex_wake", "futimesat", "get_robust_list", "get_thread_area", "getcpu", "getcwd",
    "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32",
    "getgroups", "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid",
    "getppid", "getpriority", "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32",
    "getrlimit", "getrusage", "getsid", "getsockname", "getsockopt", "gettid", "gettimeofday",
    "getuid", "getuid32", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1",
    "inotify_rm_watch", "io_cancel", "io_destroy", "io_getevents", "io_pgetevents",
    "io_pgetevents_time64", "io_setup", "io_submit", "ioctl", "ioprio_get", "ioprio_set", "ipc",
    "kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown",
    "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr", "_llseek",
    "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "map_shadow_stack",
    "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod",
    "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr",
    "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
    "mq_timedsend_time64", "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync",
    "munlock", "munlockall", "munmap", "nanosleep", "newfstatat", "_newselect", "open", "openat",
    "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc",
    "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv",
    "preadv2", "prlimit64", "process_mrelease", "process_vm_readv", "process_vm_writev",
    "pselect6", "pselect6_time64", "ptrace", "pwrite64", "pwritev", "pwritev2", "read",
    "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg",
    "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "rename", "renameat",
    "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
    "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_get_priority_max",
    "sched_get_priority_min", "sched_getaffinity", "sched_getattr", "sched_getparam",
    "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64",
    "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield",
    "seccomp", "select", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send",
    "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "set_robust_list",
    "set_thread_area", "set_tid_address", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32",
    "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority",
    "setregid", "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid",
    "setreuid32", "setrlimit", "setsid", "setsockopt", "setuid", "setuid32", "setxattr", "shmat",
    "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask",
    "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64",
    "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee",
    "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
    "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
    "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate",
    "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat",
    "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
    "writev",
];

/// The profile's rules, in the order they appear in the generated spec.
const RULES: &[Rule] = &[
    allow(BASE),
    // Any socket family but vsock.
    Rule {
        args: &[Arg(0, AF_VSOCK, 0, LinuxSeccompOperator::ScmpCmpNe)],
        ..allow(&["socket"])
    },
    // Only the execution domains programs actually ask for: Linux, Linux with 32-bit
    // addresses, UNAME26 variants, and the query value 0xffffffff.
    Rule {
        args: &[
            eq(0, 0x0),
            eq(0, 0x0008),
            eq(0, 0x20000),
            eq(0, 0x20008),
            eq(0, 0xffff_ffff),
        ],
        ..allow(&["personality"])
    },
    // Threads and forks, but no new namespaces: `(flags & CLONE_NAMESPACE_FLAGS) == 0`.
    // Runtimes disagree on which of value/valueTwo is the mask for SCMP_CMP_MASKED_EQ: runc
    // and crun take `value` as the mask, youki's libcontainer takes `valueTwo`. Both
    // orientations are listed; under either reading one entry is the intended test and the
    // other compares against a zero mask and can never match, so the result is the same.
    Rule {
        args: &[
            Arg(
                0,
                CLONE_NAMESPACE_FLAGS,
                0,
                LinuxSeccompOperator::ScmpCmpMaskedEq,
            ),
            Arg(
                0,
                0,
                CLONE_NAMESPACE_FLAGS,
                LinuxSeccompOperator::ScmpCmpMaskedEq,
            ),
        ],
        unless: Some(Capability::SysAdmin),
        ..allow(&["clone"])
    },
    Rule {
        action: Action::Errno(ENOSYS),
        unless: Some(Capability::SysAdmin),
        ..allow(&["clone3"])
    },
    Rule {
        arch: ArchFamily::X86,
        ..allow(&["arch_prctl", "modify_ldt"])
    },
    Rule {
        arch: ArchFamily::Arm,
        ..allow(&[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "breakpoint",
            "cacheflush",
            "set_tls",
            "sync_file_range2",
        ])
    },
    allow_with(
        Capability::SysAdmin,
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "name_to_handle_at",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    allow_with(Capability::SysBoot, &["reboot"]),
    allow_with(Capability::SysChroot, &["chroot"]),
    allow_with(
        Capability::SysModule,
        &["delete_module", "finit_module", "init_module"],
    ),
    allow_with(Capability::SysPacct, &["acct"]),
    allow_with(
        Capability::SysPtrace,
        &["kcmp", "pidfd_getfd", "process_madvise"],
    ),
    allow_with(Capability::SysRawio, &["ioperm", "iopl"]),
    allow_with(
        Capability::SysTime,
        &["clock_settime", "clock_settime64", "settimeofday", "stime"],
    ),
    allow_with(Capability::SysTtyConfig, &["vhangup"]),
    allow_with(
        Capability::SysNice,
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    allow_with(Capability::Syslog, &["syslog"]),
    allow_with(Capability::Bpf, &["bpf"]),
    allow_with(Capability::Perfmon, &["perf_event_open"]),
];

fn family(arch: &str) -> ArchFamily {
    match arch {
        "x86_64" | "x86" => ArchFamily::X86,
        "aarch64" | "arm" => ArchFamily::Arm,
        _ => ArchFamily::Any,
    }
}

/// The seccomp architectures a filter for `arch` (a `std::env::consts::ARCH` value) must
/// cover: the native one plus the compat ABIs the kernel also accepts, or a 32-bit binary
/// would slip past the filter.
pub fn architectures(arch: &str) -> Vec<Arch> {
    match arch {
        "x86_64" => vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32],
        "x86" => vec![Arch::ScmpArchX86],
        "aarch64" => vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm],
        "arm" => vec![Arch::ScmpArchArm],
        _ => vec![Arch::ScmpArchNative],
    }
}

fn syscall(names: &[&str], action: Action, arg: Option<Arg>) -> Result<LinuxSyscall, SpecError> {
    let mut call = LinuxSyscall::default();
    call.set_names(names.iter().map(|n| n.to_string()).collect());
    match action {
        Action::Allow => call.set_action(LinuxSeccompAction::ScmpActAllow),
        Action::Errno(errno) => call
            .set_action(LinuxSeccompAction::ScmpActErrno)
            .set_errno_ret(Some(errno)),
    };
    if let Some(Arg(index, value, value_two, op)) = arg {
        let mut cmp = LinuxSeccompArgBuilder::default()
            .index(index)
            .value(value)
            .op(op);
        if op == LinuxSeccompOperator::ScmpCmpMaskedEq {
            cmp = cmp.value_two(value_two);
        }
        call.set_args(Some(vec![cmp.build()?]));
    }
    Ok(call)
}

/// The default profile for a container holding `caps`, on architecture `arch`
/// (`std::env::consts::ARCH` for the host).
pub fn default_seccomp(caps: &[Capability], arch: &str) -> Result<LinuxSeccomp, SpecError> {
    let host = family(arch);
    let mut syscalls = Vec::new();
    for rule in RULES {
        let arch_ok = rule.arch == ArchFamily::Any || rule.arch == host;
        let requires_ok = rule.requires.is_none_or(|c| caps.contains(&c));
        let unless_ok = rule.unless.is_none_or(|c| !caps.contains(&c));
        if !(arch_ok && requires_ok && unless_ok) {
            continue;
        }
        if rule.args.is_empty() {
            syscalls.push(syscall(rule.names, rule.action, None)?);
        } else {
            for arg in rule.args {
                syscalls.push(syscall(rule.names, rule.action, Some(*arg))?);
            }
        }
    }
    let mut profile = LinuxSeccomp::default();
    profile
        .set_default_action(LinuxSeccompAction::ScmpActErrno)
        .set_default_errno_ret(Some(EPERM))
        .set_architectures(Some(architectures(arch)))
        .set_syscalls(Some(syscalls));
    Ok(profile)
}
