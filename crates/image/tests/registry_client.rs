//! The registry client against a real registry: Debian's `docker-registry` (distribution 2.8),
//! started per test on a free 127.0.0.1 port with its own storage and config, and killed when
//! the test ends, pass or fail.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use silo_errdefs::{ErrorKind, HasKind};
use silo_image::reference::Reference;
use silo_image::registry::{
    Credentials, ManifestKind, RegistryClient, RegistryError, RegistryOptions,
    MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST,
};

/// A running `docker-registry`; dropping it kills the process.
struct TestRegistry {
    child: Child,
    dir: tempfile::TempDir,
    addr: String,
}

impl TestRegistry {
    /// Starts a registry; with `user` set, it requires that htpasswd user.
    fn start(user: Option<(&str, &str)>) -> TestRegistry {
        let mut last_log = String::new();
        // The free port may be taken between probing and binding: retry a few times.
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("tempdir");
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let addr = format!("127.0.0.1:{port}");
            let mut config = format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
                dir.path().join("data").display()
            );
            if let Some((name, password)) = user {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", name, password])
                    .output()
                    .expect("run htpasswd");
                assert!(out.status.success(), "htpasswd failed");
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, out.stdout).unwrap();
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: silo\n    path: {}\n",
                    file.display()
                ));
            }
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).unwrap();
            let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config_path)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start docker-registry");
            let mut registry = TestRegistry { child, dir, addr };
            if registry.wait_ready() {
                return registry;
            }
            last_log = std::fs::read_to_string(registry.dir.path().join("registry.log"))
                .unwrap_or_default();
        }
        panic!("docker-registry did not start:\n{last_log}");
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if TcpStream::connect(&self.addr).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn reference(&self, rest: &str) -> Reference {
        Reference::parse(&format!("{}/{rest}", self.addr)).unwrap()
    }

    /// Where the registry keeps blob `digest` on disk (manifests are blobs too).
    fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir.path().join(format!(
            "data/docker/registry/v2/blobs/sha256/{}/{hex}/data",
            &hex[..2]
        ))
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn client() -> RegistryClient {
    RegistryClient::new(RegistryOptions::default())
}

/// A tiny image: one layer, a config, and an OCI manifest naming both.
struct Image {
    layer: Vec<u8>,
    config: Vec<u8>,
    manifest: Vec<u8>,
}

fn image(note: &str, manifest_media_type: &str) -> Image {
    let layer = format!("pretend tar for {note}").into_bytes();
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}},"config":{{}}}}"#,
        sha256(&layer)
    )
    .into_bytes();
    let (config_type, layer_type) = if manifest_media_type == MEDIA_TYPE_DOCKER_MANIFEST {
        (
            "application/vnd.docker.container.image.v1+json",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        )
    } else {
        (
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.image.layer.v1.tar",
        )
    };
    // Deliberately not in serde_json's key order or spacing: pushes must keep bytes as given.
    let manifest = format!(
        "{{\n  \"schemaVersion\": 2,\n  \"mediaType\": \"{manifest_media_type}\",\n  \"config\": {{\"mediaType\": \"{config_type}\", \"size\": {}, \"digest\": \"{}\"}},\n  \"layers\": [{{\"mediaType\": \"{layer_type}\", \"size\": {}, \"digest\": \"{}\"}}],\n  \"annotations\": {{\"org.example.note\": \"{note}\"}}\n}}",
        config.len(),
        sha256(&config),
        layer.len(),
        sha256(&layer)
    );
    Image {
        layer,
        config,
        manifest: manifest.into_bytes(),
    }
}

async fn push_image(
    c: &RegistryClient,
    r: &Reference,
    img: &Image,
    media_type: &str,
    creds: &Credentials,
) -> String {
    for blob in [&img.layer, &img.config] {
        c.push_blob(r, &sha256(blob), Bytes::from(blob.clone()), creds)
            .await
            .unwrap();
    }
    c.push_manifest_bytes(r, img.manifest.clone(), media_type, creds)
        .await
        .unwrap()
}

