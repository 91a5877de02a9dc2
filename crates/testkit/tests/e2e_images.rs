//! End-to-end image tests: a real registry, fixtures pushed with skopeo, `silod` on a temp root,
//! driven by the stock docker CLI and by `silo`. Each test owns its registry and daemon, so they
//! run in parallel and a failure leaves nothing behind.
//!
//! These encode the spec for images; they fail until the daemon implements it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use silo_testkit::cmd::run_any;
use silo_testkit::fixtures::{self, Layout, WINDOWS_OS_VERSIONS};
use silo_testkit::{run_fail, run_ok, TestDaemon, TestRegistry};
use tempfile::TempDir;

/// A registry holding one fixture under `repo:latest`, and a daemon allowed to use it.
struct World {
    reg: TestRegistry,
    daemon: TestDaemon,
    layout: Layout,
    _fixture_dir: TempDir,
}

impl World {
    fn new(repo: &str, build: impl FnOnce(&Path) -> anyhow::Result<Layout>) -> Self {
        let dir = tempfile::tempdir().expect("fixture dir");
        let layout = build(&dir.path().join("layout")).expect("build fixture");
        let reg = TestRegistry::start();
        reg.push_layout(&layout.dir, &format!("{repo}:latest"))
            .expect("push fixture with skopeo");
        let daemon = TestDaemon::start_with(&["--insecure-registry", reg.addr()]);
        World {
            reg,
            daemon,
            layout,
            _fixture_dir: dir,
        }
    }

    fn busybox() -> Self {
        Self::new("busybox", fixtures::build_busybox)
    }

    fn multiplatform() -> Self {
        Self::new("multi", fixtures::build_multiplatform)
    }

    fn image(&self, reference: &str) -> String {
        self.reg.image(reference)
    }

    fn docker(&self, args: &[&str]) -> String {
        run_ok(self.daemon.docker().args(args))
    }

    fn silo(&self, args: &[&str]) -> String {
        run_ok(self.daemon.silo().args(args))
    }
}

/// `sha256:<hex>` → the 12-character short ID docker prints.
fn short_id(digest: &str) -> &str {
    &digest.trim_start_matches("sha256:")[..12]
}

/// Rows of a `docker images` / `silo images` table as (repository, tag, image id).
fn image_rows(table: &str) -> Vec<(String, String, String)> {
    let mut lines = table.lines();
    let header = lines.next().unwrap_or_default();
    for col in ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"] {
        assert!(header.contains(col), "no {col} column in:\n{table}");
    }
    lines
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?.into(), f.next()?.into(), f.next()?.into()))
        })
        .collect()
}

fn has_row(table: &str, repo: &str, tag: &str) -> bool {
    image_rows(table)
        .iter()
        .any(|(r, t, _)| r == repo && t == tag)
}

