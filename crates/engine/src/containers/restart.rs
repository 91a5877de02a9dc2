//! Restart policies (`--restart no|always|on-failure[:N]|unless-stopped`) and `docker restart`.
//!
//! After an exit the monitor asks [`Engine::apply_restart_policy`]; the container waits out a
//! back-off as `restarting` (Docker's: 100 ms, doubling up to a minute, back to 100 ms once a
//! run lasted 10 s) and then gets a fresh compute system. A user's `stop` (or `kill` with
//! SIGKILL or the stop signal) sets `manually_stopped`, which silences the policy until the
//! next start. At daemon start [`Engine::autostart`] brings back `always` containers, and
//! `unless-stopped` ones that no user stopped, plus `on-failure` ones that failed while the
//! daemon was down.

use std::time::Duration;

use super::model::{Container, RestartPolicy, Status};
use crate::{Engine, Result};

/// First back-off.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
/// Longest back-off.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A run at least this long resets the back-off.
pub const RESET_AFTER: Duration = Duration::from_secs(10);

/// Whether `policy` restarts a container that exited with `exit_code` after `restarts`
/// restarts (manual stops are the caller's business).
pub fn should_restart(policy: &RestartPolicy, exit_code: i32, restarts: i64) -> bool {
    match policy.name.as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => {
            let max = policy.maximum_retry_count;
            exit_code != 0 && (max == 0 || restarts < max)
        }
        _ => false,
    }
}

/// Docker's restart manager: the next delay given the previous one and how long the run lasted.
pub fn next_backoff(previous: Option<Duration>, ran: Duration) -> Duration {
    let previous = previous.filter(|_| ran < RESET_AFTER);
    match previous {
        None => INITIAL_BACKOFF,
        Some(d) => (d * 2).min(MAX_BACKOFF),
    }
}

fn ran_for(c: &Container) -> Duration {
    match (c.state.started_at, c.state.finished_at) {
        (Some(s), Some(f)) => (f - s).to_std().unwrap_or_default(),
        _ => Duration::ZERO,
    }
}

impl Engine {
    /// Restarts `id` after an exit if its policy says so, after the back-off. The decision is
    /// taken under the container's lock, so a concurrent `stop` either comes first (and the
    /// policy sees `manually_stopped`) or finds the container `restarting` and cancels it.
    pub(super) async fn apply_restart_policy(&self, id: &str) {
        let delay = {
            let _guard = self.containers.lock(id).await;
            let Ok(mut c) = self.containers.store().find(id) else {
                return;
            };
            if c.state.status != Status::Exited
                || c.state.manually_stopped
                || !should_restart(
                    &c.host_config.restart_policy,
                    c.state.exit_code,
                    c.state.restart_count,
                )
            {
                self.containers.backoff().remove(id);
                return;
            }
            let delay = {
                let mut backoff = self.containers.backoff();
                let delay = next_backoff(backoff.get(id).copied(), ran_for(&c));
                backoff.insert(id.to_string(), delay);
                delay
            };
            c.state.status = Status::Restarting;
            if !matches!(self.containers.store().update(&c), Ok(true)) {
                return;
            }
            delay
        };
        tokio::time::sleep(delay).await;
        let _guard = self.containers.lock(id).await;
        let Ok(c) = self.containers.store().find(id) else {
            return;
        };
        if c.state.status != Status::Restarting {
            return; // stopped or restarted by a user meanwhile
        }
        if let Err(e) = self.start_locked(c, true).await {
            tracing::warn!("restart container {id}: {e}");
            self.give_up_restart(id, &e.to_string());
        }
    }

    fn give_up_restart(&self, id: &str, why: &str) {
        let store = self.containers.store();
        if let Ok(mut c) = store.find(id) {
            c.state.status = Status::Exited;
            c.state.error = why.to_string();
            let _ = store.update(&c);
        }
    }

    /// At daemon start: starts the containers their policy wants running (see module docs).
    /// `exited_while_down` are those whose exit was found by the reconnect.
    pub(super) fn autostart(&self, exited_while_down: &[String]) {
        let Ok(records) = self.containers.store().all() else {
            return;
        };
        let wanted: Vec<String> = records
            .into_iter()
            .filter(|c| c.state.status == Status::Exited && c.state.started_at.is_some())
            .filter(|c| {
                let p = &c.host_config.restart_policy;
                match p.name.as_str() {
                    "always" => true,
                    "unless-stopped" => !c.state.manually_stopped,
                    "on-failure" => {
                        !c.state.manually_stopped
                            && exited_while_down.contains(&c.id)
                            && should_restart(p, c.state.exit_code, c.state.restart_count)
                    }
                    _ => false,
                }
            })
            .map(|c| c.id)
            .collect();
        for id in wanted {
            let engine = self.clone();
            tokio::spawn(async move {
                let _guard = engine.containers.lock(&id).await;
                let Ok(c) = engine.containers.store().find(&id) else {
                    return;
                };
                if c.state.status != Status::Exited {
                    return;
                }
                if let Err(e) = engine.start_locked(c, false).await {
                    tracing::warn!("start container {id} at daemon start: {e}");
                    engine.give_up_restart(&id, &e.to_string());
                }
            });
        }
    }

    /// `docker restart`: stop (as `stop` does, if it runs), then start; publishes `restart`.
    pub async fn restart_container(
        &self,
        key: &str,
        signal: Option<i32>,
        timeout_secs: Option<i64>,
    ) -> Result<()> {
        let id = self.containers.store().find(key)?.id;
        let _guard = self.containers.lock(&id).await;
        let c = self.containers.store().find(&id)?;
        if c.state.status.is_live() {
            match self.stop_locked(c, signal, timeout_secs).await {
                Ok(_) => {}
                Err(crate::EngineError::Container(super::ContainerError::NotModified(_))) => {}
                Err(e) => return Err(e),
            }
        }
        let c = self.containers.store().find(&id)?;
        self.start_locked(c, false).await?;
        let c = self.containers.store().find(&id)?;
        self.events.container("restart", &c, &[]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, max: i64) -> RestartPolicy {
        RestartPolicy {
            name: name.into(),
            maximum_retry_count: max,
        }
    }

    #[test]
    fn policies_decide_like_dockers() {
        assert!(!should_restart(&policy("", 0), 1, 0));
        assert!(!should_restart(&policy("no", 0), 1, 0));
        assert!(should_restart(&policy("always", 0), 0, 5));
        assert!(should_restart(&policy("unless-stopped", 0), 0, 0));
        assert!(!should_restart(&policy("on-failure", 0), 0, 0));
        assert!(should_restart(&policy("on-failure", 0), 1, 100));
        assert!(should_restart(&policy("on-failure", 2), 1, 1));
        assert!(!should_restart(&policy("on-failure", 2), 1, 2));
    }

    #[test]
    fn backoff_doubles_caps_and_resets() {
        let quick = Duration::from_millis(50);
        let mut d = next_backoff(None, quick);
        assert_eq!(d, Duration::from_millis(100));
        d = next_backoff(Some(d), quick);
        assert_eq!(d, Duration::from_millis(200));
        d = next_backoff(Some(d), quick);
        assert_eq!(d, Duration::from_millis(400));
        assert_eq!(
            next_backoff(Some(Duration::from_secs(50)), quick),
            MAX_BACKOFF
        );
        assert_eq!(
            next_backoff(Some(Duration::from_secs(5)), Duration::from_secs(10)),
            INITIAL_BACKOFF
        );
    }
}
