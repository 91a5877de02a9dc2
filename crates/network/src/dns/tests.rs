//! Tests of the network resolver: a real client path (hickory-proto messages over loopback UDP
//! and TCP) against the server, with fake upstreams on 127.0.0.1.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

use super::*;

const WEB: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 77, 0, 2));
const WEB6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 0x77, 0, 0, 0, 0, 0, 2));
const DB: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 77, 0, 3));
const EXTERNAL: Ipv4Addr = Ipv4Addr::new(93, 184, 216, 34);
const WEB_ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn ip(addr: &str) -> IpAddr {
    addr.parse().unwrap()
}

/// `web` (alias `frontend`, `shared`) on 10.77.0.2 + fd00:77::2, `db` (alias `shared`) on
/// 10.77.0.3.
fn sample() -> Arc<RwLock<Records>> {
    let mut records = Records::new();
    records.add(&["web", "frontend", "shared", &WEB_ID[..12]], &[WEB, WEB6]);
    records.add(&["db", "shared"], &[DB]);
    Arc::new(RwLock::new(records))
}

async fn start(
    records: Arc<RwLock<Records>>,
    upstreams: Vec<SocketAddr>,
    forward: bool,
) -> DnsServer {
    DnsServer::bind("127.0.0.1:0".parse().unwrap(), records, upstreams, forward)
        .await
        .unwrap()
}

fn request(name: &str, rtype: RecordType) -> Message {
    let mut m = Message::new();
    m.set_id(rand_id())
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    m
}

fn rand_id() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0x1234);
    NEXT.fetch_add(7, Ordering::Relaxed) as u16
}

async fn ask_udp(server: SocketAddr, m: &Message) -> Message {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(&m.to_vec().unwrap(), server).await.unwrap();
    let mut buf = vec![0u8; 65535];
    let (len, _) = tokio::time::timeout(Duration::from_secs(4), sock.recv_from(&mut buf))
        .await
        .expect("no udp answer")
        .unwrap();
    let answer = Message::from_vec(&buf[..len]).unwrap();
    assert_eq!(answer.id(), m.id());
    assert_eq!(answer.message_type(), MessageType::Response);
    answer
}

async fn ask_tcp(server: SocketAddr, m: &Message) -> Message {
    let mut stream = TcpStream::connect(server).await.unwrap();
    let bytes = m.to_vec().unwrap();
    stream
        .write_all(&(bytes.len() as u16).to_be_bytes())
        .await
        .unwrap();
    stream.write_all(&bytes).await.unwrap();
    let read = async {
        let len = stream.read_u16().await.unwrap();
        let mut buf = vec![0u8; len as usize];
        stream.read_exact(&mut buf).await.unwrap();
        buf
    };
    let buf = tokio::time::timeout(Duration::from_secs(4), read)
        .await
        .expect("no tcp answer");
    let answer = Message::from_vec(&buf).unwrap();
    assert_eq!(answer.id(), m.id());
    answer
}

async fn a_udp(server: SocketAddr, name: &str) -> Message {
    ask_udp(server, &request(name, RecordType::A)).await
}

fn addrs(m: &Message) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = m
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

