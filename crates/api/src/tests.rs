//! Handler tests through the full middleware stack (no engine needed), and listener tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tower::ServiceExt;

use super::*;

/// The application without engine-backed routes.
fn test_app() -> Router {
    app(Router::new())
}

async fn call(method: &str, uri: &str, body: Body) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(body)
        .unwrap();
    let resp = test_app().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, headers, bytes.to_vec())
}

async fn get(uri: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    call("GET", uri, Body::empty()).await
}

fn message(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).expect("JSON error body");
    v["message"].as_str().expect("message field").to_string()
}

fn assert_standard_headers(headers: &axum::http::HeaderMap) {
    assert_eq!(headers["api-version"], "1.51");
    assert_eq!(headers["docker-experimental"], "false");
    assert_eq!(headers["ostype"], "linux");
    assert_eq!(
        headers["server"],
        concat!("silo/", env!("CARGO_PKG_VERSION"), " (linux)")
    );
}

#[test]
fn route_table_builds() {
    // axum panics on conflicting routes when they are added; `/images/json` next to
    // `/images/{*rest}` and the rest must coexist.
    let _ = engine_routes();
    let _ = test_app();
}

#[tokio::test]
async fn ping_get_and_head() {
    for (method, uri) in [
        ("GET", "/_ping"),
        ("HEAD", "/_ping"),
        ("GET", "/v1.51/_ping"),
        ("HEAD", "/v1.40/_ping"),
    ] {
        let (status, headers, body) = call(method, uri, Body::empty()).await;
        assert_eq!(status, StatusCode::OK, "{method} {uri}");
        assert_standard_headers(&headers);
        assert_eq!(headers["builder-version"], "1");
        assert_eq!(
            headers["cache-control"],
            "no-cache, no-store, must-revalidate"
        );
        assert_eq!(headers["pragma"], "no-cache");
        assert!(headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"));
        let expected: &[u8] = if method == "HEAD" { b"" } else { b"OK" };
        assert_eq!(body, expected, "{method} {uri}");
    }
}

#[tokio::test]
async fn version_prefix_is_stripped() {
    let (status, headers, body) = get("/v1.51/version").await;
    assert_eq!(status, StatusCode::OK);
    assert_standard_headers(&headers);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["ApiVersion"], "1.51");
    assert_eq!(v["MinAPIVersion"], "1.40");

    let (status, _, _) = get("/version?x=1").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn version_out_of_range() {
    let (status, headers, body) = get("/v1.39/version").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_standard_headers(&headers);
    assert_eq!(
        message(&body),
        "client version 1.39 is too old. Minimum supported API version is 1.40, please upgrade your client to a newer version"
    );
    let (status, _, body) = get("/v1.52/_ping").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        message(&body),
        "client version 1.52 is too new. Maximum supported API version is 1.51"
    );
}