#[tokio::test]
async fn push_then_fetch_round_trips_bytes_and_digests() {
    let reg = TestRegistry::start(None);
    let c = client();
    let anon = Credentials::anonymous();
    let r = reg.reference("team/app:v1");
    let img = image("round trip", MEDIA_TYPE_OCI_MANIFEST);

    assert!(!c.blob_exists(&r, &sha256(&img.layer), &anon).await.unwrap());
    let digest = push_image(&c, &r, &img, MEDIA_TYPE_OCI_MANIFEST, &anon).await;
    assert_eq!(digest, sha256(&img.manifest));
    assert!(c.blob_exists(&r, &sha256(&img.layer), &anon).await.unwrap());
    assert!(c
        .blob_exists(&r, &sha256(&img.config), &anon)
        .await
        .unwrap());

    let fetched = c.fetch_manifest(&r, &anon).await.unwrap();
    assert_eq!(
        fetched.bytes, img.manifest,
        "manifest must come back byte for byte"
    );
    assert_eq!(fetched.media_type, MEDIA_TYPE_OCI_MANIFEST);
    assert_eq!(fetched.digest, digest);
    let ManifestKind::Manifest(m) = fetched.parse().unwrap() else {
        panic!("expected a manifest")
    };
    assert_eq!(m.layers()[0].digest().to_string(), sha256(&img.layer));

    let by_digest = c
        .fetch_manifest_by_digest(&r, &digest, &anon)
        .await
        .unwrap();
    assert_eq!(by_digest, fetched);

    assert_eq!(
        c.fetch_blob(&r, &sha256(&img.config), &anon).await.unwrap(),
        img.config
    );
    let mut stream = c.blob_stream(&r, &sha256(&img.layer), &anon).await.unwrap();
    let mut layer = Vec::new();
    while let Some(chunk) = stream.next().await {
        layer.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(layer, img.layer);

    // A Docker v2 manifest keeps its media type; an index with Windows entries keeps os.version.
    let docker = image("docker v2", MEDIA_TYPE_DOCKER_MANIFEST);
    let rd = reg.reference("team/app:docker");
    let docker_digest = push_image(&c, &rd, &docker, MEDIA_TYPE_DOCKER_MANIFEST, &anon).await;
    let fetched = c.fetch_manifest(&rd, &anon).await.unwrap();
    assert_eq!(
        (fetched.media_type.as_str(), fetched.digest.as_str()),
        (MEDIA_TYPE_DOCKER_MANIFEST, docker_digest.as_str())
    );
    assert_eq!(fetched.bytes, docker.manifest);

    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MEDIA_TYPE_OCI_INDEX}","manifests":[{{"mediaType":"{MEDIA_TYPE_OCI_MANIFEST}","size":{},"digest":"{digest}","platform":{{"architecture":"amd64","os":"windows","os.version":"10.0.17763.5820"}}}}]}}"#,
        img.manifest.len()
    );
    let ri = reg.reference("team/app:multi");
    let index_digest = c
        .push_manifest_bytes(&ri, index.clone().into_bytes(), MEDIA_TYPE_OCI_INDEX, &anon)
        .await
        .unwrap();
    let fetched = c.fetch_manifest(&ri, &anon).await.unwrap();
    assert!(fetched.is_index());
    assert_eq!(fetched.digest, index_digest);
    assert_eq!(fetched.bytes, index.as_bytes());
    let candidates = fetched.candidates().unwrap();
    assert_eq!(candidates[0].digest, digest);
    assert_eq!(
        candidates[0]
            .platform
            .as_ref()
            .unwrap()
            .os_version
            .as_deref(),
        Some("10.0.17763.5820")
    );

    // Pushing by digest (no tag) works too and returns the same digest.
    let pinned = reg.reference(&format!("team/copy@{digest}"));
    for blob in [&img.layer, &img.config] {
        c.push_blob(&pinned, &sha256(blob), Bytes::from(blob.clone()), &anon)
            .await
            .unwrap();
    }
    assert_eq!(
        c.push_manifest_bytes(
            &pinned,
            img.manifest.clone(),
            MEDIA_TYPE_OCI_MANIFEST,
            &anon
        )
        .await
        .unwrap(),
        digest
    );
}

