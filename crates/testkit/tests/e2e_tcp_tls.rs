//! silod on TCP, seen by the stock docker CLI: mutual TLS lets a client with a certificate from
//! the configured CA in (containers too) and keeps out one without a certificate or with one
//! from another CA; plain TCP on loopback works only with the explicit option, and says so.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use silo_testkit::cmd::run_any;
use silo_testkit::{can_run_containers, run_ok, TestDaemon};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn new_ca() -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("ca key")).expect("ca")
}

/// Writes `<prefix>cert.pem` and `<prefix>key.pem` for a leaf signed by `ca`.
fn leaf(
    dir: &Path,
    prefix: &str,
    ca: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) {
    let key = KeyPair::generate().expect("key");
    let mut params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("params");
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, ca).expect("sign");
    std::fs::write(dir.join(format!("{prefix}cert.pem")), cert.pem()).expect("write cert");
    std::fs::write(dir.join(format!("{prefix}key.pem")), key.serialize_pem()).expect("write key");
}

/// A docker CLI on `host` with its own empty config dir and `tls_args`.
fn docker(daemon: &TestDaemon, host: &str, tls_args: &[String]) -> Command {
    let mut cmd = Command::new("docker");
    cmd.env_remove("DOCKER_HOST")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .env("DOCKER_CONFIG", daemon.dir().join("docker-config"))
        .arg("-H")
        .arg(host)
        .args(tls_args);
    cmd
}

#[test]
fn mutual_tls_admits_only_clients_of_the_ca() {
    let pki = tempfile::tempdir().expect("pki dir");
    let dir = pki.path();
    let ca = new_ca();
    std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write ca");
    leaf(
        dir,
        "server-",
        &ca,
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    leaf(
        dir,
        "",
        &ca,
        &["client"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let rogue_ca = new_ca();
    leaf(
        dir,
        "rogue-",
        &rogue_ca,
        &["client"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );

    let port = free_port();
    let host = format!("tcp://127.0.0.1:{port}");
    let p = |name: &str| dir.join(name).display().to_string();
    let daemon = TestDaemon::start_with(&[
        "-H",
        &host,
        "--tlsverify",
        "--tlscacert",
        &p("ca.pem"),
        "--tlscert",
        &p("server-cert.pem"),
        "--tlskey",
        &p("server-key.pem"),
    ]);
    let good: Vec<String> = [
        "--tlsverify",
        "--tlscacert",
        &p("ca.pem"),
        "--tlscert",
        &p("cert.pem"),
        "--tlskey",
        &p("key.pem"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();

    let version = run_ok(docker(&daemon, &host, &good).args(["version", "-f", "{{.Server.Os}}"]));
    assert_eq!(version.trim(), "linux");
    if can_run_containers() {
        // The whole API is there, not just /version: list containers over TLS.
        run_ok(docker(&daemon, &host, &good).args(["ps", "-a"]));
    }

    // No client certificate: the handshake is refused.
    let no_cert = vec!["--tls".to_string(), "--tlscacert".to_string(), p("ca.pem")];
    let (code, _, err) = run_any(docker(&daemon, &host, &no_cert).arg("version"));
    assert_ne!(code, 0);
    assert!(!err.contains("Server:"), "{err}");

    // A certificate from another CA: refused too.
    let rogue: Vec<String> = [
        "--tlsverify",
        "--tlscacert",
        &p("ca.pem"),
        "--tlscert",
        &p("rogue-cert.pem"),
        "--tlskey",
        &p("rogue-key.pem"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (code, out, _) =
        run_any(docker(&daemon, &host, &rogue).args(["version", "-f", "{{.Server.Os}}"]));
    assert_ne!(code, 0, "a client of another CA got in: {out}");

    // Plain HTTP to the TLS port does not get an API answer.
    let (code, out, _) =
        run_any(docker(&daemon, &host, &[]).args(["version", "-f", "{{.Server.Os}}"]));
    assert!(code != 0 || out.trim().is_empty(), "{out}");
}

#[test]
fn plain_tcp_on_loopback_needs_consent() {
    let port = free_port();
    let host = format!("tcp://127.0.0.1:{port}");
    let refused = TestDaemon::try_start("{}", &["-H", &host]);
    let err = match refused {
        Ok(_) => panic!("silod listened on plain TCP without --allow-insecure-loopback-tcp"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("loopback") || err.contains("TLS"), "{err}");

    let daemon = TestDaemon::start_with(&["-H", &host, "--allow-insecure-loopback-tcp"]);
    let version = run_ok(docker(&daemon, &host, &[]).args(["version", "-f", "{{.Server.Os}}"]));
    assert_eq!(version.trim(), "linux");
    let log = daemon.log();
    assert!(
        log.to_lowercase().contains("warn"),
        "no warning logged: {log}"
    );
}