#[tokio::test]
async fn unknown_paths_are_404_json() {
    for uri in ["/nope", "/v1.51/nope", "/images", "/vx/_ping"] {
        let (status, headers, body) = get(uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_standard_headers(&headers);
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(message(&body), "page not found", "{uri}");
    }
    // Wrong method on a known path: dockerd says not found as well.
    let (status, _, body) = call("DELETE", "/_ping", Body::empty()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(message(&body), "page not found");
}

#[tokio::test]
async fn unimplemented_docker_endpoints_are_501() {
    let (status, headers, body) = get("/v1.51/containers/json?all=1").await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    assert_standard_headers(&headers);
    assert_eq!(
        message(&body),
        "silo does not implement GET /containers/json yet"
    );

    let (status, _, body) = call("POST", "/networks/create", Body::from("{}")).await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(
        message(&body),
        "silo does not implement POST /networks/create yet"
    );
}

#[tokio::test]
async fn auth_is_clearly_unsupported() {
    let login = r#"{"username":"me","password":"pw","serveraddress":"127.0.0.1:5000"}"#;
    let (status, _, body) = call("POST", "/auth", Body::from(login)).await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(message(&body), "login is not supported yet");

    let (status, headers, body) = call("POST", "/v1.51/auth", Body::from("{not json")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers["content-type"], "application/json");
    assert!(!message(&body).is_empty());
}

// ---- listeners ----

fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// Start the test app on `listeners`; the returned sender stops it.
fn start(
    listeners: Vec<Listener>,
) -> (
    oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), ApiError>>,
) {
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(listeners::serve_router(test_app(), listeners, async move {
        let _ = rx.await;
    }));
    (tx, task)
}

async fn raw_ping<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut stream: S,
) -> std::io::Result<String> {
    stream
        .write_all(b"GET /v1.51/_ping HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

async fn wait_for<F: std::future::Future<Output = bool>>(mut check: impl FnMut() -> F) {
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("listener never came up");
}

#[tokio::test]
async fn unix_socket_mode_stale_file_and_cleanup() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run/silo.sock");
    // A stale socket file from a dead daemon.
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());

    let (stop, task) = start(vec![Listener::Unix {
        path: path.clone(),
        mode: 0o660,
    }]);
    let p = path.clone();
    wait_for(|| {
        let p = p.clone();
        async move { tokio::net::UnixStream::connect(&p).await.is_ok() }
    })
    .await;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);

    let reply = raw_ping(tokio::net::UnixStream::connect(&path).await.unwrap())
        .await
        .unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with("OK"), "{reply}");

    // A second daemon on the same live socket is refused.
    let err = listeners::serve_router(
        test_app(),
        vec![Listener::Unix {
            path: path.clone(),
            mode: 0o660,
        }],
        async {},
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), silo_errdefs::ErrorKind::AlreadyExists);

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(15), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(!path.exists(), "socket removed on shutdown");
}

struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
    client_cert_pem: String,
    client_key_pem: String,
}

fn make_pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa,
        KeyPair,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

    let server_key = KeyPair::generate().unwrap();
    let mut server_params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server_params.signed_by(&server_key, &ca).unwrap();

    let client_key = KeyPair::generate().unwrap();
    let mut client_params = CertificateParams::new(vec!["client".to_string()]).unwrap();
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client_params.signed_by(&client_key, &ca).unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.path().join("server-cert.pem"), server_cert.pem()).unwrap();
    std::fs::write(
        dir.path().join("server-key.pem"),
        server_key.serialize_pem(),
    )
    .unwrap();
    Pki {
        dir,
        ca_pem: ca.pem(),
        client_cert_pem: client_cert.pem(),
        client_key_pem: client_key.serialize_pem(),
    }
}

fn client_config(pki: &Pki, with_cert: bool) -> tokio_rustls::rustls::ClientConfig {
    use tokio_rustls::rustls::{ClientConfig, RootCertStore};
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pki.ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    if with_cert {
        let certs = rustls_pemfile::certs(&mut pki.client_cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = rustls_pemfile::private_key(&mut pki.client_key_pem.as_bytes())
            .unwrap()
            .unwrap();
        builder.with_client_auth_cert(certs, key).unwrap()
    } else {
        builder.with_no_client_auth()
    }
}

async fn tls_ping(
    addr: SocketAddr,
    config: tokio_rustls::rustls::ClientConfig,
) -> std::io::Result<String> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await?;
    raw_ping(tls).await
}

