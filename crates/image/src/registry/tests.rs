use oci_client::errors::{DigestError, OciDistributionError, OciEnvelope};
use oci_client::secrets::RegistryAuth;
use sha2::{Digest, Sha512};
use silo_errdefs::{ErrorKind, HasKind};

use super::login::parse_challenge_params;
use super::policy::{Cidr, InsecurePolicy, Mirror};
use super::*;

fn policy(entries: &[&str]) -> InsecurePolicy {
    InsecurePolicy::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
}

#[test]
fn insecure_decision() {
    let p = policy(&[
        "myreg.local:5000",
        "plainhost",
        "10.0.0.0/8",
        "fd00::/8",
        "192.168.1.7/32",
    ]);
    let cases = [
        // loopback is always insecure, whatever the list says
        ("localhost", true),
        ("localhost:5000", true),
        ("127.0.0.1:5000", true),
        ("127.1.2.3", true),
        ("[::1]:5000", true),
        // listed host:port is exact; listed host matches any port
        ("myreg.local:5000", true),
        ("MyReg.Local:5000", true),
        ("myreg.local:5001", false),
        ("myreg.local", false),
        ("plainhost", true),
        ("plainhost:8443", true),
        // CIDRs match IP literals
        ("10.1.2.3:5000", true),
        ("10.255.255.255", true),
        ("11.0.0.1:5000", false),
        ("192.168.1.7:5000", true),
        ("192.168.1.8:5000", false),
        ("[fd12::1]:5000", true),
        ("[fe80::1]:5000", false),
        // everything else is HTTPS
        ("docker.io", false),
        ("registry-1.docker.io", false),
        ("quay.io", false),
    ];
    for (registry, want) in cases {
        assert_eq!(p.is_insecure_by_name(registry), want, "{registry}");
    }
    let empty = policy(&[]);
    assert!(empty.is_insecure_by_name("127.0.0.1:5000"));
    assert!(!empty.is_insecure_by_name("10.1.2.3:5000"));
}

#[tokio::test]
async fn insecure_decision_resolves_names_for_cidrs() {
    // "localhost" is loopback anyway; a name resolving into a listed CIDR counts too.
    let client = RegistryClient::new(RegistryOptions {
        insecure: vec!["127.0.0.0/8".into(), "not a cidr/x".into()],
        mirrors: vec!["bogus".into()],
    });
    assert!(client.is_insecure("localhost:5000").await);
    assert!(!client.is_insecure("no-such-host.invalid:5000").await);
    let strict = RegistryClient::new(RegistryOptions::default());
    assert!(!strict.is_insecure("example.com").await);
}

#[test]
fn insecure_entries_are_validated() {
    for bad in [
        "",
        "http://x:5000",
        "10.0.0.0/33",
        "10.0.0.0/x",
        "nothost/8",
        "a b",
    ] {
        let err = InsecurePolicy::parse(&[bad.to_string()]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad:?}");
        assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
    }
    let options = |insecure: &str, mirror: &str| RegistryOptions {
        insecure: vec![insecure.into()],
        mirrors: vec![mirror.into()],
    };
    assert!(options("10.0.0.0/8", "https://m.example")
        .validate()
        .is_ok());
    assert!(options("https://x", "https://m.example")
        .validate()
        .is_err());
    assert!(options("10.0.0.0/8", "m.example").validate().is_err());
}

#[test]
fn cidr_contains() {
    let c = Cidr::parse("10.0.0.0/8").unwrap();
    assert!(c.contains("10.9.9.9".parse().unwrap()));
    assert!(!c.contains("11.0.0.0".parse().unwrap()));
    assert!(!c.contains("::ffff:10.0.0.1".parse().unwrap()));
    assert!(Cidr::parse("0.0.0.0/0")
        .unwrap()
        .contains("8.8.8.8".parse().unwrap()));
    assert!(Cidr::parse("::/0")
        .unwrap()
        .contains("2001:db8::1".parse().unwrap()));
    assert!(Cidr::parse("2001:db8::/32")
        .unwrap()
        .contains("2001:db8:ffff::1".parse().unwrap()));
    assert!(!Cidr::parse("2001:db8::/32")
        .unwrap()
        .contains("2001:db9::1".parse().unwrap()));
    assert!(Cidr::parse("::1/129").is_none());
}

