//! Tests of the test kit itself: fixtures, skopeo pushes and the registry harness. These need
//! no silod, so they pass on their own and prove the ground the e2e tests stand on.

use std::process::Command;

use silo_testkit::fixtures::{self, WINDOWS_OS_VERSIONS};
use silo_testkit::http;
use silo_testkit::{run_ok, TestRegistry};

fn skopeo_inspect_raw(image: &str, creds: Option<&str>) -> Vec<u8> {
    let mut c = Command::new("skopeo");
    c.args(["inspect", "--raw", "--tls-verify=false"]);
    if let Some(creds) = creds {
        c.args(["--creds", creds]);
    }
    c.arg(format!("docker://{image}"));
    run_ok(&mut c).into_bytes()
}

#[test]
fn busybox_fixture_is_deterministic() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let la = fixtures::build_busybox(a.path()).unwrap();
    let lb = fixtures::build_busybox(b.path()).unwrap();
    assert_eq!(la.index_digest, lb.index_digest);
    let m = la.primary().unwrap();
    assert_eq!(m.platform.os, "linux");
    assert_eq!(m.layers.len(), 1);
}

#[test]
fn busybox_rootfs_has_shell_and_sticky_tmp() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("rootfs.tar");
    fixtures::write_busybox_rootfs(&out).unwrap();
    let mut ar = tar::Archive::new(std::fs::File::open(&out).unwrap());
    let mut seen_sh = false;
    let mut tmp_mode = None;
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        if path == "bin/sh" {
            seen_sh = true;
            assert_eq!(
                e.link_name().unwrap().unwrap().to_str(),
                Some("/bin/busybox")
            );
        }
        if path == "tmp/" {
            tmp_mode = Some(e.header().mode().unwrap());
        }
    }
    assert!(seen_sh);
    assert_eq!(tmp_mode, Some(0o1777));
}

#[test]
fn multiplatform_layers_carry_windows_pax_records() {
    let d = tempfile::tempdir().unwrap();
    let layout = fixtures::build_multiplatform(d.path()).unwrap();
    assert_eq!(layout.manifests.len(), 2 + WINDOWS_OS_VERSIONS.len());
    let win = layout.manifest_with_os_version("10.0.17763.5820").unwrap();
    let blob = fixtures::oci::blob_path(&layout.dir, &win.layers[0]);
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(blob).unwrap());
    let mut ar = tar::Archive::new(gz);
    let mut files = 0;
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        assert!(
            path.starts_with("Files") || path.starts_with("Hives"),
            "{path}"
        );
        let keys: Vec<String> = e
            .pax_extensions()
            .unwrap()
            .expect("every windows entry has PAX records")
            .map(|x| x.unwrap().key().unwrap().to_string())
            .collect();
        for k in [
            "MSWINDOWS.fileattr",
            "MSWINDOWS.rawsd",
            "LIBARCHIVE.creationtime",
        ] {
            assert!(keys.iter().any(|x| x == k), "{path} lacks {k}: {keys:?}");
        }
        files += 1;
    }
    assert!(files >= 6);
}

#[test]
fn registry_answers_and_keeps_digests_from_skopeo() {
    let reg = TestRegistry::start();
    let r = http::get_tcp(reg.addr(), "/v2/", std::time::Duration::from_secs(5)).unwrap();
    assert_eq!(r.status, 200);

    let d = tempfile::tempdir().unwrap();
    let layout = fixtures::build_multiplatform(d.path()).unwrap();
    reg.push_layout(&layout.dir, "multi:latest").unwrap();
    let raw = skopeo_inspect_raw(&reg.image("multi:latest"), None);
    assert_eq!(fixtures::oci::sha256_digest(&raw), layout.index_digest);
    let win = layout.manifest_with_os_version("10.0.20348.2527").unwrap();
    let raw = skopeo_inspect_raw(&reg.image(&format!("multi@{}", win.digest)), None);
    assert_eq!(fixtures::oci::sha256_digest(&raw), win.digest);
}

