//! Readiness probes over raw HTTP/1.0.
//!
//! A one-line request over `TcpStream` / `UnixStream` is all a probe needs; pulling in an HTTP
//! client would add a dependency tree (and TLS stack) to every test build for nothing.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// A parsed response: status code, raw header block, body.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// HTTP status code.
    pub status: u16,
    /// Header lines as received.
    pub headers: String,
    /// Body bytes (everything after the blank line).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `GET path` to a TCP address such as `127.0.0.1:5000`.
pub fn get_tcp(addr: &str, path: &str, timeout: Duration) -> io::Result<RawResponse> {
    let sock_addr = addr
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: {e}")))?;
    let stream = TcpStream::connect_timeout(&sock_addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    exchange(stream, path)
}

/// `GET path` over a unix socket.
pub fn get_unix(socket: &Path, path: &str, timeout: Duration) -> io::Result<RawResponse> {
    let stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    exchange(stream, path)
}

fn exchange<S: Read + Write>(mut stream: S, path: &str) -> io::Result<RawResponse> {
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )?;
    stream.flush()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse(&raw)
}

fn parse(raw: &[u8]) -> io::Result<RawResponse> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers in HTTP response"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status line in HTTP response"))?;
    Ok(RawResponse {
        status,
        headers: head,
        body: raw[split + 4..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_body() {
        let r = parse(b"HTTP/1.1 200 OK\r\nApi-Version: 1.51\r\n\r\nOK").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "OK");
        assert!(r.headers.contains("Api-Version"));
    }

    #[test]
    fn rejects_truncated() {
        assert!(parse(b"HTTP/1.1 200 OK\r\n").is_err());
    }
}
