//! Bearer-token auth end to end: Debian's `docker-registry` (distribution 2.8) in `auth: token`
//! mode, a token server run by the test, skopeo pushing with credentials and silod pulling with
//! the credentials a client hands it in `X-Registry-Auth`.
//!
//! The token server is the same protocol Docker Hub and most private registries speak: the
//! registry answers `401` with `WWW-Authenticate: Bearer realm=…,service=…,scope=…`, the client
//! asks the realm for a token (HTTP Basic credentials, `scope` query) and retries with it. The
//! registry trusts tokens signed by the key of the certificate in `rootcertbundle`; the token
//! carries that certificate in its `x5c` header (distribution's `registry/auth/token/token.go`:
//! `x5c` is tried before `jwk` and `kid`, the leaf must chain to a root of the bundle, and `aud`
//! is a single string in 2.8).

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, sleep, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::json;
use silo_testkit::cmd::run_any;
use silo_testkit::fixtures::{self, Layout};
use silo_testkit::{http, TestDaemon};
use tempfile::TempDir;

const USER: &str = "silo";
/// A colon inside the password: clients must split `user:pass` at the first colon only.
const PASS: &str = "s3cr:et";
const SERVICE: &str = "silo-test-registry";
const ISSUER: &str = "silo-test-token-issuer";
const REPO: &str = "busybox";

// ---------------------------------------------------------------------------------------------
// Token server
// ---------------------------------------------------------------------------------------------

/// One request the token server answered.
#[derive(Debug, Clone)]
struct TokenRequest {
    /// The Basic-auth user, `None` for an anonymous request.
    user: Option<String>,
    /// Whether the credentials were right (anonymous requests count as accepted: they get a
    /// token without any access, like Docker Hub gives for private repositories).
    accepted: bool,
    /// The `scope` parameters, decoded.
    scopes: Vec<String>,
    /// What the issued token grants, as `repository:name:action,action` strings.
    granted: Vec<String>,
}

/// A minimal HTTP/1.1 token server on 127.0.0.1; stopped and joined on drop.
struct TokenServer {
    addr: String,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<TokenRequest>>>,
    thread: Option<JoinHandle<()>>,
}

/// What signs tokens: an ES256 key and its self-signed certificate.
struct Signer {
    key_der: Vec<u8>,
    cert_der_b64: String,
}

impl TokenServer {
    fn start(signer: Signer) -> TokenServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind token server");
        listener
            .set_nonblocking(true)
            .expect("nonblocking token listener");
        let addr = listener
            .local_addr()
            .expect("token server addr")
            .to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let signer = Arc::new(signer);
        let thread = {
            let (stop, requests) = (stop.clone(), requests.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (signer, requests) = (signer.clone(), requests.clone());
                            thread::spawn(move || serve_token(stream, &signer, &requests));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            sleep(Duration::from_millis(10))
                        }
                        Err(_) => sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        TokenServer {
            addr,
            stop,
            requests,
            thread: Some(thread),
        }
    }

    fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    fn requests(&self) -> Vec<TokenRequest> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn clear(&self) {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `%XX` and `+` decoding of one query component.
fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a token grants for `scopes` (`repository:name:actions`, several per parameter allowed,
/// space-separated): pull and push, nothing else.
fn grant(scopes: &[String]) -> Vec<serde_json::Value> {
    scopes
        .iter()
        .flat_map(|s| s.split(' '))
        .filter_map(|scope| {
            let (name, actions) = scope.strip_prefix("repository:")?.rsplit_once(':')?;
            let actions: Vec<&str> = actions
                .split(',')
                .filter(|a| matches!(*a, "pull" | "push"))
                .collect();
            Some(json!({ "type": "repository", "name": name, "actions": actions }))
        })
        .collect()
}

static JTI: AtomicU64 = AtomicU64::new(0);

fn sign_token(signer: &Signer, user: &str, access: &[serde_json::Value]) -> String {
    let now = now_secs();
    let claims = json!({
        "iss": ISSUER,
        "sub": user,
        "aud": SERVICE,
        "exp": now + 300,
        "nbf": now.saturating_sub(5),
        "iat": now,
        "jti": format!("silo-{}-{}", std::process::id(), JTI.fetch_add(1, Ordering::SeqCst)),
        "access": access,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.x5c = Some(vec![signer.cert_der_b64.clone()]);
    let key = jsonwebtoken::EncodingKey::from_ec_der(&signer.key_der);
    jsonwebtoken::encode(&header, &claims, &key).expect("sign token")
}

fn respond(stream: &mut TcpStream, status: &str, extra_headers: &str, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n{extra_headers}\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

fn serve_token(mut stream: TcpStream, signer: &Signer, log: &Mutex<Vec<TokenRequest>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut basic = None;
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "authorization" => {
                    if let Some(b64) = value
                        .strip_prefix("Basic ")
                        .or_else(|| value.strip_prefix("basic "))
                    {
                        basic = STANDARD
                            .decode(b64.trim())
                            .ok()
                            .and_then(|b| String::from_utf8(b).ok());
                    }
                }
                "content-length" => content_length = value.parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    if content_length > 0 {
        let mut body = vec![0; content_length.min(1 << 16)];
        let _ = std::io::Read::read_exact(&mut reader, &mut body);
    }
    let mut words = request_line.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if method != "GET" || path != "/token" {
        // OAuth2 POST (refresh tokens) is not offered: clients fall back to GET.
        respond(
            &mut stream,
            "404 Not Found",
            "",
            r#"{"details":"not found"}"#,
        );
        return;
    }
    let scopes: Vec<String> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == "scope")
        .map(|(_, v)| pct_decode(v))
        .collect();
    let (user, accepted) = match basic.as_deref().and_then(|b| b.split_once(':')) {
        Some((u, p)) => (Some(u.to_string()), u == USER && p == PASS),
        None => (None, true),
    };
    if !accepted {
        log.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(TokenRequest {
                user,
                accepted,
                scopes,
                granted: Vec::new(),
            });
        respond(
            &mut stream,
            "401 Unauthorized",
            "WWW-Authenticate: Basic realm=\"silo-token\"\r\n",
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"invalid username or password"}]}"#,
        );
        return;
    }
    let access = if user.is_some() {
        grant(&scopes)
    } else {
        Vec::new()
    };
    let granted = access
        .iter()
        .map(|a| {
            let actions: Vec<&str> = a["actions"]
                .as_array()
                .map(|v| v.iter().filter_map(|x| x.as_str()).collect())
                .unwrap_or_default();
            format!(
                "repository:{}:{}",
                a["name"].as_str().unwrap_or_default(),
                actions.join(",")
            )
        })
        .collect();
    let token = sign_token(signer, user.as_deref().unwrap_or(""), &access);
    log.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(TokenRequest {
            user,
            accepted,
            scopes,
            granted,
        });
    let body = json!({ "token": token, "access_token": token, "expires_in": 300 }).to_string();
    respond(&mut stream, "200 OK", "", &body);
}

// ---------------------------------------------------------------------------------------------
// Registry in token mode
// ---------------------------------------------------------------------------------------------

/// `docker-registry` with `auth: token`; killed on drop.
struct TokenRegistry {
    child: Child,
    addr: String,
    // Declared last: removed after the process is gone.
    dir: TempDir,
}

impl TokenRegistry {
    fn start(realm: &str, cert_pem: &str) -> TokenRegistry {
        let mut last = String::new();
        for _ in 0..3 {
            match Self::start_once(realm, cert_pem) {
                Ok(r) => return r,
                Err(e) => last = e,
            }
        }
        panic!("docker-registry (auth: token) did not start:\n{last}");
    }

    fn start_once(realm: &str, cert_pem: &str) -> Result<TokenRegistry, String> {
        let dir = tempfile::Builder::new()
            .prefix("silo-token-registry-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let addr = format!("127.0.0.1:{port}");
        let bundle = dir.path().join("token-ca.pem");
        fs::write(&bundle, cert_pem).map_err(|e| e.to_string())?;
        let storage = dir.path().join("storage");
        fs::create_dir_all(&storage).map_err(|e| e.to_string())?;
        let config = format!(
            "version: 0.1\n\
             log:\n  level: info\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: {addr}\n  secret: silo-testkit\n\
             auth:\n  token:\n    realm: {realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
            storage.display(),
            bundle.display()
        );
        let config_path = dir.path().join("config.yml");
        fs::write(&config_path, config).map_err(|e| e.to_string())?;
        let log = File::create(dir.path().join("registry.log")).map_err(|e| e.to_string())?;
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawn docker-registry: {e}"))?;
        let mut reg = TokenRegistry { child, addr, dir };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = reg.child.try_wait() {
                return Err(format!("exited early ({status}):\n{}", reg.log()));
            }
            if let Ok(r) = http::get_tcp(&reg.addr, "/v2/", Duration::from_secs(2)) {
                if r.status == 401 {
                    let challenge = r.headers.to_ascii_lowercase();
                    if !challenge.contains("www-authenticate: bearer") {
                        return Err(format!("no Bearer challenge from /v2/:\n{}", r.headers));
                    }
                    return Ok(reg);
                }
            }
            if Instant::now() > deadline {
                return Err(format!("not ready after 15 s:\n{}", reg.log()));
            }
            sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for TokenRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// The world of one test
// ---------------------------------------------------------------------------------------------

/// Token server, registry holding busybox (pushed with credentials), and a daemon. Dropped in
/// field order: daemon, registry, token server, fixture.
struct World {
    daemon: TestDaemon,
    reg: TokenRegistry,
    tokens: TokenServer,
    layout: Layout,
    _fixture: TempDir,
}

fn signer_and_pem() -> (Signer, String) {
    let key = rcgen::KeyPair::generate().expect("generate ES256 key");
    let mut params =
        rcgen::CertificateParams::new(vec!["silo-token-server".to_string()]).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "silo test token signer");
    let cert = params.self_signed(&key).expect("self-sign token cert");
    (
        Signer {
            key_der: key.serialize_der(),
            cert_der_b64: STANDARD.encode(cert.der()),
        },
        cert.pem(),
    )
}

impl World {
    fn new() -> World {
        let (signer, pem) = signer_and_pem();
        let tokens = TokenServer::start(signer);
        let reg = TokenRegistry::start(&tokens.realm(), &pem);
        let fixture = tempfile::tempdir().expect("fixture dir");
        let layout = fixtures::build_busybox(&fixture.path().join("layout")).expect("busybox");
        // (a) skopeo push with --dest-creds through the token flow.
        if let Err(e) = fixtures::push_layout_with_creds(
            &layout.dir,
            &reg.addr,
            &format!("{REPO}:latest"),
            Some((USER, PASS)),
        ) {
            panic!(
                "skopeo push with creds: {e:#}\n--- registry log ---\n{}\n--- token requests ---\n{:#?}",
                reg.log(),
                tokens.requests()
            );
        }
        let daemon = TestDaemon::start();
        World {
            daemon,
            reg,
            tokens,
            layout,
            _fixture: fixture,
        }
    }

    fn image(&self) -> String {
        format!("{}/{REPO}:latest", self.reg.addr)
    }

    /// Writes the client's `config.json` (both CLIs read `$DOCKER_CONFIG/config.json`).
    fn write_docker_config(&self, user: &str, pass: &str) {
        let config = json!({
            "auths": { self.reg.addr.clone(): { "auth": STANDARD.encode(format!("{user}:{pass}")) } }
        });
        fs::write(
            self.daemon.dir().join("docker-config").join("config.json"),
            config.to_string(),
        )
        .expect("write config.json");
    }

    /// Everything a failing assertion should show.
    fn explain(&self, what: &str, code: i32, stdout: &str, stderr: &str) -> String {
        format!(
            "{what}\nexit: {code}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n\
             --- token requests ---\n{:#?}\n--- registry log (tail) ---\n{}\n--- silod log ---\n{}",
            self.tokens.requests(),
            tail(&self.reg.log(), 30),
            self.daemon.log()
        )
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Does `msg` say the failure was about authentication?
fn mentions_auth(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    ["unauthorized", "authentication", "denied", "credentials"]
        .iter()
        .any(|w| m.contains(w))
}

fn inspect_id(w: &World) -> String {
    let (code, out, err) =
        run_any(
            w.daemon
                .docker()
                .args(["image", "inspect", "--format", "{{.Id}}", &w.image()]),
        );
    assert_eq!(
        code,
        0,
        "{}",
        w.explain("docker image inspect", code, &out, &err)
    );
    out.trim().to_string()
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn skopeo_push_and_docker_pull_with_config_credentials() {
    let w = World::new();
    // (a) The push went through the token server with our user and push rights.
    let pushes = w.tokens.requests();
    assert!(
        pushes.iter().any(|r| r.user.as_deref() == Some(USER)
            && r.accepted
            && r.granted.iter().any(|g| g.contains("push"))),
        "skopeo never got a push token: {pushes:#?}"
    );
    // Anonymous push must not work: the registry really enforces tokens.
    let anon = fixtures::push_layout(&w.layout.dir, &w.reg.addr, "anon/busybox:latest");
    assert!(
        anon.is_err(),
        "anonymous push to a token registry succeeded"
    );
    w.tokens.clear();

    // (b) docker pull through silod, credentials from config.json via X-Registry-Auth.
    w.write_docker_config(USER, PASS);
    let (code, out, err) = run_any(w.daemon.docker().args(["pull", &w.image()]));
    assert_eq!(
        code,
        0,
        "{}",
        w.explain("docker pull with creds", code, &out, &err)
    );
    assert!(
        out.contains(&w.layout.index_digest),
        "{}",
        w.explain("pull output lacks the digest", code, &out, &err)
    );
    let reqs = w.tokens.requests();
    assert!(
        reqs.iter().any(|r| r.user.as_deref() == Some(USER)
            && r.accepted
            && r.scopes
                .iter()
                .any(|s| s == &format!("repository:{REPO}:pull"))),
        "silod did not fetch a pull token as {USER}: {reqs:#?}"
    );
    assert_eq!(
        inspect_id(&w),
        w.layout.primary().expect("one manifest").config_digest
    );
}

#[test]
fn silo_cli_pull_with_config_credentials() {
    let w = World::new();
    w.write_docker_config(USER, PASS);
    let (code, out, err) = run_any(w.daemon.silo().args(["pull", &w.image()]));
    assert_eq!(
        code,
        0,
        "{}",
        w.explain("silo pull with creds", code, &out, &err)
    );
    assert_eq!(
        inspect_id(&w),
        w.layout.primary().expect("one manifest").config_digest
    );
}

#[test]
fn wrong_password_pull_fails_with_auth_error() {
    let w = World::new();
    w.tokens.clear();
    w.write_docker_config(USER, "not-the-password");
    let (code, out, err) = run_any(w.daemon.docker().args(["pull", &w.image()]));
    assert_ne!(
        code,
        0,
        "{}",
        w.explain("pull with a wrong password succeeded", code, &out, &err)
    );
    assert!(
        mentions_auth(&format!("{out}\n{err}")),
        "{}",
        w.explain("error does not mention authentication", code, &out, &err)
    );
    eprintln!("wrong password: docker pull said: {}", err.trim());
    // The credentials did reach the token server (and were refused there).
    let reqs = w.tokens.requests();
    assert!(
        reqs.iter()
            .any(|r| r.user.as_deref() == Some(USER) && !r.accepted),
        "{}",
        w.explain(
            "silod never presented the (wrong) credentials",
            code,
            &out,
            &err
        )
    );
    assert!(
        reqs.iter().all(|r| r.granted.is_empty()),
        "a token with access was issued: {reqs:#?}"
    );
    let (icode, _, ierr) = run_any(w.daemon.docker().args(["image", "inspect", &w.image()]));
    assert_ne!(icode, 0, "image exists after a failed pull");
    assert!(ierr.contains("No such image"), "{ierr}");
}

#[test]
fn anonymous_pull_is_denied() {
    let w = World::new();
    w.tokens.clear();
    // No config.json: the docker CLI sends no credentials.
    let (code, out, err) = run_any(w.daemon.docker().args(["pull", &w.image()]));
    assert_ne!(
        code,
        0,
        "{}",
        w.explain("anonymous pull succeeded", code, &out, &err)
    );
    assert!(
        mentions_auth(&format!("{out}\n{err}")),
        "{}",
        w.explain("error does not mention authentication", code, &out, &err)
    );
    eprintln!("anonymous: docker pull said: {}", err.trim());
    let reqs = w.tokens.requests();
    eprintln!("anonymous: token requests: {reqs:?}");
    assert!(
        reqs.iter().all(|r| r.user.is_none()),
        "credentials sent although none were configured: {reqs:#?}"
    );
}

/// The token server itself, without silod: guards against a broken harness masquerading as a
/// silo bug.
#[test]
fn token_server_grants_only_what_was_asked() {
    let (signer, _) = signer_and_pem();
    let tokens = TokenServer::start(signer);
    let mut s = TcpStream::connect(&tokens.addr).expect("connect token server");
    let basic = STANDARD.encode(format!("{USER}:{PASS}"));
    write!(
        s,
        "GET /token?service={SERVICE}&scope=repository%3Abusybox%3Apull%2Cdelete HTTP/1.1\r\n\
         Host: x\r\nAuthorization: Basic {basic}\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    std::io::Read::read_to_string(&mut s, &mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(body).expect("token JSON");
    let jwt = v["token"].as_str().expect("token");
    assert_eq!(v["access_token"], v["token"]);
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let decode = |p: &str| -> serde_json::Value {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .expect("base64url");
        serde_json::from_slice(&raw).expect("JSON")
    };
    let (header, claims) = (decode(parts[0]), decode(parts[1]));
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["x5c"].as_array().map(Vec::len), Some(1));
    assert_eq!(claims["aud"], SERVICE);
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(
        claims["access"],
        json!([{ "type": "repository", "name": "busybox", "actions": ["pull"] }])
    );
    let seen: BTreeSet<String> = tokens
        .requests()
        .iter()
        .flat_map(|r| r.scopes.clone())
        .collect();
    assert!(seen.contains("repository:busybox:pull,delete"), "{seen:?}");
}
