//! The tunnel through an HTTP proxy: `CONNECT host:port HTTP/1.1` (RFC 9110
//! section 9.3.6), with Basic `Proxy-Authorization` when the proxy URL has a
//! user, and the proxy's answer read without reading past its head.
#![deny(unsafe_code)]

use super::{Kind, ProxyUrl};
use crate::error::{Code, Error, Result};
use crate::options::{HostKind, Target};
use crate::transport::Transport;
use std::time::{Duration, Instant};

/// Largest CONNECT response head we buffer.
const MAX_HEAD: usize = 16 * 1024;

/// "host:port" as the CONNECT request target and Host header.
pub fn authority(t: &Target) -> String {
    match &t.host {
        HostKind::Name(n) => format!("{n}:{}", t.port),
        HostKind::V4(a) => format!("{a}:{}", t.port),
        HostKind::V6(a) => format!("[{a}]:{}", t.port),
    }
}

pub fn request(p: &ProxyUrl, t: &Target) -> Vec<u8> {
    let a = authority(t);
    let mut r = format!("CONNECT {a} HTTP/1.1\r\nHost: {a}\r\nUser-Agent: {}\r\n", crate::handshake::USER_AGENT);
    if let Some(auth) = p.basic_auth() {
        r.push_str("Proxy-Authorization: ");
        r.push_str(&auth);
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// The proxy's answer to CONNECT, once its head is complete.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    /// Bytes after the head (must be none on success).
    pub extra: usize,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Parses the answer in `buf`: Ok(None) while incomplete.
pub fn parse(buf: &[u8], proxy: &str) -> Result<Option<Answer>> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => Ok(Some(Answer {
            status: resp.code.unwrap_or(0),
            reason: resp.reason.unwrap_or("").to_string(),
            headers: resp
                .headers
                .iter()
                .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).trim().to_string()))
                .collect(),
            extra: buf.len() - n,
        })),
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => Err(Error::new(
            Code::ProxyProtocol,
            format!("proxy {proxy}: CONNECT response head larger than {MAX_HEAD} bytes"),
        )),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => {
            let first = String::from_utf8_lossy(buf.split(|&b| b == b'\n').next().unwrap_or(b""));
            let first: String = first.trim_end().chars().filter(|c| !c.is_control()).take(80).collect();
            Err(Error::new(
                Code::ProxyProtocol,
                format!("proxy {proxy}: not an HTTP proxy: malformed answer to CONNECT ({e}): \"{first}\""),
            ))
        }
    }
}

/// The error for an answer that is not 2xx: 407 is WS_E_PROXY_AUTH, the
/// rest WS_E_PROXY_REFUSED; the status reads as an upgrade status does
/// ("HTTP 403 Forbidden").
pub fn refusal(a: &Answer, p: &ProxyUrl, target: &Target) -> Error {
    let mut e = refusal_msg(a, p, target);
    // ws_last_http_status() / ws_last_response_headers(), as for a refused
    // upgrade
    let headers: String = a.headers.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
    e.http = Some(std::sync::Arc::new(crate::error::HttpReply { status: a.status, headers }));
    e
}

fn refusal_msg(a: &Answer, p: &ProxyUrl, target: &Target) -> Error {
    let proxy = p.display();
    let reason = if a.reason.is_empty() { canonical(a.status) } else { a.reason.as_str() };
    let status = format!("HTTP {} {reason}", a.status).trim_end().to_string();
    let squid = a.header("x-squid-error").map(|e| format!(" ({e})")).unwrap_or_default();
    if a.status == 407 {
        let how = a.header("proxy-authenticate").map(|h| format!("; it asks for {h}")).unwrap_or_default();
        let what = if p.user.is_some() {
            format!("proxy authentication failed: proxy {proxy} rejected the user name or password")
        } else {
            format!("proxy authentication required: proxy {proxy} wants a user name and password in the proxy URL")
        };
        return Error::new(Code::ProxyAuth, format!("{what} ({status}{how})"));
    }
    Error::new(Code::ProxyRefused, format!("proxy {proxy} refused CONNECT to {}: {status}{squid}", authority(target)))
}

