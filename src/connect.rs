//! Opening a connection: DNS, TCP connect to every resolved address, TLS and
//! the upgrade, all under one deadline. Driven step by step here (not through
//! tungstenite's blocking helpers, which panic when a socket timeout fires in
//! the middle of a handshake).
#![deny(unsafe_code)]

use crate::error::{describe_io, Code, Error, Result};
use crate::handshake::{self, Upgrade};
use crate::options::{HostKind, Options, Scheme, Target};
use crate::sys;
use crate::tls;
use crate::transport::Transport;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A connection after a successful upgrade.
pub struct Opened {
    pub transport: Transport,
    /// Bytes that arrived after the response head (the first frames).
    pub leftover: Vec<u8>,
    pub upgrade: Upgrade,
}

fn timeout_err(opts: &Options, stage: &str) -> Error {
    let ms = opts.timeout.map(|t| t.as_millis()).unwrap_or(0);
    Error::new(Code::Timeout, format!("timeout after {ms} ms during {stage}"))
}

fn left(deadline: Option<Instant>) -> Option<Duration> {
    sys::remaining(deadline)
}

pub fn open(target: &Target, opts: &Options) -> Result<Opened> {
    let deadline = opts.timeout.map(|t| Instant::now() + t);
    let addrs = resolve(target, opts, deadline)?;
    let tcp = tcp_connect(&addrs, target, opts, deadline)?;
    let _ = tcp.set_nodelay(opts.tcp_nodelay);
    let (transport, tls_summary) = match target.scheme {
        Scheme::Ws => (Transport::Plain(tcp), None),
        Scheme::Wss => {
            let stage = format!("TLS handshake with {}", target.peer());
            tcp.set_nonblocking(true).map_err(|e| Error::io(Code::Connect, &stage, &e))?;
            let (s, summary) = tls::handshake(tcp, target, opts, deadline).map_err(|e| {
                if e.code == Code::Timeout {
                    timeout_err(opts, &stage)
                } else {
                    e
                }
            })?;
            (Transport::Tls(Box::new(s)), Some(summary))
        }
    };
    let mut opened = upgrade(transport, target, opts, deadline)?;
    opened.upgrade.tls = tls_summary;
    Ok(opened)
}

/// DNS with the deadline: a name lookup runs on a helper thread only when a
/// deadline is set (getaddrinfo cannot be interrupted); literals skip DNS.
fn resolve(target: &Target, opts: &Options, deadline: Option<Instant>) -> Result<Vec<SocketAddr>> {
    let name = match &target.host {
        HostKind::V4(a) => return Ok(vec![SocketAddr::new(IpAddr::V4(*a), target.port)]),
        HostKind::V6(a) => return Ok(vec![SocketAddr::new(IpAddr::V6(*a), target.port)]),
        HostKind::Name(n) => n.clone(),
    };
    let port = target.port;
    let lookup =
        move |name: String| -> io::Result<Vec<SocketAddr>> { Ok((name.as_str(), port).to_socket_addrs()?.collect()) };
    let result = match left(deadline) {
        None => lookup(name.clone()),
        Some(rem) => {
            let (tx, rx) = mpsc::channel();
            let n2 = name.clone();
            let spawned = std::thread::Builder::new().name("wsclient-dns".into()).spawn(move || {
                let _ = tx.send(lookup(n2));
            });
            match spawned {
                Ok(_) => match rx.recv_timeout(rem) {
                    Ok(r) => r,
                    Err(_) => return Err(timeout_err(opts, &format!("DNS lookup of {name}"))),
                },
                Err(_) => lookup(name.clone()),
            }
        }
    };
    match result {
        Ok(v) if !v.is_empty() => Ok(v),
        Ok(_) => Err(Error::new(Code::Dns, format!("DNS lookup of {name}: no addresses"))),
        Err(e) => {
            let mut cause = e.to_string();
            cause = cause.trim_start_matches("failed to lookup address information: ").to_string();
            Err(Error::new(Code::Dns, format!("DNS lookup of {name} failed: {}", cause.to_lowercase())))
        }
    }
}