#[test]
fn registry_with_htpasswd_challenges_and_accepts_creds() {
    let reg = TestRegistry::start_with_htpasswd("silo", "s3cret");
    let r = http::get_tcp(reg.addr(), "/v2/", std::time::Duration::from_secs(5)).unwrap();
    assert_eq!(r.status, 401);
    assert!(r
        .headers
        .to_ascii_lowercase()
        .contains("www-authenticate: basic"));

    let d = tempfile::tempdir().unwrap();
    let layout = fixtures::build_busybox(d.path()).unwrap();
    reg.push_layout(&layout.dir, "busybox:latest").unwrap();
    let raw = skopeo_inspect_raw(&reg.image("busybox:latest"), Some("silo:s3cret"));
    assert_eq!(fixtures::oci::sha256_digest(&raw), layout.index_digest);
}

#[test]
fn registry_dir_is_removed_on_drop() {
    let reg = TestRegistry::start();
    let dir = reg.dir().to_path_buf();
    assert!(dir.join("config.yml").is_file());
    drop(reg);
    assert!(!dir.exists());
}

/// A stand-in `silod` (python3) that serves `/_ping` on the `-H unix://` socket, so the
/// daemon harness's lifecycle is tested before the real daemon exists.
const FAKE_SILOD: &str = r#"#!/usr/bin/env python3
import os, socket, sys
args = sys.argv[1:]
sock = args[args.index("-H") + 1][len("unix://"):]
pidfile = args[args.index("--pidfile") + 1]
open(pidfile, "w").write(str(os.getpid()))
if os.path.exists(sock):
    os.unlink(sock)
s = socket.socket(socket.AF_UNIX)
s.bind(sock)
s.listen(8)
print("fake silod listening", flush=True)
while True:
    c, _ = s.accept()
    c.recv(4096)
    c.sendall(b"HTTP/1.0 200 OK\r\nApi-Version: 1.51\r\nContent-Length: 2\r\n\r\nOK")
    c.close()
"#;

#[test]
fn daemon_harness_lifecycle_with_fake_silod() {
    use std::os::unix::fs::PermissionsExt;
    if Command::new("python3").arg("-V").output().is_err() {
        eprintln!("python3 missing: skipping");
        return;
    }
    let bins = tempfile::tempdir().unwrap();
    let silod = bins.path().join("silod");
    std::fs::write(&silod, FAKE_SILOD).unwrap();
    std::fs::set_permissions(&silod, std::fs::Permissions::from_mode(0o755)).unwrap();

    let mut d = silo_testkit::TestDaemon::try_start_from(bins.path(), "{}", &[]).unwrap();
    let dir = d.dir().to_path_buf();
    assert!(d.docker_host().starts_with("unix://"));
    assert_eq!(
        std::fs::read_to_string(dir.join("daemon.json")).unwrap(),
        "{}"
    );
    let first = d.pid().unwrap();
    assert!(d.log().contains("fake silod listening"));

    d.kill9();
    assert!(d.pid().is_none());
    d.restart();
    assert_ne!(d.pid().unwrap(), first);
    let r = http::get_unix(&d.socket(), "/_ping", std::time::Duration::from_secs(5)).unwrap();
    assert_eq!(r.text(), "OK");

    // The stock docker CLI reaches it through DOCKER_HOST (and fails on the fake's answers,
    // which is fine: the point is the wiring).
    let out = d.docker().arg("version").output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("Client"), "{text}");

    drop(d);
    assert!(!dir.exists());
}

#[test]
fn daemon_harness_reports_early_exit_with_log() {
    use std::os::unix::fs::PermissionsExt;
    let bins = tempfile::tempdir().unwrap();
    let silod = bins.path().join("silod");
    std::fs::write(
        &silod,
        "#!/bin/sh\necho 'bad flag --frobnicate' >&2\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&silod, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = silo_testkit::TestDaemon::try_start_from(bins.path(), "{}", &[]).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("exited during startup"), "{msg}");
    assert!(msg.contains("bad flag --frobnicate"), "{msg}");
}
