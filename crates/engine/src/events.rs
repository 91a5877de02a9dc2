//! Engine events (Docker's `/events`): every state change of an object is published here.
//! Subscribers that fall behind lose the oldest events rather than slowing the engine down.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use serde::Serialize;
use tokio::sync::broadcast;

/// How many events a slow subscriber may lag behind before it misses some.
const BACKLOG: usize = 1024;
/// How many past events are kept for `/events?since=` (Docker keeps 256).
pub const HISTORY: usize = 1024;

/// One event, in the shape of Docker's `EventMessage`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Event {
    /// `image`, `container`, `network`, …
    pub kind: &'static str,
    /// `pull`, `tag`, `untag`, `delete`, `push`, `load`, `save`, `import`, …
    pub action: String,
    /// The object's id (for images: the reference or id the action was about).
    pub actor_id: String,
    pub attributes: BTreeMap<String, String>,
    /// Nanoseconds since the epoch.
    pub time_nano: i64,
    /// Position on the bus (1, 2, …), so a subscriber can join history and live events
    /// without gaps or duplicates.
    pub seq: u64,
}

#[derive(Debug, Default)]
struct History {
    events: VecDeque<Event>,
    next_seq: u64,
}

/// Publishes events to every current subscriber and keeps the last [`HISTORY`] of them.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
    history: Arc<Mutex<History>>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus {
            tx: broadcast::channel(BACKLOG).0,
            history: Arc::default(),
        }
    }
}

impl EventBus {
    fn history(&self) -> std::sync::MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stamps, records and sends one event. Recording and sending happen under one lock so
    /// [`EventBus::subscribe_with_history`] sees each event exactly once.
    fn publish(
        &self,
        kind: &'static str,
        action: &str,
        actor_id: &str,
        attributes: BTreeMap<String, String>,
    ) {
        let mut history = self.history();
        history.next_seq += 1;
        let event = Event {
            kind,
            action: action.to_string(),
            actor_id: actor_id.to_string(),
            attributes,
            time_nano: Utc::now().timestamp_nanos_opt().unwrap_or_default(),
            seq: history.next_seq,
        };
        if history.events.len() == HISTORY {
            history.events.pop_front();
        }
        history.events.push_back(event.clone());
        // No subscriber is not an error.
        let _ = self.tx.send(event);
    }

    /// Publishes an image event; `name` goes into the `name` attribute as Docker does.
    pub fn image(&self, action: &str, actor_id: &str, name: Option<&str>) {
        let mut attributes = BTreeMap::new();
        if let Some(name) = name {
            attributes.insert("name".to_string(), name.to_string());
        }
        self.publish("image", action, actor_id, attributes);
    }

    /// Publishes a container event with Docker's attributes (`name`, `image`, labels) plus
    /// `extra` (`exitCode`, `signal`).
    pub fn container(&self, action: &str, c: &crate::Container, extra: &[(&str, String)]) {
        let mut attributes: BTreeMap<String, String> =
            c.config.labels.clone().into_iter().collect();
        attributes.insert("name".to_string(), c.short_name().to_string());
        attributes.insert("image".to_string(), c.image_name.clone());
        for (k, v) in extra {
            attributes.insert((*k).to_string(), v.clone());
        }
        self.publish("container", action, &c.id, attributes);
    }

    /// Publishes a network event with Docker's attributes (`name`, `type` = the driver) plus
    /// `extra` (`container` for connect and disconnect).
    pub fn network(&self, action: &str, n: &silo_network::Network, extra: &[(&str, String)]) {
        let mut attributes = BTreeMap::from([
            ("name".to_string(), n.name.clone()),
            ("type".to_string(), n.driver.as_str().to_string()),
        ]);
        for (k, v) in extra {
            attributes.insert((*k).to_string(), v.clone());
        }
        self.publish("network", action, &n.id, attributes);
    }

    /// Publishes a `prune` event of `kind` objects (`container`, `image`) with the space
    /// reclaimed, as Docker does.
    pub fn prune(&self, kind: &'static str, reclaimed: u64) {
        let attributes = BTreeMap::from([("reclaimed".to_string(), reclaimed.to_string())]);
        self.publish(kind, "prune", "", attributes);
    }

    /// A new subscription, starting with the next event.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// The kept history plus a subscription that continues exactly after it.
    pub fn subscribe_with_history(&self) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let history = self.history();
        let rx = self.tx.subscribe();
        (history.events.iter().cloned().collect(), rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribers_see_events_published_after_they_subscribe() {
        let bus = EventBus::default();
        bus.image("pull", "early", None);
        let mut rx = bus.subscribe();
        bus.image("tag", "sha256:abc", Some("busybox:latest"));
        let event = rx.try_recv().unwrap();
        assert_eq!(event.action, "tag");
        assert_eq!(event.attributes["name"], "busybox:latest");
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn history_is_bounded_and_joins_the_live_stream() {
        let bus = EventBus::default();
        for i in 0..HISTORY + 5 {
            bus.image("tag", &i.to_string(), None);
        }
        let (past, mut rx) = bus.subscribe_with_history();
        assert_eq!(past.len(), HISTORY);
        assert_eq!(past[0].actor_id, "5");
        bus.image("untag", "next", None);
        let live = rx.try_recv().unwrap();
        assert_eq!(live.seq, past.last().unwrap().seq + 1);
    }
}
