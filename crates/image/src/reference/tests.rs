use super::*;

const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// input, registry, repository, tag, digest, Display, familiar
type Case = (
    String,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    String,
    String,
);

#[test]
fn parse_normalises_like_docker() {
    // input, registry, repository, tag, digest, Display, familiar
    let d = D;
    let cases: Vec<Case> = vec![
        (
            "busybox".into(),
            "docker.io",
            "library/busybox",
            Some("latest"),
            None,
            "docker.io/library/busybox:latest".into(),
            "busybox:latest".into(),
        ),
        (
            "busybox:1.36".into(),
            "docker.io",
            "library/busybox",
            Some("1.36"),
            None,
            "docker.io/library/busybox:1.36".into(),
            "busybox:1.36".into(),
        ),
        (
            "user/app".into(),
            "docker.io",
            "user/app",
            Some("latest"),
            None,
            "docker.io/user/app:latest".into(),
            "user/app:latest".into(),
        ),
        (
            "user/app:v1".into(),
            "docker.io",
            "user/app",
            Some("v1"),
            None,
            "docker.io/user/app:v1".into(),
            "user/app:v1".into(),
        ),
        (
            "docker.io/library/busybox".into(),
            "docker.io",
            "library/busybox",
            Some("latest"),
            None,
            "docker.io/library/busybox:latest".into(),
            "busybox:latest".into(),
        ),
        (
            "index.docker.io/busybox".into(),
            "docker.io",
            "library/busybox",
            Some("latest"),
            None,
            "docker.io/library/busybox:latest".into(),
            "busybox:latest".into(),
        ),
        (
            "docker.io/library/a/b".into(),
            "docker.io",
            "library/a/b",
            Some("latest"),
            None,
            "docker.io/library/a/b:latest".into(),
            "library/a/b:latest".into(),
        ),
        (
            "127.0.0.1:5000/x:y".into(),
            "127.0.0.1:5000",
            "x",
            Some("y"),
            None,
            "127.0.0.1:5000/x:y".into(),
            "127.0.0.1:5000/x:y".into(),
        ),
        (
            "localhost/x".into(),
            "localhost",
            "x",
            Some("latest"),
            None,
            "localhost/x:latest".into(),
            "localhost/x:latest".into(),
        ),
        (
            "localhost:5000/team/app".into(),
            "localhost:5000",
            "team/app",
            Some("latest"),
            None,
            "localhost:5000/team/app:latest".into(),
            "localhost:5000/team/app:latest".into(),
        ),
        (
            "quay.io/org/img:1.0-rc_1".into(),
            "quay.io",
            "org/img",
            Some("1.0-rc_1"),
            None,
            "quay.io/org/img:1.0-rc_1".into(),
            "quay.io/org/img:1.0-rc_1".into(),
        ),
        (
            "[::1]:5000/x".into(),
            "[::1]:5000",
            "x",
            Some("latest"),
            None,
            "[::1]:5000/x:latest".into(),
            "[::1]:5000/x:latest".into(),
        ),
        (
            format!("busybox@{d}"),
            "docker.io",
            "library/busybox",
            None,
            Some(d),
            format!("docker.io/library/busybox@{d}"),
            format!("busybox@{d}"),
        ),
        (
            format!("busybox:1.36@{d}"),
            "docker.io",
            "library/busybox",
            Some("1.36"),
            Some(d),
            format!("docker.io/library/busybox:1.36@{d}"),
            format!("busybox:1.36@{d}"),
        ),
        (
            format!("127.0.0.1:5000/win@{d}"),
            "127.0.0.1:5000",
            "win",
            None,
            Some(d),
            format!("127.0.0.1:5000/win@{d}"),
            format!("127.0.0.1:5000/win@{d}"),
        ),
        (
            "a.b/c__d/e-f--g/h.i_j".into(),
            "a.b",
            "c__d/e-f--g/h.i_j",
            Some("latest"),
            None,
            "a.b/c__d/e-f--g/h.i_j:latest".into(),
            "a.b/c__d/e-f--g/h.i_j:latest".into(),
        ),
    ];
    for (input, registry, repository, tag, digest, display, familiar) in cases {
        let r = Reference::parse(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(r.registry(), registry, "{input}");
        assert_eq!(r.repository(), repository, "{input}");
        assert_eq!(r.tag(), tag, "{input}");
        assert_eq!(r.digest(), digest, "{input}");
        assert_eq!(r.to_string(), display, "{input}");
        assert_eq!(r.familiar(), familiar, "{input}");
        // The canonical form parses back to the same reference.
        assert_eq!(Reference::parse(&display).unwrap(), r, "{input}");
        assert_eq!(Reference::parse(&familiar).unwrap(), r, "{input}");
    }
}

#[test]
fn parse_rejects_with_clear_messages() {
    let long = format!("a/{}", "b".repeat(260));
    let hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let cases: Vec<(String, &str)> = vec![
        ("".into(), "invalid reference format: empty reference"),
        ("Busybox".into(), "repository name must be lowercase"),
        ("user/App:v1".into(), "repository name must be lowercase"),
        ("busybox:".into(), "invalid tag \"\""),
        ("busybox:-x".into(), "invalid tag \"-x\""),
        (format!("busybox:{}", "t".repeat(129)), "invalid tag"),
        ("busybox@sha256:abc".into(), "invalid digest \"sha256:abc\""),
        (format!("busybox@md5:{}", &hex[..32]), "invalid digest"),
        (
            format!("busybox@sha256:{}", hex.to_uppercase()),
            "invalid digest",
        ),
        (":tag".into(), "missing repository name"),
        ("a//b".into(), "invalid repository name"),
        ("a/b_".into(), "invalid repository name"),
        ("a/-b".into(), "invalid repository name"),
        ("a/b...c".into(), "invalid repository name"),
        ("a/b___c".into(), "invalid repository name"),
        ("bad_host.com/x".into(), "invalid registry host"),
        ("host.com:/x".into(), "invalid registry host"),
        ("host.com:50a0/x".into(), "invalid registry host"),
        ("[zz]:5000/x".into(), "invalid registry host"),
        (long, "must not be more than 255 characters"),
        (hex.into(), "cannot specify 64-byte hexadecimal strings"),
    ];
    for (input, want) in cases {
        let err = Reference::parse(&input).expect_err(&input);
        assert!(
            err.to_string().contains(want),
            "{input:?}: got {err:?} / {err}, want {want:?}"
        );
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }
    // The uppercase message carries Docker's wording and names the input.
    let err = Reference::parse("Busybox").unwrap_err();
    assert!(err
        .to_string()
        .starts_with("invalid reference format: repository name must be lowercase"));
    assert!(err.to_string().contains("\"Busybox\""));
}

#[test]
fn familiar_name_and_name() {
    let cases = [
        ("busybox:1", "busybox", "docker.io/library/busybox"),
        ("user/app", "user/app", "docker.io/user/app"),
        ("127.0.0.1:5000/x:y", "127.0.0.1:5000/x", "127.0.0.1:5000/x"),
        (
            "ghcr.io/library/x",
            "ghcr.io/library/x",
            "ghcr.io/library/x",
        ),
    ];
    for (input, familiar_name, name) in cases {
        let r = Reference::parse(input).unwrap();
        assert_eq!(r.familiar_name(), familiar_name, "{input}");
        assert_eq!(r.name(), name, "{input}");
    }
}

#[test]
fn with_tag_and_with_digest() {
    let r = Reference::parse(&format!("busybox:1@{D}")).unwrap();
    let t = r.with_tag("2").unwrap();
    assert_eq!(t.to_string(), "docker.io/library/busybox:2");
    assert!(r.with_tag("bad tag").is_err());

    let r = Reference::parse("busybox:1").unwrap();
    let d = r.with_digest(D).unwrap();
    assert_eq!(d.familiar(), format!("busybox:1@{D}"));
    assert!(matches!(
        r.with_digest("sha256:00"),
        Err(ReferenceError::Digest { .. })
    ));
}

#[test]
fn loopback_registries() {
    let cases = [
        ("localhost/x", true),
        ("localhost:5000/x", true),
        ("127.0.0.1:5000/x", true),
        ("127.8.9.10/x", true),
        ("[::1]:5000/x", true),
        ("[::1]/x", true),
        ("128.0.0.1:5000/x", false),
        ("10.0.0.1:5000/x", false),
        ("busybox", false),
        ("localhost.example.com/x", false),
    ];
    for (input, want) in cases {
        assert_eq!(
            Reference::parse(input).unwrap().is_loopback_registry(),
            want,
            "{input}"
        );
    }
}

#[test]
fn repository_tag_from_api_params() {
    let cases: Vec<(&str, Option<&str>, String)> = vec![
        ("busybox", None, "docker.io/library/busybox:latest".into()),
        (
            "busybox",
            Some(""),
            "docker.io/library/busybox:latest".into(),
        ),
        (
            "busybox",
            Some("1.36"),
            "docker.io/library/busybox:1.36".into(),
        ),
        (
            "busybox:1.35",
            Some("1.36"),
            "docker.io/library/busybox:1.36".into(),
        ),
        ("127.0.0.1:5000/x", Some("v2"), "127.0.0.1:5000/x:v2".into()),
        (
            "busybox:1",
            Some(D),
            format!("docker.io/library/busybox@{D}"),
        ),
    ];
    for (repo, tag, want) in cases {
        assert_eq!(
            parse_repository_tag(repo, tag).unwrap().to_string(),
            want,
            "{repo} {tag:?}"
        );
    }
    assert!(parse_repository_tag("busybox", Some("sha256:nothex")).is_err());
    assert!(parse_repository_tag("busybox", Some("-bad")).is_err());
}

#[test]
fn host_of_strips_port_and_brackets() {
    assert_eq!(host_of("a.b:5000"), "a.b");
    assert_eq!(host_of("a.b"), "a.b");
    assert_eq!(host_of("[::1]:5000"), "::1");
    assert_eq!(host_of("[fe80::1]"), "fe80::1");
}