fn canonical(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// Sends CONNECT on `t` (plain TCP or TLS to the proxy) and reads the
/// answer. Ok: the CONNECT status (2xx); the tunnel is open.
pub fn connect(t: &mut Transport, p: &ProxyUrl, target: &Target, deadline: Option<Instant>, ms: u128) -> Result<u16> {
    debug_assert!(matches!(p.kind, Kind::Http | Kind::Https));
    let proxy = p.display();
    let stage = format!("the CONNECT to {} through proxy {proxy}", authority(target));
    let io_err = |what: &str, e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::TimedOut {
            Error::new(Code::Timeout, format!("timeout after {ms} ms during {stage}"))
        } else {
            Error::io(Code::ProxyProtocol, &format!("proxy {proxy}: {what}"), &e)
        }
    };
    t.write_all_until(&request(p, target), deadline).map_err(|e| io_err("sending CONNECT", e))?;
    let mut buf = vec![0u8; 1024];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize((buf.len() * 2).min(MAX_HEAD), 0);
        }
        let n = t
            .read_until(&mut buf[len..], deadline, Duration::ZERO)
            .map_err(|e| io_err("reading the answer to CONNECT", e))?;
        if n == 0 {
            return Err(Error::new(
                Code::ProxyProtocol,
                format!("proxy {proxy}: connection closed before a complete answer to CONNECT ({len} bytes received)"),
            ));
        }
        len += n;
        if let Some(a) = parse(&buf[..len], &proxy)? {
            if !(200..300).contains(&a.status) {
                return Err(refusal(&a, p, target));
            }
            if a.extra > 0 {
                return Err(Error::new(
                    Code::ProxyProtocol,
                    format!(
                        "proxy {proxy}: {} bytes of data after its CONNECT answer, before the tunnel was used",
                        a.extra
                    ),
                ));
            }
            return Ok(a.status);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::parse_url;

    #[test]
    fn requests() {
        let p = ProxyUrl::parse("http://u:pw@p:1").unwrap();
        let r = String::from_utf8(request(&p, &parse_url("wss://[::1]:8443/x").unwrap())).unwrap();
        assert!(r.starts_with("CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n"), "{r}");
        assert!(r.contains(&format!("Proxy-Authorization: Basic {}\r\n", crate::options::base64(b"u:pw"))));
        assert!(r.ends_with("\r\n\r\n"));
        let p = ProxyUrl::parse("http://p:1").unwrap();
        let r = String::from_utf8(request(&p, &parse_url("ws://h/").unwrap())).unwrap();
        assert!(r.starts_with("CONNECT h:80 HTTP/1.1\r\n") && !r.contains("Proxy-Authorization"), "{r}");
    }

    #[test]
    fn answers() {
        assert!(parse(b"HTTP/1.1 200 Connection est", "p").unwrap().is_none());
        let a = parse(b"HTTP/1.1 200 Connection established\r\n\r\n", "p").unwrap().unwrap();
        assert_eq!((a.status, a.extra), (200, 0));
        let a = parse(b"HTTP/1.0 200 OK\r\nX: y\r\n\r\nAB", "p").unwrap().unwrap();
        assert_eq!(a.extra, 2);
        let e = parse(b"\x05\x00", "p").unwrap_err();
        assert_eq!(e.code, Code::ProxyProtocol);
        assert!(e.msg.contains("not an HTTP proxy"), "{}", e.msg);
        let big = vec![b'a'; MAX_HEAD];
        assert_eq!(
            parse(&[b"HTTP/1.1 200 OK\r\nX: ".as_slice(), &big].concat(), "p").unwrap_err().code,
            Code::ProxyProtocol
        );
    }

    #[test]
    fn refusals() {
        let t = parse_url("ws://h:81/").unwrap();
        let anon = ProxyUrl::parse("http://p:1").unwrap();
        let user = ProxyUrl::parse("http://u:secret@p:1").unwrap();
        let a = parse(b"HTTP/1.1 403 Forbidden\r\nX-Squid-Error: ERR_ACCESS_DENIED 0\r\n\r\n", "p").unwrap().unwrap();
        let e = refusal(&a, &anon, &t);
        assert_eq!(e.code, Code::ProxyRefused);
        let h = e.http.as_ref().unwrap();
        assert_eq!((h.status, h.headers.as_str()), (403, "X-Squid-Error: ERR_ACCESS_DENIED 0\r\n"));
        assert_eq!(e.msg, "proxy http://p:1 refused CONNECT to h:81: HTTP 403 Forbidden (ERR_ACCESS_DENIED 0)");
        let a = parse(b"HTTP/1.1 407 \r\nProxy-Authenticate: Basic realm=\"x\"\r\n\r\n", "p").unwrap().unwrap();
        let e = refusal(&a, &anon, &t);
        assert_eq!(e.code, Code::ProxyAuth);
        assert!(e.msg.starts_with("proxy authentication required"), "{}", e.msg);
        assert!(e.msg.contains("HTTP 407 Proxy Authentication Required; it asks for Basic realm=\"x\""), "{}", e.msg);
        let e = refusal(&a, &user, &t);
        assert!(e.msg.starts_with("proxy authentication failed") && !e.msg.contains("secret"), "{}", e.msg);
        assert!(e.msg.contains("http://u@p:1"), "{}", e.msg);
    }
}