/// A fake upstream on 127.0.0.1 (UDP and TCP, same port): `example.com` is EXTERNAL, anything
/// else NXDOMAIN. With `truncate_udp`, UDP answers are empty with TC set.
struct Upstream {
    addr: SocketAddr,
    udp_queries: Arc<AtomicUsize>,
    tcp_queries: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn upstream_answer(query: &[u8], truncate: bool) -> Vec<u8> {
    let request = Message::from_vec(query).unwrap();
    let mut m = Message::new();
    m.set_id(request.id())
        .set_message_type(MessageType::Response)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(request.recursion_desired())
        .set_recursion_available(true)
        .add_queries(request.queries().iter().cloned());
    let q = &request.queries()[0];
    if q.name().to_ascii().eq_ignore_ascii_case("example.com.") {
        if truncate {
            m.set_truncated(true);
        } else if q.query_type() == RecordType::A {
            m.add_answer(Record::from_rdata(
                q.name().clone(),
                300,
                RData::A(A(EXTERNAL)),
            ));
        }
    } else {
        m.set_response_code(ResponseCode::NXDomain);
    }
    m.to_vec().unwrap()
}

async fn fake_upstream(truncate_udp: bool) -> Upstream {
    let (udp, tcp) = loop {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()).await {
            break (udp, tcp);
        }
    };
    let addr = udp.local_addr().unwrap();
    let udp_queries = Arc::new(AtomicUsize::new(0));
    let tcp_queries = Arc::new(AtomicUsize::new(0));
    let count = udp_queries.clone();
    let udp_task = tokio::spawn(async move {
        let mut buf = vec![0u8; 65535];
        loop {
            let (len, peer) = udp.recv_from(&mut buf).await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            let answer = upstream_answer(&buf[..len], truncate_udp);
            udp.send_to(&answer, peer).await.unwrap();
        }
    });
    let count = tcp_queries.clone();
    let tcp_task = tokio::spawn(async move {
        loop {
            let (mut stream, _) = tcp.accept().await.unwrap();
            let count = count.clone();
            tokio::spawn(async move {
                while let Ok(len) = stream.read_u16().await {
                    let mut buf = vec![0u8; len as usize];
                    stream.read_exact(&mut buf).await.unwrap();
                    count.fetch_add(1, Ordering::SeqCst);
                    let answer = upstream_answer(&buf, false);
                    let mut out = (answer.len() as u16).to_be_bytes().to_vec();
                    out.extend(answer);
                    stream.write_all(&out).await.unwrap();
                }
            });
        }
    });
    Upstream {
        addr,
        udp_queries,
        tcp_queries,
        tasks: vec![udp_task, tcp_task],
    }
}

#[test]
fn records_lookup_reverse_remove() {
    let records = sample();
    let mut r = records.write().unwrap();
    assert_eq!(r.lookup("web"), Some(&[WEB, WEB6][..]));
    assert_eq!(r.lookup("WeB."), Some(&[WEB, WEB6][..]));
    assert_eq!(r.lookup("0123456789ab"), Some(&[WEB, WEB6][..]));
    assert_eq!(r.lookup("shared"), Some(&[WEB, WEB6, DB][..]));
    assert_eq!(r.lookup("nope"), None);
    assert_eq!(r.reverse(WEB), Some("web"));
    assert_eq!(r.reverse(WEB6), Some("web"));
    assert_eq!(r.reverse(DB), Some("db"));
    // Adding the same again does not duplicate.
    r.add(&["DB"], &[DB]);
    assert_eq!(r.lookup("db"), Some(&[DB][..]));

    r.remove_addrs(&[WEB, WEB6]);
    assert_eq!(r.lookup("web"), None);
    assert_eq!(r.lookup("frontend"), None);
    assert_eq!(r.lookup("shared"), Some(&[DB][..]));
    assert_eq!(r.reverse(WEB), None);
    r.remove_addrs(&[DB]);
    assert!(r.is_empty());
    assert_eq!(r.reverse(DB), None);
}

#[test]
fn records_from_endpoint() {
    let ep = Endpoint {
        id: "e".repeat(64),
        network_id: "n".repeat(64),
        container_id: WEB_ID.into(),
        container_name: "/web".into(),
        aliases: vec!["frontend".into()],
        netns: "/proc/1/ns/net".into(),
        ifname: "eth0".into(),
        ipv4: Some("10.77.0.2/24".parse().unwrap()),
        ipv6: Some("fd00:77::2/64".parse().unwrap()),
        mac: "02:42:0a:4d:00:02".into(),
        gateway: None,
        gateway_v6: None,
        static_ip: false,
        policies: Default::default(),
        created: chrono::Utc::now(),
    };
    assert_eq!(endpoint_names(&ep), ["web", "frontend", "0123456789ab"]);
    assert_eq!(endpoint_addrs(&ep), [WEB, WEB6]);
    let mut r = Records::new();
    r.add_endpoint(&ep);
    assert_eq!(r.lookup("FRONTEND"), Some(&[WEB, WEB6][..]));
    assert_eq!(r.reverse(WEB6), Some("web"));
    r.remove_endpoint(&ep);
    assert!(r.is_empty());
}