#[test]
fn mirrors_are_urls_without_path() {
    assert_eq!(
        Mirror::parse("https://mirror.example.com/").unwrap(),
        Mirror {
            host: "mirror.example.com".into(),
            plain_http: false
        }
    );
    assert_eq!(
        Mirror::parse("http://10.0.0.5:5000").unwrap(),
        Mirror {
            host: "10.0.0.5:5000".into(),
            plain_http: true
        }
    );
    for bad in [
        "mirror.example.com",
        "https://",
        "https://m.example/v2/",
        "ftp://m",
    ] {
        let err = Mirror::parse(bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}");
    }
}

#[test]
fn credentials_map_to_oci_auth() {
    assert_eq!(Credentials::anonymous().to_auth(), RegistryAuth::Anonymous);
    assert_eq!(
        Credentials::basic("u", "p").to_auth(),
        RegistryAuth::Basic("u".into(), "p".into())
    );
    // A username with an empty password is still Basic (some registries use tokens as users).
    assert_eq!(
        Credentials::basic("u", "").to_auth(),
        RegistryAuth::Basic("u".into(), String::new())
    );
    let token = Credentials {
        identity_token: "tok".into(),
        ..Credentials::basic("u", "p")
    };
    assert_eq!(token.to_auth(), RegistryAuth::Bearer("tok".into()));
    // Secrets never reach logs.
    let debug = format!("{:?}", Credentials::basic("alice", "hunter2"));
    assert!(
        debug.contains("alice") && !debug.contains("hunter2"),
        "{debug}"
    );
    // Different credentials get different cached clients.
    assert_ne!(
        Credentials::basic("a", "b").fingerprint(),
        Credentials::basic("a", "c").fingerprint()
    );
    assert_ne!(
        Credentials::basic("ab", "").fingerprint(),
        Credentials::basic("a", "b").fingerprint()
    );
}

fn envelope(code: &str) -> OciDistributionError {
    let envelope: OciEnvelope = serde_json::from_str(&format!(
        r#"{{"errors":[{{"code":"{code}","message":"m"}}]}}"#
    ))
    .unwrap();
    OciDistributionError::RegistryError {
        envelope,
        url: "http://r/v2/x/manifests/y".into(),
    }
}

#[test]
fn oci_errors_map_to_kinds() {
    let server = |code| OciDistributionError::ServerError {
        code,
        url: "u".into(),
        message: "m".into(),
    };
    let cases: Vec<(OciDistributionError, ErrorKind)> = vec![
        (envelope("MANIFEST_UNKNOWN"), ErrorKind::NotFound),
        (envelope("BLOB_UNKNOWN"), ErrorKind::NotFound),
        (envelope("NAME_UNKNOWN"), ErrorKind::NotFound),
        (envelope("UNAUTHORIZED"), ErrorKind::PermissionDenied),
        (envelope("DENIED"), ErrorKind::PermissionDenied),
        (envelope("TOOMANYREQUESTS"), ErrorKind::Unavailable),
        (envelope("MANIFEST_INVALID"), ErrorKind::Internal),
        (server(404), ErrorKind::NotFound),
        (server(401), ErrorKind::PermissionDenied),
        (server(403), ErrorKind::PermissionDenied),
        (server(503), ErrorKind::Unavailable),
        (server(500), ErrorKind::Internal),
        (
            OciDistributionError::UnauthorizedError { url: "u".into() },
            ErrorKind::PermissionDenied,
        ),
        (
            OciDistributionError::AuthenticationFailure("bad".into()),
            ErrorKind::PermissionDenied,
        ),
        (
            OciDistributionError::DigestError(DigestError::VerificationError {
                expected: "sha256:a".into(),
                actual: "sha256:b".into(),
            }),
            ErrorKind::InvalidArgument,
        ),
        (OciDistributionError::PushNoDataError, ErrorKind::Internal),
    ];
    for (err, kind) in cases {
        let shown = err.to_string();
        let mapped = RegistryError::from_oci(
            Op::FetchManifest,
            "127.0.0.1:5000/x:y",
            "127.0.0.1:5000",
            err,
        );
        assert_eq!(mapped.kind(), kind, "{shown} -> {mapped}");
        assert!(
            mapped
                .to_string()
                .starts_with("fetch manifest 127.0.0.1:5000/x:y: "),
            "{mapped}"
        );
    }
    let denied = RegistryError::from_status(Op::Login, "r:5000", "r:5000", 401, "unauthorized\n");
    assert_eq!(
        denied.to_string(),
        "log in to r:5000: access denied by r:5000: HTTP 401: unauthorized"
    );
}

