//! The resolver of a user-defined bridge network (Docker's embedded DNS, done our way).
//!
//! silod runs one [`DnsServer`] per network and address family in the host network namespace,
//! bound to the network's gateway on port 53 (UDP and TCP); containers get
//! `nameserver <gateway>` in their `resolv.conf`. The server answers from the network's
//! [`Records`], which the service edits as endpoints come and go and which is read afresh for
//! every query:
//!
//! * A / AAAA for the names of containers on that network (name, aliases, short id), any case,
//!   with or without the trailing dot; all addresses when endpoints share an alias. A name we
//!   know but without an address of the asked family (AAAA on a v4-only network) is NOERROR with
//!   an empty answer: forwarding it would ask the outside world about a container's name, and
//!   whatever came back (another host's address) would shadow the container.
//! * PTR for the containers' addresses, giving the container's name.
//! * Everything else is relayed, byte for byte, to the host's resolvers ([`host_upstreams`]):
//!   over UDP for UDP queries (retrying over TCP when the answer is truncated), over TCP for TCP
//!   queries, within [`FORWARD_TIMEOUT`], SERVFAIL when no upstream answers. Upstreams on
//!   loopback work because the server lives in the host namespace. Networks without a route out
//!   (`forward: false`) answer REFUSED instead: the client's resolver gives up at once rather
//!   than waiting, and the query never leaves the host.
//!
//! Only `hickory-proto` is used, with `default-features = false, features = ["std"]` (no tokio
//! client glue, no DNSSEC, TLS or HTTPS), to parse and encode messages; a debug build of it takes
//! ~4 s on two cores and its heavier dependencies (`url`, `idna`) are in the workspace already.
//! `hickory-server`'s `ServerFuture` + `RequestHandler` would replace the two small socket loops
//! below, but not the forwarding: its handler gets a parsed request and writes a response through
//! its own builder, while relaying the client's query byte for byte (EDNS options, flags, id and
//! all) is both simpler and more faithful. It would also pull in its authority machinery and
//! the tokio features of `hickory-proto` for that small gain.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_proto::op::{Edns, Header, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{timeout, timeout_at, Instant};

use crate::model::Endpoint;

/// TTL of the records we answer. Docker uses 600 s, but containers come and go and a restarted
/// container usually gets a new address: a client that cached the old one for ten minutes would
/// talk to nothing (or to someone else). Queries to the gateway are cheap, so keep caches short.
pub const TTL: u32 = 10;

/// How long a forwarded query may take, all upstreams together, before the client gets
/// SERVFAIL. Shorter than the 5 s a glibc client waits for us, so it sees our answer.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(2);

/// How long `bind` retries while the gateway address is not usable yet (IPv6 DAD).
const BIND_RETRY: Duration = Duration::from_secs(3);

/// Forwarded UDP queries in flight per server; more are dropped (the client retries).
const MAX_UDP_INFLIGHT: usize = 256;

/// TCP connections per server; more are closed at once.
const MAX_TCP_CONNS: usize = 64;

/// A TCP client that sends nothing for this long is disconnected (RFC 7766 asks for seconds).
const TCP_IDLE: Duration = Duration::from_secs(10);

/// The UDP payload size we advertise in EDNS answers (the DNS flag day 2020 value).
const EDNS_PAYLOAD: u16 = 1232;

/// At most this many `nameserver` lines are used, as glibc and musl do (`MAXNS`).
const MAXNS: usize = 3;

/// The names a network's resolver knows: lowercase name -> addresses, address -> name (PTR).
#[derive(Debug, Clone, Default)]
pub struct Records {
    names: HashMap<String, Vec<IpAddr>>,
    ptr: HashMap<IpAddr, String>,
}