#[test]
fn parses_resolv_conf() {
    let text = "# comment\n; other\nsearch example.org\nnameserver 127.0.0.53\n\
                nameserver   2001:db8::1  # trailing\nnameserver fe80::1%1\noptions edns0\n\
                nameserver 9.9.9.9\n";
    assert_eq!(
        parse_nameservers(text),
        [
            "127.0.0.53:53".parse::<SocketAddr>().unwrap(),
            "[2001:db8::1]:53".parse().unwrap(),
            "[fe80::1%1]:53".parse().unwrap(),
        ]
    );
    assert_eq!(
        parse_nameservers("nameserver bogus\nnameserver 0.0.0.0"),
        ["127.0.0.1:53".parse::<SocketAddr>().unwrap()]
    );
    let lo = parse_nameservers("nameserver fe80::2%lo");
    assert_eq!(lo.len(), 1);
    assert_ne!(
        lo[0].to_string(),
        "[fe80::2]:53",
        "zone resolved to an index"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resolv.conf");
    assert!(host_upstreams(&path).is_empty());
    std::fs::write(&path, "nameserver 10.0.0.1\n").unwrap();
    assert_eq!(
        host_upstreams(&path),
        ["10.0.0.1:53".parse::<SocketAddr>().unwrap()]
    );
}

#[tokio::test]
async fn answers_names_aliases_short_ids_any_case() {
    let server = start(sample(), vec![], true).await;
    let at = server.local_addr();
    for name in [
        "web",
        "web.",
        "WEB",
        "Web.",
        "frontend",
        "0123456789ab",
        "0123456789AB.",
    ] {
        let m = a_udp(at, name).await;
        assert_eq!(m.response_code(), ResponseCode::NoError, "{name}");
        assert!(m.authoritative(), "{name}");
        assert!(m.recursion_available());
        assert_eq!(addrs(&m), [WEB], "{name}");
        assert_eq!(m.answers()[0].ttl(), TTL);
        // The answer carries the name as asked.
        assert_eq!(m.answers()[0].name(), m.queries()[0].name());
    }
    let m = a_udp(at, "shared").await;
    assert_eq!(addrs(&m), [WEB, DB]);

    let m = ask_udp(at, &request("web", RecordType::AAAA)).await;
    assert_eq!(addrs(&m), [WEB6]);
    // db has no IPv6 address: NOERROR, no answer, not forwarded (there is no upstream: a
    // forward would be SERVFAIL).
    let m = ask_udp(at, &request("db", RecordType::AAAA)).await;
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(m.answers().is_empty());
    let m = ask_udp(at, &request("db", RecordType::MX)).await;
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(m.answers().is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn answers_over_tcp() {
    let server = start(sample(), vec![], false).await;
    let at = server.local_addr();
    let m = ask_tcp(at, &request("FRONTEND.", RecordType::A)).await;
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert_eq!(addrs(&m), [WEB]);
    // Two queries on one connection.
    let mut stream = TcpStream::connect(at).await.unwrap();
    for name in ["web", "db"] {
        let bytes = request(name, RecordType::A).to_vec().unwrap();
        let mut out = (bytes.len() as u16).to_be_bytes().to_vec();
        out.extend(bytes);
        stream.write_all(&out).await.unwrap();
        let len = stream.read_u16().await.unwrap();
        let mut buf = vec![0u8; len as usize];
        stream.read_exact(&mut buf).await.unwrap();
        let m = Message::from_vec(&buf).unwrap();
        assert_eq!(addrs(&m), [if name == "web" { WEB } else { DB }]);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn answers_ptr() {
    let server = start(sample(), vec![], false).await;
    let at = server.local_addr();
    let v6_arpa = "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.7.7.0.0.0.0.d.f.ip6.arpa.";
    for (arpa, name) in [
        ("2.0.77.10.in-addr.arpa.", "web."),
        ("3.0.77.10.in-addr.arpa", "db."),
        (v6_arpa, "web."),
    ] {
        let m = ask_udp(at, &request(arpa, RecordType::PTR)).await;
        assert_eq!(m.response_code(), ResponseCode::NoError, "{arpa}");
        let RData::PTR(ptr) = m.answers()[0].data() else {
            panic!("not a PTR: {m:?}")
        };
        assert_eq!(ptr.0.to_ascii(), name);
    }
    // Not a container address, nothing to forward to: REFUSED (forward = false).
    let m = ask_udp(at, &request("9.0.77.10.in-addr.arpa.", RecordType::PTR)).await;
    assert_eq!(m.response_code(), ResponseCode::Refused);
    server.shutdown().await;
}

#[tokio::test]
async fn forwards_unknown_names_udp_and_tcp() {
    let up = fake_upstream(false).await;
    let server = start(sample(), vec![up.addr], true).await;
    let at = server.local_addr();

    let m = a_udp(at, "example.com").await;
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(!m.authoritative());
    assert_eq!(addrs(&m), [IpAddr::V4(EXTERNAL)]);
    assert_eq!(m.answers()[0].ttl(), 300, "relayed as is");
    assert_eq!(up.udp_queries.load(Ordering::SeqCst), 1);

    let m = a_udp(at, "nxdomain.example.net").await;
    assert_eq!(m.response_code(), ResponseCode::NXDomain);

    // A TCP query is relayed over TCP.
    let m = ask_tcp(at, &request("example.com.", RecordType::A)).await;
    assert_eq!(addrs(&m), [IpAddr::V4(EXTERNAL)]);
    assert_eq!(up.tcp_queries.load(Ordering::SeqCst), 1);

    // Container names never reach the upstream.
    a_udp(at, "web").await;
    ask_udp(at, &request("web", RecordType::AAAA)).await;
    assert_eq!(up.udp_queries.load(Ordering::SeqCst), 2);
    server.shutdown().await;
}

#[tokio::test]
async fn truncated_upstream_answer_is_retried_over_tcp() {
    let up = fake_upstream(true).await;
    let server = start(sample(), vec![up.addr], true).await;
    let m = a_udp(server.local_addr(), "example.com").await;
    assert!(!m.truncated());
    assert_eq!(addrs(&m), [IpAddr::V4(EXTERNAL)]);
    assert_eq!(up.udp_queries.load(Ordering::SeqCst), 1);
    assert_eq!(up.tcp_queries.load(Ordering::SeqCst), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn silent_upstreams_give_servfail_in_time() {
    // Bound, never read: queries vanish.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let silent2 = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let ups = vec![silent.local_addr().unwrap(), silent2.local_addr().unwrap()];
    let server = start(sample(), ups, true).await;
    let started = Instant::now();
    let m = a_udp(server.local_addr(), "example.com").await;
    let took = started.elapsed();
    assert_eq!(m.response_code(), ResponseCode::ServFail);
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(3),
        "{took:?}"
    );

    // A dead upstream (connection refused) is skipped for the next one at once.
    let up = fake_upstream(false).await;
    let dead = {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        s.local_addr().unwrap()
    };
    let server2 = start(sample(), vec![dead, up.addr], true).await;
    let started = Instant::now();
    let m = a_udp(server2.local_addr(), "example.com").await;
    assert_eq!(addrs(&m), [IpAddr::V4(EXTERNAL)]);
    assert!(started.elapsed() < Duration::from_secs(1));
    server.shutdown().await;
    server2.shutdown().await;
}

#[tokio::test]
async fn no_forwarding_on_internal_networks() {
    let up = fake_upstream(false).await;
    let server = start(sample(), vec![up.addr], false).await;
    let at = server.local_addr();
    let m = a_udp(at, "example.com").await;
    assert_eq!(m.response_code(), ResponseCode::Refused);
    assert!(!m.recursion_available());
    let m = ask_tcp(at, &request("example.com", RecordType::A)).await;
    assert_eq!(m.response_code(), ResponseCode::Refused);
    assert_eq!(addrs(&a_udp(at, "db").await), [DB]);
    assert_eq!(up.udp_queries.load(Ordering::SeqCst), 0);
    assert_eq!(up.tcp_queries.load(Ordering::SeqCst), 0);
    server.shutdown().await;
}

#[tokio::test]
async fn records_are_read_per_query() {
    let up = fake_upstream(false).await;
    let records = Arc::new(RwLock::new(Records::new()));
    let server = start(records.clone(), vec![up.addr], true).await;
    let at = server.local_addr();
    assert_eq!(
        a_udp(at, "late").await.response_code(),
        ResponseCode::NXDomain
    );

    let late = ip("10.77.0.9");
    records.write().unwrap().add(&["late"], &[late]);
    let m = a_udp(at, "late").await;
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert_eq!(addrs(&m), [late]);

    records.write().unwrap().remove_addrs(&[late]);
    // Not ours any more: forwarded, and the upstream knows no such name.
    assert_eq!(
        a_udp(at, "late").await.response_code(),
        ResponseCode::NXDomain
    );
    server.shutdown().await;
}

#[tokio::test]
async fn edns_and_oversized_local_answers() {
    let mut records = Records::new();
    let many: Vec<IpAddr> = (1..=60)
        .map(|i| IpAddr::V4(Ipv4Addr::new(10, 77, 1, i)))
        .collect();
    records.add(&["many"], &many);
    let server = start(Arc::new(RwLock::new(records)), vec![], false).await;
    let at = server.local_addr();
    // 60 A records do not fit 512 bytes: TC, and the client retries over TCP.
    let m = a_udp(at, "many").await;
    assert!(m.truncated());
    assert!(m.answers().is_empty());
    let m = ask_tcp(at, &request("many", RecordType::A)).await;
    assert_eq!(m.answers().len(), 60);
    // With EDNS (4096) they fit over UDP, and the answer has an OPT record.
    let mut q = request("many", RecordType::A);
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    q.set_edns(edns);
    let m = ask_udp(at, &q).await;
    assert!(!m.truncated());
    assert_eq!(m.answers().len(), 60);
    assert!(m.extensions().is_some());
    server.shutdown().await;
}

#[tokio::test]
async fn garbage_and_odd_queries() {
    let server = start(sample(), vec![], true).await;
    let at = server.local_addr();
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // A header claiming one question, and no question: FORMERR with the same id.
    let mut junk = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    junk.extend([0xff; 3]);
    sock.send_to(&junk, at).await.unwrap();
    let mut buf = [0u8; 512];
    let (len, _) = tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let m = Message::from_vec(&buf[..len]).unwrap();
    assert_eq!(m.id(), 0xabcd);
    assert_eq!(m.response_code(), ResponseCode::FormErr);
    // Shorter than a header: ignored; the server keeps serving.
    sock.send_to(&[1, 2, 3], at).await.unwrap();
    // Not a query opcode: NOTIMP.
    let mut q = request("web", RecordType::A);
    q.set_op_code(OpCode::Status);
    assert_eq!(ask_udp(at, &q).await.response_code(), ResponseCode::NotImp);
    // No upstream while forwarding: SERVFAIL at once.
    assert_eq!(
        a_udp(at, "example.com").await.response_code(),
        ResponseCode::ServFail
    );
    assert_eq!(addrs(&a_udp(at, "web").await), [WEB]);
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_and_drop_close_the_sockets() {
    let server = start(sample(), vec![], false).await;
    let at = server.local_addr();
    server.shutdown().await;
    // Both ports are free again at once.
    let again = DnsServer::bind(at, sample(), vec![], false).await.unwrap();
    assert_eq!(again.local_addr(), at);
    assert_eq!(addrs(&a_udp(at, "web").await), [WEB]);
    drop(again);
    // Dropped: closed shortly after.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match DnsServer::bind(at, sample(), vec![], false).await {
            Ok(s) => {
                s.shutdown().await;
                break;
            }
            Err(e) if Instant::now() < deadline => {
                assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("still bound after drop: {e}"),
        }
    }
    // An address not on this host is an error (after the EADDRNOTAVAIL retries).
    let started = Instant::now();
    let err = DnsServer::bind("192.0.2.1:0".parse().unwrap(), sample(), vec![], false)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrNotAvailable);
    assert!(started.elapsed() < Duration::from_secs(4));
}

/// busybox nslookup as a real resolver client (it takes `SERVER:PORT`).
#[tokio::test]
async fn busybox_nslookup() {
    let busybox = Path::new("/bin/busybox");
    if !busybox.exists() {
        eprintln!("no /bin/busybox, skipping");
        return;
    }
    let server = start(sample(), vec![], false).await;
    let at = server.local_addr();
    let out = tokio::process::Command::new(busybox)
        .args(["nslookup", "-type=a", "frontend", &at.to_string()])
        .output();
    let out = tokio::time::timeout(Duration::from_secs(4), out)
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Address: 10.77.0.2"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.shutdown().await;
}

/// A figure, not a check: sequential local answers over UDP (`--ignored --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn local_answer_rate() {
    let server = start(sample(), vec![], false).await;
    let at = server.local_addr();
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.connect(at).await.unwrap();
    let query = request("frontend", RecordType::A).to_vec().unwrap();
    let mut buf = [0u8; 512];
    let n = 20_000;
    let started = Instant::now();
    for _ in 0..n {
        sock.send(&query).await.unwrap();
        sock.recv(&mut buf).await.unwrap();
    }
    let took = started.elapsed();
    eprintln!(
        "{n} queries in {took:?}: {:.0}/s",
        n as f64 / took.as_secs_f64()
    );
    server.shutdown().await;
}
