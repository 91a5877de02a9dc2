//! Document [`Resources`] → OCI `LinuxResources`. The OCI values are cgroup-v1 shaped (shares,
//! quota/period, memory+swap); runtimes translate them for cgroup v2, so one spec serves this
//! machine's hybrid layout and pure v2 hosts alike.

use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use crate::document::Resources;

/// The CFS period Docker uses for `--cpus`: 100 ms.
pub const DEFAULT_CPU_PERIOD_US: u64 = 100_000;

/// `--cpus` as a CFS quota for [`DEFAULT_CPU_PERIOD_US`]: 1.5 cpus → 150 000 µs per 100 000 µs.
/// Rounded down but never below the kernel's 1 ms minimum quota.
pub fn nano_cpus_to_quota(nano_cpus: i64) -> i64 {
    let period = DEFAULT_CPU_PERIOD_US as i128;
    let quota = i128::from(nano_cpus) * period / 1_000_000_000;
    i64::try_from(quota).unwrap_or(i64::MAX).max(1000)
}

/// Builds the cgroup settings. Only the limits that are set appear, so an update built from
/// the same function changes nothing else.
pub fn linux_resources(resources: &Resources) -> LinuxResources {
    let mut out = LinuxResources::default();

    if resources.memory_bytes.is_some() || resources.memory_swap.is_some() {
        let mut memory = LinuxMemory::default();
        memory
            .set_limit(resources.memory_bytes)
            .set_swap(resources.memory_swap);
        out.set_memory(Some(memory));
    }

    let (quota, period) = match resources.nano_cpus {
        Some(nano) => (Some(nano_cpus_to_quota(nano)), Some(DEFAULT_CPU_PERIOD_US)),
        None => (resources.cpu_quota, resources.cpu_period),
    };
    if quota.is_some() || period.is_some() || resources.cpu_shares.is_some() {
        let mut cpu = LinuxCpu::default();
        cpu.set_quota(quota)
            .set_period(period)
            .set_shares(resources.cpu_shares);
        out.set_cpu(Some(cpu));
    }

    if let Some(limit) = resources.pids_limit {
        let mut pids = LinuxPids::default();
        // 0 and -1 both mean unlimited to callers; OCI spells unlimited as -1 ("max").
        pids.set_limit(if limit <= 0 { -1 } else { limit });
        out.set_pids(Some(pids));
    }
    out
}
