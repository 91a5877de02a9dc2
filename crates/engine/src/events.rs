//! Engine events (Docker's `/events`): every state change of an object is published here.
//! Subscribers that fall behind lose the oldest events rather than slowing the engine down.

use std::collections::BTreeMap;

use chrono::Utc;
use serde::Serialize;
use tokio::sync::broadcast;

/// How many events a slow subscriber may lag behind before it misses some.
const BACKLOG: usize = 1024;

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
}

/// Publishes events to every current subscriber.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus {
            tx: broadcast::channel(BACKLOG).0,
        }
    }
}

impl EventBus {
    /// Publishes an image event; `name` goes into the `name` attribute as Docker does.
    pub fn image(&self, action: &str, actor_id: &str, name: Option<&str>) {
        let mut attributes = BTreeMap::new();
        if let Some(name) = name {
            attributes.insert("name".to_string(), name.to_string());
        }
        // No subscriber is not an error.
        let _ = self.tx.send(Event {
            kind: "image",
            action: action.to_string(),
            actor_id: actor_id.to_string(),
            attributes,
            time_nano: Utc::now().timestamp_nanos_opt().unwrap_or_default(),
        });
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
        let _ = self.tx.send(Event {
            kind: "container",
            action: action.to_string(),
            actor_id: c.id.clone(),
            attributes,
            time_nano: Utc::now().timestamp_nanos_opt().unwrap_or_default(),
        });
    }

    /// A new subscription, starting with the next event.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
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
}