#[tokio::test]
async fn missing_things_are_not_found() {
    let reg = TestRegistry::start(None);
    let c = client();
    let anon = Credentials::anonymous();
    let img = image("present", MEDIA_TYPE_OCI_MANIFEST);
    push_image(
        &c,
        &reg.reference("x:present"),
        &img,
        MEDIA_TYPE_OCI_MANIFEST,
        &anon,
    )
    .await;

    let cases = [
        reg.reference("x:absent"),
        reg.reference("nosuchrepo:latest"),
    ];
    for r in cases {
        let err = c.fetch_manifest(&r, &anon).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        assert!(
            err.to_string().contains(&r.to_string()),
            "message names the reference: {err}"
        );
    }
    let absent = sha256(b"never pushed");
    let err = c
        .fetch_blob(&reg.reference("x:present"), &absent, &anon)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains(&absent), "{err}");
    let err = c
        .fetch_manifest_by_digest(&reg.reference("x:present"), &absent, &anon)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

#[tokio::test]
async fn digest_mismatches_are_caught() {
    let reg = TestRegistry::start(None);
    let c = client();
    let anon = Credentials::anonymous();
    let r = reg.reference("x:v1");
    let img = image("aaaa", MEDIA_TYPE_OCI_MANIFEST);
    let digest = push_image(&c, &r, &img, MEDIA_TYPE_OCI_MANIFEST, &anon).await;

    // Tamper with what the registry stores (same length, still a valid manifest).
    let tampered = String::from_utf8(img.manifest.clone())
        .unwrap()
        .replace("aaaa", "bbbb");
    overwrite(&reg.blob_path(&digest), tampered.as_bytes());
    let err = c
        .fetch_manifest_by_digest(&r, &digest, &anon)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::DigestMismatch { .. }),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains(&digest), "{err}");

    let config_digest = sha256(&img.config);
    let mut bad_config = img.config.clone();
    bad_config[0] = b' ';
    overwrite(&reg.blob_path(&config_digest), &bad_config);
    let err = c.fetch_blob(&r, &config_digest, &anon).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("digest mismatch"), "{err}");

    // Refused before anything is sent: content that does not match the digest named for it.
    let other = sha256(b"something else");
    let err = c
        .push_blob(&r, &other, Bytes::from_static(b"data"), &anon)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::DigestMismatch { .. }),
        "{err:?}"
    );
    let pinned = r.with_digest(&other).unwrap();
    let err = c
        .push_manifest_bytes(
            &pinned,
            img.manifest.clone(),
            MEDIA_TYPE_OCI_MANIFEST,
            &anon,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::DigestMismatch { .. }),
        "{err:?}"
    );
}

fn overwrite(path: &Path, data: &[u8]) {
    let old = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(old.len(), data.len(), "tampering must keep the size");
    std::fs::write(path, data).unwrap();
}

#[tokio::test]
async fn basic_auth_with_htpasswd() {
    let reg = TestRegistry::start(Some(("silo", "s3cret")));
    let c = client();
    let good = Credentials::basic("silo", "s3cret");
    let bad = Credentials::basic("silo", "wrong");
    let r = reg.reference("private/app:v1");

    for creds in [&bad, &Credentials::anonymous()] {
        let err = c.check_auth(&reg.addr, creds).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
        assert!(err.to_string().contains(&reg.addr), "{err}");
    }
    c.check_auth(&reg.addr, &good).await.unwrap();

    let img = image("private", MEDIA_TYPE_OCI_MANIFEST);
    let err = c
        .push_blob(
            &r,
            &sha256(&img.layer),
            Bytes::from(img.layer.clone()),
            &bad,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    let digest = push_image(&c, &r, &img, MEDIA_TYPE_OCI_MANIFEST, &good).await;

    // The same client with other credentials must not reuse the good ones.
    let err = c.fetch_manifest(&r, &bad).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    let err = c
        .fetch_manifest(&r, &Credentials::anonymous())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    let fetched = c.fetch_manifest(&r, &good).await.unwrap();
    assert_eq!(fetched.digest, digest);
    assert_eq!(
        c.fetch_blob(&r, &sha256(&img.config), &good).await.unwrap(),
        img.config
    );
}

#[tokio::test]
async fn unreachable_registry_is_unavailable() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = Reference::parse(&format!("127.0.0.1:{port}/x:y")).unwrap();
    let c = client();
    let err = c
        .fetch_manifest(&r, &Credentials::anonymous())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    let err = c
        .check_auth(&format!("127.0.0.1:{port}"), &Credentials::anonymous())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
}