#[tokio::test]
async fn tls_verify_clients() {
    let pki = make_pki();
    let addr = free_port();
    let tls = TlsConfig {
        ca: Some(pki.dir.path().join("ca.pem")),
        cert: pki.dir.path().join("server-cert.pem"),
        key: pki.dir.path().join("server-key.pem"),
        verify_clients: true,
    };
    let (stop, task) = start(vec![Listener::Tcp {
        addr,
        tls: Some(tls),
    }]);
    wait_for(|| async move { tokio::net::TcpStream::connect(addr).await.is_ok() }).await;

    let reply = tls_ping(addr, client_config(&pki, true)).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with("OK"), "{reply}");

    // Without a client certificate the server aborts the handshake (with TLS 1.3 the client may
    // only notice on its first read).
    match tls_ping(addr, client_config(&pki, false)).await {
        Err(_) => {}
        Ok(reply) => assert!(
            !reply.contains("200"),
            "unauthenticated client was served: {reply}"
        ),
    }

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(15), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn tls_verify_needs_ca() {
    let pki = make_pki();
    let tls = TlsConfig {
        ca: None,
        cert: pki.dir.path().join("server-cert.pem"),
        key: pki.dir.path().join("server-key.pem"),
        verify_clients: true,
    };
    let err = listeners::serve_router(
        test_app(),
        vec![Listener::Tcp {
            addr: free_port(),
            tls: Some(tls),
        }],
        async {},
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn plain_tcp_and_no_listeners() {
    let addr = free_port();
    let (stop, task) = start(vec![Listener::Tcp { addr, tls: None }]);
    wait_for(|| async move { tokio::net::TcpStream::connect(addr).await.is_ok() }).await;
    let reply = raw_ping(tokio::net::TcpStream::connect(addr).await.unwrap())
        .await
        .unwrap();
    assert!(
        reply.contains("Api-Version: 1.51") || reply.contains("api-version: 1.51"),
        "{reply}"
    );
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();

    let err = listeners::serve_router(test_app(), vec![], async {})
        .await
        .unwrap_err();
    assert_eq!(err.status(), StatusCode::BAD_REQUEST);
}

/// The full application over an engine without a compute service (containers unavailable),
/// for the container and event endpoints' input handling.
async fn engine_app() -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let engine = silo_engine::Engine::open(silo_engine::EngineConfig {
        data_root: dir.path().to_path_buf(),
        ..Default::default()
    })
    .await
    .unwrap();
    (router(engine), dir)
}

async fn call_app(app: &Router, method: &str, uri: &str, body: &str) -> (StatusCode, Vec<u8>) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, bytes.to_vec())
}

#[tokio::test]
async fn unknown_containers_are_404_with_dockers_message() {
    let (app, _dir) = engine_app().await;
    for (method, uri, body) in [
        ("GET", "/v1.51/containers/nope/json", ""),
        ("POST", "/containers/nope/restart", ""),
        ("POST", "/containers/nope/rename?name=x", ""),
        ("POST", "/containers/nope/update", "{}"),
        ("GET", "/containers/nope/top", ""),
        ("GET", "/containers/nope/stats?stream=false", ""),
        ("POST", "/containers/nope/stop", ""),
        ("DELETE", "/containers/nope?force=1&v=1", ""),
    ] {
        let (status, body) = call_app(&app, method, uri, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {uri}");
        assert_eq!(message(&body), "No such container: nope", "{method} {uri}");
    }
}

#[tokio::test]
async fn bad_container_input_is_400() {
    let (app, _dir) = engine_app().await;
    for (method, uri, body) in [
        ("POST", "/containers/create", "{not json"),
        ("POST", "/containers/x/update", "[1]"),
        (
            "GET",
            "/containers/json?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D",
            "",
        ),
        (
            "GET",
            "/containers/json?filters=%7B%22status%22%3A%5B%22sleepy%22%5D%7D",
            "",
        ),
        ("GET", "/containers/json?limit=many", ""),
        (
            "POST",
            "/containers/prune?filters=%7B%22name%22%3A%5B%22x%22%5D%7D",
            "",
        ),
        ("POST", "/containers/x/stop?signal=SIGNOPE", ""),
        (
            "GET",
            "/events?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D",
            "",
        ),
        ("GET", "/events?since=yesterday", ""),
    ] {
        let (status, body) = call_app(&app, method, uri, body).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{method} {uri}: {}",
            message(&body)
        );
    }
    let (_, body) = call_app(
        &app,
        "GET",
        "/containers/json?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D",
        "",
    )
    .await;
    assert_eq!(message(&body), "invalid filter 'colour'");
}

#[tokio::test]
async fn events_with_a_past_until_end_and_empty_lists_answer() {
    let (app, _dir) = engine_app().await;
    let (status, body) = call_app(&app, "GET", "/events?since=0&until=1", "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.is_empty(), "{}", String::from_utf8_lossy(&body));
    let (status, body) = call_app(&app, "GET", "/containers/json?all=1&size=1", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, b"[]");
    let (status, body) = call_app(&app, "POST", "/containers/prune", "").await;
    assert_eq!(status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["ContainersDeleted"], serde_json::json!([]));
    // Without a compute service the compute views are unavailable, not missing.
    let (status, _) = call_app(&app, "GET", "/compute/systems", "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, body) = call_app(&app, "GET", "/info", "").await;
    assert_eq!(status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["Containers"], 0);
}
