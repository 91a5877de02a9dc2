//! silo's test kit: offline image fixtures, a real registry, and a `silod` under test.
//!
//! Everything here drives real programs (Debian's `docker-registry`, skopeo, the stock docker
//! CLI, our own binaries) because the behaviour that matters is what those clients see on the
//! wire. Harnesses clean up on `Drop`, so a panicking test leaves no process or mount behind.

pub mod cmd;
pub mod daemon;
pub mod fixtures;
pub mod http;
pub mod registry;
pub mod slots;
pub mod world;

pub use cmd::{run_fail, run_ok};
pub use daemon::TestDaemon;
pub use registry::TestRegistry;
pub use world::{can_run_containers, World};