/// Lowercase, without the trailing dot.
fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Records {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every name in `names` resolve to `addrs` too (names are case-insensitive; a name
    /// already known keeps its other addresses, so a shared alias gets all of them). The first
    /// name is what PTR queries for `addrs` answer: pass the container's name first.
    pub fn add<S: AsRef<str>>(&mut self, names: &[S], addrs: &[IpAddr]) {
        for name in names {
            let name = normalize(name.as_ref());
            if name.is_empty() {
                continue;
            }
            let known = self.names.entry(name).or_default();
            for addr in addrs {
                if !known.contains(addr) {
                    known.push(*addr);
                }
            }
        }
        if let Some(first) = names
            .iter()
            .map(|n| n.as_ref())
            .find(|n| !normalize(n).is_empty())
        {
            let first = first.trim_end_matches('.');
            for addr in addrs {
                self.ptr.insert(*addr, first.to_string());
            }
        }
    }

    /// Forgets `addrs`: names left without an address disappear, and so do their PTRs.
    pub fn remove_addrs(&mut self, addrs: &[IpAddr]) {
        self.names.retain(|_, known| {
            known.retain(|a| !addrs.contains(a));
            !known.is_empty()
        });
        for addr in addrs {
            self.ptr.remove(addr);
        }
    }

    /// The addresses of `name` (any case, trailing dot or not), or `None` if no container on
    /// the network has that name.
    pub fn lookup(&self, name: &str) -> Option<&[IpAddr]> {
        self.names.get(&normalize(name)).map(Vec::as_slice)
    }

    /// The container name of `ip` (as added, without a trailing dot).
    pub fn reverse(&self, ip: IpAddr) -> Option<&str> {
        self.ptr.get(&ip).map(String::as_str)
    }

    /// Whether nothing is known.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Adds an endpoint the way Docker names it: the container's name (PTR target), its aliases
    /// and the 12-character short id of the container, for the endpoint's addresses.
    pub fn add_endpoint(&mut self, ep: &Endpoint) {
        self.add(&endpoint_names(ep), &endpoint_addrs(ep));
    }

    /// Removes what [`Records::add_endpoint`] added (by address).
    pub fn remove_endpoint(&mut self, ep: &Endpoint) {
        self.remove_addrs(&endpoint_addrs(ep));
    }
}

/// The names the network's DNS resolves to an endpoint: container name, aliases, short id.
pub fn endpoint_names(ep: &Endpoint) -> Vec<String> {
    let mut names = Vec::with_capacity(ep.aliases.len() + 2);
    names.push(ep.container_name.trim_start_matches('/').to_string());
    names.extend(ep.aliases.iter().cloned());
    if let Some(short) = ep.container_id.get(..12) {
        names.push(short.to_string());
    }
    names.retain(|n| !n.is_empty());
    names
}

/// The endpoint's addresses, IPv4 first.
pub fn endpoint_addrs(ep: &Endpoint) -> Vec<IpAddr> {
    ep.ipv4
        .iter()
        .chain(ep.ipv6.iter())
        .map(|n| n.addr())
        .collect()
}

/// The host's resolvers: the `nameserver` lines of `resolv_conf` (at most three, as libc uses),
/// port 53. Empty when the file is missing or names none; the caller decides what that means
/// (every forwarded query then gets SERVFAIL).
pub fn host_upstreams(resolv_conf: &Path) -> Vec<SocketAddr> {
    match std::fs::read_to_string(resolv_conf) {
        Ok(text) => parse_nameservers(&text),
        Err(_) => Vec::new(),
    }
}

fn parse_nameservers(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            if words.next()? != "nameserver" {
                return None;
            }
            parse_nameserver(words.next()?)
        })
        .take(MAXNS)
        .collect()
}

/// `1.2.3.4`, `2001:db8::1`, `fe80::1%eth0` (or `%2`); the unspecified address means this host,
/// as in libc.
fn parse_nameserver(word: &str) -> Option<SocketAddr> {
    let (addr, zone) = match word.split_once('%') {
        Some((addr, zone)) => (addr, Some(zone)),
        None => (word, None),
    };
    match addr.parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) if v4.is_unspecified() => Some((Ipv4Addr::LOCALHOST, 53).into()),
        IpAddr::V4(v4) => Some((v4, 53).into()),
        IpAddr::V6(v6) => {
            let v6 = if v6.is_unspecified() {
                Ipv6Addr::LOCALHOST
            } else {
                v6
            };
            let scope = match zone {
                None => 0,
                Some(zone) => zone.parse().ok().or_else(|| if_index(zone))?,
            };
            Some(SocketAddrV6::new(v6, 53, 0, scope).into())
        }
    }
}

fn if_index(name: &str) -> Option<u32> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call; if_nametoindex
    // only reads it.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

/// What the resolver shares between its sockets.
#[derive(Debug)]
struct Shared {
    records: Arc<RwLock<Records>>,
    upstreams: Vec<SocketAddr>,
    forward: bool,
}