fn tcp_connect(addrs: &[SocketAddr], target: &Target, opts: &Options, deadline: Option<Instant>) -> Result<TcpStream> {
    let mut errors: Vec<String> = Vec::new();
    for addr in addrs {
        let r = match left(deadline) {
            None => TcpStream::connect(addr),
            Some(rem) if rem.is_zero() => break,
            Some(rem) => TcpStream::connect_timeout(addr, rem),
        };
        match r {
            Ok(s) => return Ok(s),
            Err(e) => {
                if e.kind() == io::ErrorKind::TimedOut && deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(timeout_err(opts, &format!("TCP connect to {addr}")));
                }
                errors.push(format!("connect {addr}: {}", describe_io(&e)));
            }
        }
    }
    if errors.is_empty() {
        return Err(timeout_err(opts, &format!("TCP connect to {}", target.peer())));
    }
    Err(Error::new(Code::Connect, errors.join("; ")))
}

/// TLS servers (OpenSSL's) close or reset without a word when spoken to in
/// plain HTTP; a record instead of HTTP is recognised in the parser.
const TLS_HINT: &str = " (a TLS server does this to plain HTTP: if the port speaks TLS, use wss://)";

fn upgrade(mut t: Transport, target: &Target, opts: &Options, deadline: Option<Instant>) -> Result<Opened> {
    let key = tungstenite::handshake::client::generate_key();
    let req = handshake::build_request(target, opts, &key);
    let peer = target.peer();
    let io_err = |stage: &str, e: io::Error| {
        if e.kind() == io::ErrorKind::TimedOut {
            timeout_err(opts, &format!("the upgrade with {peer} ({stage} the server)"))
        } else if let Some(tls_err) = tls::post_handshake_error(&format!("{stage} {peer}"), &e, opts) {
            tls_err
        } else {
            Error::io(Code::Connect, &format!("{stage} {peer}"), &e)
        }
    };
    t.write_all_until(&req, deadline)
        .map_err(|e| io_err("sending the upgrade request to", tls::pending_alert(&mut t, e)))?;
    let offered = handshake::offered_subprotocols(opts);
    // The buffer grows with what arrives, by doubling, up to the bound of
    // the response head (a server that never ends its headers gets an
    // error, not our memory). The head is parsed again only when a line may
    // have ended, so a server sending one byte at a time costs linear time.
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize((buf.len() * 2).min(handshake::MAX_RESPONSE_HEAD), 0);
        }
        let n = t.read_until(&mut buf[len..], deadline, opts.busy_poll).map_err(|e| {
            let silent_reset = len == 0 && e.kind() == io::ErrorKind::ConnectionReset;
            let mut err = io_err("waiting for the upgrade response from", e);
            if silent_reset && target.scheme == Scheme::Ws {
                err.msg.push_str(TLS_HINT);
            }
            err
        })?;
        if n == 0 {
            // what arrived may still say why (a TLS alert: "use wss://")
            handshake::parse_response(&buf[..len], &key, &offered, &peer)?;
            let hint = if len == 0 && target.scheme == Scheme::Ws { TLS_HINT } else { "" };
            return Err(Error::new(
                Code::Handshake,
                format!(
                    "upgrade with {peer}: connection closed before a complete HTTP response ({len} bytes received){hint}"
                ),
            ));
        }
        let first = len == 0;
        len += n;
        let line_end = buf[len - n..len].contains(&b'\n');
        if first || line_end || len < 16 || len == handshake::MAX_RESPONSE_HEAD {
            if let Some((head, upgrade)) = handshake::parse_response(&buf[..len], &key, &offered, &peer)? {
                let leftover = buf[head..len].to_vec();
                return Ok(Opened { transport: t, leftover, upgrade });
            }
        }
    }
}
