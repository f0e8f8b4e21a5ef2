//! The `ws_open` URL: scheme, host (name, IPv4, bracketed IPv6), port,
//! path and query, validated before anything touches the network; and the
//! small text helpers (percent-decoding, base64) the handshake and the proxy
//! code share.
#![deny(unsafe_code)]

use crate::error::{Code, Error, Result};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scheme {
    Ws,
    Wss,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostKind {
    Name(String),
    V4(std::net::Ipv4Addr),
    V6(std::net::Ipv6Addr),
}

/// A validated `ws://` or `wss://` URL.
#[derive(Clone, Debug)]
pub struct Target {
    pub scheme: Scheme,
    pub host: HostKind,
    pub port: u16,
    /// Request target: path and query, e.g. "/chat?room=1".
    pub resource: String,
    /// Value of the Host header: host, plus ":port" when not the default.
    pub host_header: String,
    /// "Basic ..." from user:password in the URL, if any.
    pub basic_auth: Option<String>,
}

impl Target {
    /// "host:port" as used in error messages ("connect 127.0.0.1:9: ...").
    pub fn peer(&self) -> String {
        match &self.host {
            HostKind::Name(n) => format!("{n}:{}", self.port),
            HostKind::V4(a) => format!("{a}:{}", self.port),
            HostKind::V6(a) => format!("[{a}]:{}", self.port),
        }
    }

    /// The name given to TLS for SNI and certificate verification.
    pub fn tls_domain(&self) -> String {
        match &self.host {
            HostKind::Name(n) => n.clone(),
            HostKind::V4(a) => a.to_string(),
            HostKind::V6(a) => a.to_string(),
        }
    }
}

fn url_error(url: &str, why: impl std::fmt::Display) -> Error {
    Error::new(Code::InvalidUrl, format!("invalid URL \"{}\": {why}", truncate(url, 200)))
}

/// At most `max` bytes of `s` (cut at a character boundary) for a message,
/// with control characters escaped: a message stays one printable line
/// whatever the caller passed (a URL with CR LF, a key with a NUL).
pub(super) fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end);
    for c in s[..end].chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Parses a WebSocket URL (RFC 6455 section 3).
pub fn parse_url(raw: &str) -> Result<Target> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(url_error(raw, "empty"));
    }
    let Some(colon) = trimmed.find(':') else {
        return Err(url_error(raw, "missing scheme (expected ws:// or wss://)"));
    };
    let scheme_str = trimmed[..colon].to_ascii_lowercase();
    let scheme = match scheme_str.as_str() {
        "ws" => Scheme::Ws,
        "wss" => Scheme::Wss,
        s if s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            return Err(Error::new(
                Code::UnsupportedScheme,
                format!("invalid URL \"{}\": unsupported scheme \"{s}\" (expected ws or wss)", truncate(raw, 200)),
            ))
        }
        _ => return Err(url_error(raw, "missing scheme (expected ws:// or wss://)")),
    };
    let rest = &trimmed[colon + 1..];
    let Some(authority_and_path) = rest.strip_prefix("//") else {
        return Err(url_error(raw, "expected \"//\" after the scheme"));
    };
    // The WHATWG parser skips extra slashes ("ws:///x" would name host "x"); we
    // insist on an authority, as RFC 3986 does.
    let authority = authority_and_path.split(['/', '?', '#']).next().unwrap_or("");
    let host_part = authority.rsplit('@').next().unwrap_or("");
    if host_part.is_empty() || host_part.starts_with(':') {
        return Err(url_error(raw, "empty host"));
    }
    let u = url::Url::parse(trimmed).map_err(|e| url_error(raw, e))?;
    if u.fragment().is_some() {
        return Err(url_error(raw, "fragment (#...) not allowed in a WebSocket URL"));
    }
    let host = match u.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => {
            if d.len() > 253 {
                return Err(url_error(raw, "host name longer than 253 characters"));
            }
            HostKind::Name(d.to_string())
        }
        Some(url::Host::Ipv4(a)) => HostKind::V4(a),
        Some(url::Host::Ipv6(a)) => HostKind::V6(a),
        _ => return Err(url_error(raw, "empty host")),
    };
    let default_port = if scheme == Scheme::Ws { 80 } else { 443 };
    let port = u.port().unwrap_or(default_port);
    if port == 0 {
        return Err(url_error(raw, "port 0 is not a valid port (1-65535)"));
    }
    let mut resource = u.path().to_string();
    if resource.is_empty() {
        resource.push('/');
    }
    if let Some(q) = u.query() {
        resource.push('?');
        resource.push_str(q);
    }
    let host_str = match &host {
        HostKind::Name(n) => n.clone(),
        HostKind::V4(a) => a.to_string(),
        HostKind::V6(a) => format!("[{a}]"),
    };
    let host_header = if port == default_port { host_str } else { format!("{host_str}:{port}") };
    let basic_auth = if !u.username().is_empty() || u.password().is_some() {
        let user = percent_decode(u.username());
        let pass = percent_decode(u.password().unwrap_or(""));
        Some(format!("Basic {}", base64(format!("{user}:{pass}").as_bytes())))
    } else {
        None
    };
    Ok(Target { scheme, host, port, resource, host_header, basic_auth })
}

pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let n = match chunk.len() {
            1 => (chunk[0] as u32) << 16,
            2 => (chunk[0] as u32) << 16 | (chunk[1] as u32) << 8,
            _ => (chunk[0] as u32) << 16 | (chunk[1] as u32) << 8 | chunk[2] as u32,
        };
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(T[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