/// A network's resolver, serving UDP and TCP on one address. Dropping it stops it (the sockets
/// close shortly after, on the runtime); [`DnsServer::shutdown`] stops it and waits until they
/// are closed.
#[derive(Debug)]
pub struct DnsServer {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl DnsServer {
    /// Binds UDP and TCP on `addr` (port 0 picks a port free for both) and starts serving
    /// `records`, forwarding other names to `upstreams` when `forward` is set. `addr` itself is
    /// dropped from `upstreams` (it would loop). While the address is not usable yet
    /// (EADDRNOTAVAIL: the gateway was just put on the bridge and IPv6 DAD is running) it retries
    /// for 3 s; other errors are returned at once. A bridge without ports has no carrier, so DAD
    /// never finishes there: put the IPv6 gateway on the bridge with `nodad`, as Docker does.
    pub async fn bind(
        addr: SocketAddr,
        records: Arc<RwLock<Records>>,
        upstreams: Vec<SocketAddr>,
        forward: bool,
    ) -> io::Result<DnsServer> {
        let (udp, tcp) = bind_sockets(addr).await?;
        let local_addr = udp.local_addr()?;
        let upstreams = upstreams.into_iter().filter(|u| *u != local_addr).collect();
        let shared = Arc::new(Shared {
            records,
            upstreams,
            forward,
        });
        let (stop, stopped) = watch::channel(false);
        let tasks = vec![
            tokio::spawn(serve_udp(Arc::new(udp), shared.clone(), stopped.clone())),
            tokio::spawn(serve_tcp(tcp, shared, stopped)),
        ];
        Ok(DnsServer {
            local_addr,
            stop,
            tasks,
        })
    }