#[test]
fn mid_stream_digest_errors_are_mismatches() {
    let io = std::io::Error::other(DigestError::VerificationError {
        expected: "sha256:a".into(),
        actual: "sha256:b".into(),
    });
    let e = RegistryError::from_io(Op::FetchBlob, "r/x@sha256:a", "r", &io);
    assert!(matches!(e, RegistryError::DigestMismatch { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "fetch blob r/x@sha256:a: digest mismatch: expected sha256:a, got sha256:b"
    );
    let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
    assert_eq!(
        RegistryError::from_io(Op::FetchBlob, "t", "r", &reset).kind(),
        ErrorKind::Unavailable
    );
}

#[test]
fn manifests_are_verified_and_typed_from_their_bytes() {
    let docker = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},"layers":[]}"#;
    let m = finish_manifest("t", None, docker.to_vec()).unwrap();
    assert_eq!(m.media_type, MEDIA_TYPE_DOCKER_MANIFEST);
    assert_eq!(m.digest, sha256_digest(docker));
    assert!(matches!(m.parse().unwrap(), ManifestKind::Manifest(_)));
    assert!(!m.is_index());

    // Pinned to the right digest: fine; to another: mismatch, naming both.
    assert!(finish_manifest("t", Some(&m.digest), docker.to_vec()).is_ok());
    let other = format!("sha256:{}", "0".repeat(64));
    let err =
        finish_manifest("127.0.0.1:5000/x@sha256:0…", Some(&other), docker.to_vec()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(
        err.to_string().contains(&m.digest) && err.to_string().contains(&other),
        "{err}"
    );

    // OCI without mediaType: told apart by shape.
    let index = br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","platform":{"os":"windows","architecture":"amd64","os.version":"10.0.17763.1879"}}]}"#;
    let m = finish_manifest("t", None, index.to_vec()).unwrap();
    assert_eq!(m.media_type, MEDIA_TYPE_OCI_INDEX);
    assert!(matches!(m.parse().unwrap(), ManifestKind::Index(_)));
    let c = m.candidates().unwrap();
    assert_eq!(
        c[0].platform.as_ref().unwrap().os_version.as_deref(),
        Some("10.0.17763.1879")
    );

    // Schema 1 and artifacts are refused by type.
    let v1 = br#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#;
    let err = finish_manifest("t", None, v1.to_vec()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotImplemented, "{err}");
    assert!(finish_manifest("t", None, b"not json".to_vec()).is_err());

    // A manifest whose body does not match its type is an InvalidManifest on parse.
    let lying = FetchedManifest {
        bytes: b"{}".to_vec(),
        media_type: MEDIA_TYPE_DOCKER_LIST.into(),
        digest: "d".into(),
    };
    assert!(matches!(
        lying.parse(),
        Err(RegistryError::InvalidManifest { .. })
    ));
}

#[test]
fn challenge_params() {
    let p = parse_challenge_params(
        r#"realm="https://auth.docker.io/token",service="registry.docker.io", scope="repository:a/b:pull,push""#,
    );
    assert_eq!(p["realm"], "https://auth.docker.io/token");
    assert_eq!(p["service"], "registry.docker.io");
    assert_eq!(p["scope"], "repository:a/b:pull,push");
    let p = parse_challenge_params("realm=silo,Service=x");
    assert_eq!(p["realm"], "silo");
    assert_eq!(p["service"], "x");
}

#[test]
fn digests_are_checked_before_network() {
    let r = Reference::parse("127.0.0.1:1/x").unwrap();
    let err = blob_target(&r, "sha256:xyz", Op::PushBlob).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(verify(Op::PushBlob, "t", &sha256_digest(b"abc"), b"abc").is_ok());
    assert!(verify(Op::PushBlob, "t", &sha256_digest(b"abc"), b"abd").is_err());
    let sha512 = format!("sha512:{}", hex::encode(Sha512::digest(b"abc")));
    assert!(verify(Op::PushBlob, "t", &sha512, b"abc").is_ok());
}