fn skopeo_raw(image: &str) -> Vec<u8> {
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{image}"))
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo inspect --raw {image}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn skopeo_layers(image: &str) -> Vec<String> {
    let out = run_ok(
        Command::new("skopeo")
            .args(["inspect", "--tls-verify=false"])
            .arg(format!("docker://{image}")),
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("skopeo inspect JSON");
    v["Layers"]
        .as_array()
        .expect("Layers array")
        .iter()
        .map(|l| l.as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn docker_version_and_info_talk_to_silod() {
    let d = TestDaemon::start();
    let v = run_ok(d.docker().args([
        "version",
        "--format",
        "{{.Server.APIVersion}} {{.Server.Os}}",
    ]));
    let mut f = v.split_whitespace();
    let api: f64 = f.next().unwrap_or("0").parse().unwrap_or(0.0);
    assert!(api >= 1.40, "server API version {v:?}");
    assert_eq!(f.next(), Some("linux"), "{v}");

    let info = run_ok(d.docker().args(["info", "--format", "{{json .}}"]));
    let info: serde_json::Value = serde_json::from_str(&info).expect("docker info JSON");
    assert_eq!(info["OSType"], "linux", "{info}");
}

#[test]
fn docker_pull_images_inspect_tag_rmi() {
    let w = World::busybox();
    let img = w.image("busybox:latest");
    let m = w.layout.primary().unwrap().clone();

    let out = w.docker(&["pull", &img]);
    assert!(
        out.contains(&w.layout.index_digest),
        "pull output lacks digest:\n{out}"
    );

    let table = w.docker(&["images"]);
    let rows = image_rows(&table);
    let row = rows
        .iter()
        .find(|(r, t, _)| *r == w.image("busybox") && t == "latest")
        .unwrap_or_else(|| panic!("no busybox row in:\n{table}"));
    assert_eq!(row.2, short_id(&m.config_digest));

    let fmt = w.docker(&[
        "image",
        "inspect",
        "--format",
        "{{.Os}}/{{.Architecture}} {{.Id}}",
        &img,
    ]);
    assert_eq!(
        fmt.trim(),
        format!("linux/{} {}", fixtures::oci::host_arch(), m.config_digest)
    );

    // The unpacked layer is what a container's root filesystem will be stacked from.
    let lower = w.docker(&[
        "image",
        "inspect",
        "--format",
        "{{.GraphDriver.Name}} {{.GraphDriver.Data.LowerDir}}",
        &img,
    ]);
    let (driver, lower_dir) = lower.trim().split_once(' ').unwrap();
    assert_eq!(driver, "overlayfs");
    assert!(
        Path::new(lower_dir).join("bin/busybox").is_file(),
        "no bin/busybox under LowerDir {lower_dir}"
    );

    w.docker(&["tag", &img, "busybox:renamed"]);
    assert!(has_row(&w.docker(&["images"]), "busybox", "renamed"));

    let out = w.docker(&["rmi", "busybox:renamed"]);
    assert!(out.contains("Untagged: busybox:renamed"), "{out}");
    let table = w.docker(&["images"]);
    assert!(!has_row(&table, "busybox", "renamed"), "{table}");
    assert!(has_row(&table, &w.image("busybox"), "latest"), "{table}");

    let (_, err) = run_fail(w.daemon.docker().args(["rmi", "no-such-image:nope"]));
    assert!(err.contains("No such image"), "{err}");

    w.docker(&["rmi", &img]);
    assert!(!has_row(
        &w.docker(&["images"]),
        &w.image("busybox"),
        "latest"
    ));
}

#[test]
fn docker_save_rmi_load_restores_same_id() {
    let w = World::busybox();
    let img = w.image("busybox:latest");
    w.docker(&["pull", &img]);
    let id = w.docker(&["image", "inspect", "--format", "{{.Id}}", &img]);

    let tar = w.daemon.dir().join("saved.tar");
    let tar_s = tar.to_string_lossy().into_owned();
    w.docker(&["save", "-o", &tar_s, &img]);
    assert!(fs::metadata(&tar).map(|m| m.len() > 0).unwrap_or(false));

    w.docker(&["rmi", &img]);
    let (_, err) = run_fail(w.daemon.docker().args(["image", "inspect", &img]));
    assert!(err.contains("No such image"), "{err}");

    let out = w.docker(&["load", "-i", &tar_s]);
    assert!(out.contains("Loaded image"), "{out}");
    let again = w.docker(&["image", "inspect", "--format", "{{.Id}}", &img]);
    assert_eq!(id.trim(), again.trim());
}

#[test]
fn docker_push_of_retagged_image_keeps_layer_digests() {
    let w = World::busybox();
    let img = w.image("busybox:latest");
    let pushed = w.image("pushed/busybox:v1");
    w.docker(&["pull", &img]);
    w.docker(&["tag", &img, &pushed]);
    w.docker(&["push", &pushed]);

    let layers = skopeo_layers(&pushed);
    assert_eq!(layers, w.layout.primary().unwrap().layers);
}

#[test]
fn docker_pull_platform_picks_arm64_from_index() {
    let w = World::multiplatform();
    let img = w.image("multi:latest");
    w.docker(&["pull", "--platform", "linux/arm64", &img]);
    let arm = w.layout.manifest("linux", "arm64").unwrap();
    let out = w.docker(&[
        "image",
        "inspect",
        "--format",
        "{{.Os}}/{{.Architecture}} {{.Id}}",
        &img,
    ]);
    assert_eq!(out.trim(), format!("linux/arm64 {}", arm.config_digest));
}

#[test]
fn silo_pull_and_images() {
    let w = World::busybox();
    let img = w.image("busybox:latest");
    w.silo(&["pull", &img]);
    let table = w.silo(&["images"]);
    assert!(has_row(&table, &w.image("busybox"), "latest"), "{table}");
}

#[test]
fn silo_resolve_windows_process_picks_same_build_highest_revision() {
    let w = World::multiplatform();
    let img = w.image("multi:latest");
    let out = w.silo(&[
        "image",
        "resolve",
        &img,
        "--platform",
        "windows/amd64",
        "--os-version",
        "10.0.17763.2000",
        "--isolation",
        "process",
    ]);
    let want = w
        .layout
        .manifest_with_os_version("10.0.17763.5820")
        .unwrap();
    assert!(
        out.contains(&want.digest),
        "expected {}:\n{out}",
        want.digest
    );
    let older = w
        .layout
        .manifest_with_os_version("10.0.17763.1879")
        .unwrap();
    assert!(
        !out.contains(&older.digest),
        "older revision chosen:\n{out}"
    );
}

#[test]
fn silo_resolve_windows_process_on_unlisted_build_explains_every_entry() {
    let w = World::multiplatform();
    let img = w.image("multi:latest");
    let (code, stdout, stderr) = run_any(w.daemon.silo().args([
        "image",
        "resolve",
        &img,
        "--platform",
        "windows/amd64",
        "--os-version",
        "10.0.19041.1",
        "--isolation",
        "process",
    ]));
    let all = format!("{stdout}\n{stderr}");
    assert_ne!(code, 0, "resolve should fail:\n{all}");
    for v in WINDOWS_OS_VERSIONS {
        assert!(all.contains(v), "entry {v} not explained:\n{all}");
    }
    for p in ["linux/amd64", "linux/arm64"] {
        assert!(all.contains(p), "entry {p} not explained:\n{all}");
    }
    assert!(
        all.contains("hyperv"),
        "no hint that hyperv isolation accepts older builds:\n{all}"
    );
}

#[test]
fn silo_import_rootfs_tar_creates_listed_image() {
    let d = TestDaemon::start();
    let tar = d.dir().join("busybox-rootfs.tar");
    fixtures::write_busybox_rootfs(&tar).expect("write rootfs tar");
    run_ok(d.silo().arg("import").arg(&tar).arg("busybox:imported"));
    let table = run_ok(d.silo().arg("images"));
    assert!(has_row(&table, "busybox", "imported"), "{table}");
    let os = run_ok(d.docker().args([
        "image",
        "inspect",
        "--format",
        "{{.Os}}",
        "busybox:imported",
    ]));
    assert_eq!(os.trim(), "linux");
}

#[test]
fn silo_pull_windows_then_push_keeps_manifest_bytes() {
    let w = World::multiplatform();
    let img = w.image("multi:latest");
    w.silo(&[
        "pull",
        "--platform",
        "windows/amd64",
        "--os-version",
        "10.0.17763.2000",
        &img,
    ]);
    // Windows layers are stored for push, never unpacked as a Linux root filesystem.
    let data = w.silo(&[
        "image",
        "inspect",
        "--format",
        "{{.Os}} {{json .GraphDriver.Data}}",
        &img,
    ]);
    assert_eq!(data.trim(), "windows {}");
    let copy = w.image("wincopy:v1");
    w.silo(&["tag", &img, &copy]);
    w.silo(&["push", &copy]);

    let want = w
        .layout
        .manifest_with_os_version("10.0.17763.5820")
        .unwrap();
    let raw = skopeo_raw(&copy);
    assert_eq!(fixtures::oci::sha256_digest(&raw), want.digest);
    let original = fs::read(fixtures::oci::blob_path(&w.layout.dir, &want.digest)).unwrap();
    assert_eq!(raw, original);
}

/// Any non-empty regular file under a directory named `ingest` below `root`.
fn partial_ingest_file(root: &Path) -> Option<PathBuf> {
    fn walk(dir: &Path, in_ingest: bool) -> Option<PathBuf> {
        for e in fs::read_dir(dir).ok()?.flatten() {
            let p = e.path();
            let ft = e.file_type().ok()?;
            if ft.is_dir() {
                let inside = in_ingest || e.file_name() == "ingest";
                if let Some(found) = walk(&p, inside) {
                    return Some(found);
                }
            } else if in_ingest
                && ft.is_file()
                && e.metadata().map(|m| m.len() > 0).unwrap_or(false)
            {
                return Some(p);
            }
        }
        None
    }
    walk(root, false)
}

#[test]
fn kill9_mid_pull_then_pull_again_succeeds_once() {
    let mut w = World::new("random", |d| fixtures::build_random(d, 200));
    let img = w.image("random:latest");

    let mut pull = w
        .daemon
        .docker()
        .args(["pull", &img])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn docker pull");
    let deadline = Instant::now() + Duration::from_secs(60);
    let partial = loop {
        if let Some(p) = partial_ingest_file(&w.daemon.data_root()) {
            break p;
        }
        if let Ok(Some(status)) = pull.try_wait() {
            panic!(
                "docker pull ended ({status}) before a partial file appeared under {}/**/ingest\n{}",
                w.daemon.data_root().display(),
                w.daemon.log()
            );
        }
        assert!(
            Instant::now() < deadline,
            "no partial ingest file within 60 s"
        );
        sleep(Duration::from_millis(5));
    };
    w.daemon.kill9();
    let status = pull.wait().expect("wait docker pull");
    assert!(
        !status.success(),
        "pull survived a daemon kill (partial: {})",
        partial.display()
    );

    w.daemon.restart();
    w.docker(&["pull", &img]);
    let listed = w.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let n = listed.lines().filter(|l| *l == img).count();
    assert_eq!(n, 1, "expected {img} once:\n{listed}");
    let id = w.docker(&["image", "inspect", "--format", "{{.Id}}", &img]);
    assert_eq!(id.trim(), w.layout.primary().unwrap().config_digest);
    // Recovery removed the interrupted download and unpack instead of leaving them behind.
    for tmp in ["image/content/ingest", "image/layers/tmp"] {
        let dir = w.daemon.data_root().join(tmp);
        let left: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(left.is_empty(), "{} still holds {left:?}", dir.display());
    }
}
