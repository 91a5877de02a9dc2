//! A daemon crash loses nothing: containers logging fast while silod is killed -9 keep running,
//! every line they wrote (including while no daemon ran) is in `docker logs` afterwards, in
//! order, `ps` lists them, and stop/wait/rm work on them.

use std::thread::sleep;
use std::time::Duration;

use silo_testkit::{can_run_containers, World};

/// The numbers a `counter` container printed, checked to be 0, 1, 2, … without a gap.
fn contiguous_count(logs: &str) -> usize {
    let numbers: Vec<usize> = logs
        .lines()
        .map(|l| {
            l.trim()
                .parse()
                .unwrap_or_else(|_| panic!("odd line {l:?}"))
        })
        .collect();
    for (i, n) in numbers.iter().enumerate() {
        assert_eq!(*n, i, "line {i} is {n}: a line was lost or reordered");
    }
    numbers.len()
}

#[test]
fn chatty_containers_lose_no_line_across_a_daemon_kill() {
    if !can_run_containers() {
        return;
    }
    let mut w = World::new();
    let img = w.image.clone();
    let counter = "i=0; while true; do echo $i; i=$((i+1)); sleep 0.01; done";
    for name in ["count-a", "count-b"] {
        w.docker(&["run", "-d", "--name", name, &img, "sh", "-c", counter]);
    }
    w.docker(&[
        "run",
        "-d",
        "--name",
        "done-early",
        &img,
        "sh",
        "-c",
        "sleep 1; exit 7",
    ]);
    w.wait_for_log("count-a", "50");

    w.daemon.kill9();
    // Containers keep running and logging (and one exits) while no daemon is there.
    sleep(Duration::from_secs(2));
    w.daemon.restart();

    let ps = w.docker(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    for name in ["count-a", "count-b"] {
        let row = ps.lines().find(|l| l.starts_with(name));
        assert!(
            row.is_some_and(|r| r.contains("Up ")),
            "{name} not running after restart: {ps}\n{}",
            w.daemon.log()
        );
    }
    // The exit that happened while the daemon was down is known, with its code.
    assert_eq!(w.docker(&["wait", "done-early"]).trim(), "7");
    assert_eq!(w.state("done-early"), "exited 7");

    for name in ["count-a", "count-b"] {
        w.docker(&["stop", "-t", "2", name]);
        let logs = w.docker(&["logs", name]);
        let n = contiguous_count(&logs);
        // ~100 lines a second for well over 2 s, most of them while the daemon was dead.
        assert!(n > 150, "{name}: only {n} lines");
    }
    w.docker(&["rm", "count-a", "count-b", "done-early"]);
    assert_eq!(w.docker(&["ps", "-aq"]).trim(), "");
}