    /// The address served (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops serving; when it returns, both sockets are closed and no query is in flight.
    pub async fn shutdown(self) {
        let DnsServer { stop, tasks, .. } = self;
        let _ = stop.send(true);
        for task in tasks {
            let _ = task.await;
        }
    }
}

async fn bind_sockets(addr: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    let deadline = Instant::now() + BIND_RETRY;
    let mut port_tries = 0;
    loop {
        let attempt = async {
            let udp = UdpSocket::bind(addr).await?;
            let tcp = TcpListener::bind(udp.local_addr()?).await?;
            io::Result::Ok((udp, tcp))
        };
        match attempt.await {
            Ok(sockets) => return Ok(sockets),
            Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // The port picked for UDP is taken for TCP: pick another.
            Err(e)
                if e.kind() == io::ErrorKind::AddrInUse && addr.port() == 0 && port_tries < 10 =>
            {
                port_tries += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn serve_udp(sock: Arc<UdpSocket>, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut buf = vec![0u8; 65535];
    let mut inflight = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
            received = sock.recv_from(&mut buf) => {
                let (len, peer) = match received {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::debug!("dns: udp receive: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let packet = &buf[..len];
                match handle(&shared, packet) {
                    Action::Reply(reply) => {
                        let reply = fit_udp(reply, packet);
                        let _ = sock.send_to(&reply, peer).await;
                    }
                    Action::Forward(request) => {
                        if inflight.len() >= MAX_UDP_INFLIGHT {
                            tracing::debug!("dns: too many forwarded queries, dropping one");
                            continue;
                        }
                        let query = packet.to_vec();
                        let sock = sock.clone();
                        let shared = shared.clone();
                        inflight.spawn(async move {
                            let limit = usize::from(request.max_payload());
                            let reply = forward(&shared, &query, &request, Some(limit)).await;
                            let _ = sock.send_to(&reply, peer).await;
                        });
                    }
                    Action::Ignore => {}
                }
            }
        }
    }
    inflight.shutdown().await;
}

async fn serve_tcp(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) if conns.len() < MAX_TCP_CONNS => {
                    conns.spawn(serve_conn(stream, shared.clone()));
                }
                Ok(_) => tracing::debug!("dns: too many tcp connections, closing one"),
                Err(e) => {
                    tracing::debug!("dns: tcp accept: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
    conns.shutdown().await;
}

/// Serves one TCP client: length-prefixed queries, one at a time, until it goes quiet.
async fn serve_conn(mut stream: TcpStream, shared: Arc<Shared>) {
    loop {
        let Ok(Ok(len)) = timeout(TCP_IDLE, stream.read_u16()).await else {
            return;
        };
        let mut query = vec![0u8; usize::from(len)];
        let Ok(Ok(_)) = timeout(TCP_IDLE, stream.read_exact(&mut query)).await else {
            return;
        };
        let reply = match handle(&shared, &query) {
            Action::Reply(reply) => reply,
            Action::Forward(request) => forward(&shared, &query, &request, None).await,
            Action::Ignore => continue,
        };
        let Ok(len) = u16::try_from(reply.len()) else {
            return;
        };
        let mut out = Vec::with_capacity(reply.len() + 2);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&reply);
        if !matches!(timeout(TCP_IDLE, stream.write_all(&out)).await, Ok(Ok(()))) {
            return;
        }
    }
}

/// What to do with a query.
enum Action {
    /// Send this back.
    Reply(Vec<u8>),
    /// Not ours: relay it to the upstreams.
    Forward(Box<Message>),
    /// Not a query (a stray response, garbage shorter than a header): say nothing.
    Ignore,
}

/// Answers `packet` from the records, or says it must be forwarded.
fn handle(shared: &Shared, packet: &[u8]) -> Action {
    let request = match Message::from_vec(packet) {
        Ok(m) => m,
        // Too short to tell, or a response: nothing to answer.
        Err(_) if packet.len() < Header::len() || packet[2] & 0x80 != 0 => return Action::Ignore,
        Err(_) => {
            let id = u16::from_be_bytes([packet[0], packet[1]]);
            return reply(Message::error_msg(id, OpCode::Query, ResponseCode::FormErr));
        }
    };
    if request.message_type() != MessageType::Query {
        return Action::Ignore;
    }
    let mut response = response_to(&request, shared.forward);
    if request.op_code() != OpCode::Query {
        response.set_response_code(ResponseCode::NotImp);
        return reply(response);
    }
    let [query] = request.queries() else {
        response.set_response_code(ResponseCode::FormErr);
        return reply(response);
    };

    if query.query_class() == DNSClass::IN {
        let records = shared.records.read().unwrap_or_else(|e| e.into_inner());
        if let Some(answers) = local_answers(&records, query.name(), query.query_type()) {
            response.set_authoritative(true);
            response.add_answers(answers);
            return reply(response);
        }
    }

    if !shared.forward {
        response.set_response_code(ResponseCode::Refused);
        reply(response)
    } else if shared.upstreams.is_empty() {
        response.set_response_code(ResponseCode::ServFail);
        reply(response)
    } else {
        Action::Forward(Box::new(request))
    }
}

/// The records answering `name`/`rtype`, `Some(empty)` for a name we know without such records,
/// `None` for a name that is not ours.
fn local_answers(records: &Records, name: &Name, rtype: RecordType) -> Option<Vec<Record>> {
    if rtype == RecordType::PTR {
        let ip = name
            .parse_arpa_name()
            .ok()
            .filter(|net| net.prefix_len() == net.max_prefix_len())?
            .addr();
        let target = records.reverse(ip)?;
        let mut target = Name::from_ascii(target).ok()?;
        target.set_fqdn(true);
        return Some(vec![Record::from_rdata(
            name.clone(),
            TTL,
            RData::PTR(PTR(target)),
        )]);
    }
    let addrs = records.lookup(&name.to_ascii())?;
    let answers = addrs
        .iter()
        .filter_map(|addr| match (addr, rtype) {
            (IpAddr::V4(v4), RecordType::A | RecordType::ANY) => Some(RData::A(A(*v4))),
            (IpAddr::V6(v6), RecordType::AAAA | RecordType::ANY) => Some(RData::AAAA(AAAA(*v6))),
            _ => None,
        })
        .map(|rdata| Record::from_rdata(name.clone(), TTL, rdata))
        .collect();
    Some(answers)
}

/// An empty response to `request`: same id and question, RD and CD copied, EDNS if it had EDNS.
fn response_to(request: &Message, forward: bool) -> Message {
    let mut response = Message::new();
    response.set_header(Header::response_from_request(request.header()));
    response.set_recursion_available(forward);
    response.add_queries(request.queries().iter().cloned());
    if request.extensions().is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        response.set_edns(edns);
    }
    response
}

fn reply(message: Message) -> Action {
    match message.to_vec() {
        Ok(bytes) => Action::Reply(bytes),
        Err(e) => {
            tracing::debug!("dns: encoding a response: {e}");
            Action::Ignore
        }
    }
}

/// Keeps a local answer within what the UDP client can take: past it, the answers are dropped
/// and TC is set so the client asks again over TCP.
fn fit_udp(reply: Vec<u8>, query: &[u8]) -> Vec<u8> {
    let Ok(request) = Message::from_vec(query) else {
        return reply;
    };
    if reply.len() <= usize::from(request.max_payload()) {
        return reply;
    }
    match Message::from_vec(&reply) {
        Ok(mut message) => {
            message.take_answers();
            message.set_truncated(true);
            message.to_vec().unwrap_or(reply)
        }
        Err(_) => reply,
    }
}

/// Relays `query` upstream; SERVFAIL when nobody answers in time. `udp_limit` is the UDP
/// client's payload size, `None` for a TCP client.
async fn forward(
    shared: &Shared,
    query: &[u8],
    request: &Message,
    udp_limit: Option<usize>,
) -> Vec<u8> {
    if let Some(answer) = relay(&shared.upstreams, query, udp_limit).await {
        return answer;
    }
    tracing::debug!(
        "dns: no upstream answered {:?}",
        request.queries().first().map(|q| q.name().to_ascii())
    );
    let mut response = response_to(request, true);
    response.set_response_code(ResponseCode::ServFail);
    response.to_vec().unwrap_or_default()
}

/// Tries the upstreams in order, each with an equal share of what is left of
/// [`FORWARD_TIMEOUT`]. SERVFAIL or REFUSED from one moves on to the next (and is relayed if
/// nobody does better). A truncated UDP answer is asked again over TCP and the full answer sent
/// if the client can take it over UDP; otherwise the truncated one is, and the client comes back
/// over TCP, which we relay over TCP.
async fn relay(
    upstreams: &[SocketAddr],
    query: &[u8],
    udp_limit: Option<usize>,
) -> Option<Vec<u8>> {
    let id = [*query.first()?, *query.get(1)?];
    let deadline = Instant::now() + FORWARD_TIMEOUT;
    let mut fallback = None;
    for (i, upstream) in upstreams.iter().enumerate() {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let share = (deadline - now) / u32::try_from(upstreams.len() - i).unwrap_or(1);
        let attempt = now + share;
        let answer = match udp_limit {
            Some(_) => relay_udp(*upstream, query, id, attempt).await,
            None => relay_tcp(*upstream, query, id, attempt).await,
        };
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!("dns: upstream {upstream}: {e}");
                continue;
            }
        };
        let truncated = answer[2] & 0x02 != 0;
        if let (true, Some(limit)) = (truncated, udp_limit) {
            return match relay_tcp(*upstream, query, id, deadline).await {
                Ok(full) if full.len() <= limit => Some(full),
                _ => Some(answer),
            };
        }
        let rcode = u16::from(answer[3] & 0x0f);
        if rcode == u16::from(ResponseCode::ServFail) || rcode == u16::from(ResponseCode::Refused) {
            fallback = Some(answer);
            continue;
        }
        return Some(answer);
    }
    fallback
}

/// Whether `answer` is a response to the query with `id`.
fn answers(answer: &[u8], id: [u8; 2]) -> bool {
    answer.len() >= Header::len() && answer[..2] == id && answer[2] & 0x80 != 0
}

async fn relay_udp(
    upstream: SocketAddr,
    query: &[u8],
    id: [u8; 2],
    deadline: Instant,
) -> io::Result<Vec<u8>> {
    let local: SocketAddr = match upstream {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    timeout_at(deadline, async {
        // A connected socket on a fresh port: only the upstream's datagrams reach it.
        let sock = UdpSocket::bind(local).await?;
        sock.connect(upstream).await?;
        sock.send(query).await?;
        let mut buf = vec![0u8; 65535];
        loop {
            let len = sock.recv(&mut buf).await?;
            if answers(&buf[..len], id) {
                buf.truncate(len);
                return Ok(buf);
            }
        }
    })
    .await
    .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
}

async fn relay_tcp(
    upstream: SocketAddr,
    query: &[u8],
    id: [u8; 2],
    deadline: Instant,
) -> io::Result<Vec<u8>> {
    let len =
        u16::try_from(query.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    timeout_at(deadline, async {
        let mut stream = TcpStream::connect(upstream).await?;
        let mut out = Vec::with_capacity(query.len() + 2);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(query);
        stream.write_all(&out).await?;
        loop {
            let len = stream.read_u16().await?;
            let mut answer = vec![0u8; usize::from(len)];
            stream.read_exact(&mut answer).await?;
            if answers(&answer, id) {
                return Ok(answer);
            }
        }
    })
    .await
    .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
}

#[cfg(test)]
mod tests;
