//! Opening a connection: DNS (resolver pool), TCP connect with Happy
//! Eyeballs (`dial`), the tunnel through a proxy (`proxy`), TLS and the
//! upgrade, and redirects of the upgrade ("followRedirects"), all under
//! one deadline. Driven step by step here (not through
//! tungstenite's blocking helpers, which panic when a socket timeout fires in
//! the middle of a handshake).
#![deny(unsafe_code)]

use crate::dial::{self, DialError};
use crate::error::{Code, Error, Result};
use crate::handshake::{self, Upgrade};
use crate::options::{HostKind, Options, Scheme, Target};
use crate::proxy::{self, socks, ProxyUrl};
use crate::redirect;
use crate::resolve::{self, LookupError};
use crate::tls;
use crate::transport::{ProxyTls, Transport};
use std::borrow::Cow;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Instant;

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

pub fn open(target: &Target, opts: &Options) -> Result<Opened> {
    let deadline = opts.timeout.map(|t| Instant::now() + t);
    let mut target = Cow::Borrowed(target);
    let mut opts = Cow::Borrowed(opts);
    let mut hops = 0;
    loop {
        match open_once(&target, &opts, deadline) {
            Err(e) if opts.follow_redirects > 0 && e.code == Code::UpgradeRejected => {
                let Some((next, other_host)) = redirect::next(&target, &e)? else { return Err(e) };
                if hops == opts.follow_redirects {
                    let mut e = e;
                    e.msg.push_str(&format!(" (not followed: \"followRedirects\" {} reached)", opts.follow_redirects));
                    return Err(e);
                }
                hops += 1;
                if other_host {
                    // Authorization is for the host that was asked, not
                    // for the one a redirect names
                    let mut o = opts.into_owned();
                    o.headers.retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
                    opts = Cow::Owned(o);
                }
                target = Cow::Owned(next);
            }
            r => return r,
        }
    }
}

/// One connection attempt to `target`: direct or through the proxy the
/// options and environment choose, then TLS (wss://) and the upgrade.
fn open_once(target: &Target, opts: &Options, deadline: Option<Instant>) -> Result<Opened> {
    let route = proxy::route(target, &opts.proxy)?;
    let (transport, tls_summary, used) = match &route {
        None => {
            let addrs = resolve(target, deadline).map_err(|e| lookup_err(e, target, opts, None))?;
            let tcp = dial(&addrs, opts, deadline, None)?;
            let (t, summary) = server_tls(Transport::Plain(tcp), target, opts, deadline)?;
            (t, summary, None)
        }
        Some(r) => {
            let (t, used) = tunnel(r, target, opts, deadline)?;
            let (t, summary) = server_tls(t, target, opts, deadline)?;
            (t, summary, Some(used))
        }
    };
    let mut opened = upgrade(transport, target, opts, deadline)?;
    opened.upgrade.tls = tls_summary;
    opened.upgrade.proxy = used;
    Ok(opened)
}

/// wss://: the TLS handshake with the server, on TCP or inside the TLS to
/// an https:// proxy. ws://: `t` as it is.
fn server_tls(
    t: Transport,
    target: &Target,
    opts: &Options,
    deadline: Option<Instant>,
) -> Result<(Transport, Option<tls::TlsSummary>)> {
    if target.scheme == Scheme::Ws {
        return Ok((t, None));
    }
    let stage = format!("TLS handshake with {}", target.peer());
    let timeout = |e: Error| if e.code == Code::Timeout { timeout_err(opts, &stage) } else { e };
    match t {
        Transport::Plain(tcp) => {
            tcp.set_nonblocking(true).map_err(|e| Error::io(Code::Connect, &stage, &e))?;
            let (s, summary) = tls::handshake(tcp, target, opts, deadline).map_err(timeout)?;
            Ok((Transport::Tls(Box::new(s)), Some(summary)))
        }
        Transport::Tls(proxy_tls) => {
            let (s, summary) =
                tls::handshake_over(ProxyTls(proxy_tls), target, &opts.tls, deadline).map_err(timeout)?;
            Ok((Transport::TlsInTls(Box::new(s)), Some(summary)))
        }
        Transport::TlsInTls(_) => Err(Error::new(Code::Internal, "TLS inside TLS inside TLS")),
    }
}

fn timeout_ms(opts: &Options) -> u128 {
    opts.timeout.map(|t| t.as_millis()).unwrap_or(0)
}

/// TCP (and TLS for https://) to the proxy, then the tunnel to `target`.
fn tunnel(
    r: &proxy::Route,
    target: &Target,
    opts: &Options,
    deadline: Option<Instant>,
) -> Result<(Transport, proxy::Used)> {
    let p = &r.url;
    let pt = p.as_target();
    let addrs = resolve(&pt, deadline).map_err(|e| lookup_err(e, &pt, opts, Some(p)))?;
    let tcp = dial(&addrs, opts, deadline, Some(p))?;
    let ms = timeout_ms(opts);
    let mut t = if p.kind == proxy::Kind::Https {
        let stage = format!("TLS handshake with proxy {}", p.display());
        tcp.set_nonblocking(true).map_err(|e| Error::io(Code::ProxyConnect, &stage, &e))?;
        let (s, _) = tls::handshake_over(tcp, &pt, &opts.proxy.tls, deadline).map_err(|e| match e.code {
            Code::Timeout => timeout_err(opts, &stage),
            Code::Tls | Code::TlsVerify => {
                Error::new(Code::ProxyTls, format!("TLS to proxy {} failed: {}", p.display(), e.msg))
            }
            _ => e,
        })?;
        Transport::Tls(Box::new(s))
    } else {
        Transport::Plain(tcp)
    };
    let status = match p.kind {
        proxy::Kind::Http | proxy::Kind::Https => proxy::http::connect(&mut t, p, target, deadline, ms)?,
        proxy::Kind::Socks5 | proxy::Kind::Socks5h => {
            let dest = match (&target.host, p.kind) {
                (HostKind::V4(a), _) => socks::Dest::Addr(SocketAddr::new(IpAddr::V4(*a), target.port)),
                (HostKind::V6(a), _) => socks::Dest::Addr(SocketAddr::new(IpAddr::V6(*a), target.port)),
                (HostKind::Name(n), proxy::Kind::Socks5h) => socks::Dest::Name(n.clone(), target.port),
                (HostKind::Name(_), _) => {
                    // socks5://: the client resolves; the first address
                    let a = resolve(target, deadline).map_err(|e| lookup_err(e, target, opts, None))?;
                    socks::Dest::Addr(a[0])
                }
            };
            proxy::socks::connect(&mut t, p, &dest, deadline, ms)?;
            0
        }
    };
    Ok((t, proxy::Used::new(r, status)))
}

/// DNS of `target`'s host on the resolver pool, under the deadline;
/// literals skip DNS.
fn resolve(target: &Target, deadline: Option<Instant>) -> std::result::Result<Vec<SocketAddr>, LookupError> {
    let name = match &target.host {
        HostKind::V4(a) => return Ok(vec![SocketAddr::new(IpAddr::V4(*a), target.port)]),
        HostKind::V6(a) => return Ok(vec![SocketAddr::new(IpAddr::V6(*a), target.port)]),
        HostKind::Name(n) => n,
    };
    match resolve::lookup(name, target.port, deadline) {
        Ok(v) if v.is_empty() => Err(LookupError::Failed("no addresses".into())),
        r => r,
    }
}

fn lookup_err(e: LookupError, t: &Target, opts: &Options, proxy: Option<&ProxyUrl>) -> Error {
    let name = match &t.host {
        HostKind::Name(n) => n.as_str(),
        _ => "",
    };
    match (e, proxy) {
        (LookupError::Timeout, None) => timeout_err(opts, &format!("DNS lookup of {name}")),
        (LookupError::Timeout, Some(p)) => timeout_err(opts, &format!("DNS lookup of proxy {}", p.display())),
        (LookupError::Failed(why), None) => Error::new(Code::Dns, format!("DNS lookup of {name} failed: {why}")),
        (LookupError::Failed(why), Some(p)) => Error::new(
            Code::ProxyConnect,
            format!("proxy {} unreachable: DNS lookup of {name} failed: {why}", p.display()),
        ),
    }
}

/// TCP connect with Happy Eyeballs; `proxy`: the addresses are the proxy's.
fn dial(
    addrs: &[SocketAddr],
    opts: &Options,
    deadline: Option<Instant>,
    proxy: Option<&ProxyUrl>,
) -> Result<TcpStream> {
    let order = dial::interleave(addrs);
    let tcp = dial::connect(&order, opts.happy_eyeballs_delay, deadline).map_err(|e| match (e, proxy) {
        (DialError::Timeout(a), None) => timeout_err(opts, &format!("TCP connect to {a}")),
        (DialError::Timeout(a), Some(p)) => timeout_err(opts, &format!("TCP connect to proxy {} ({a})", p.display())),
        (DialError::Failed(m), None) => Error::new(Code::Connect, m),
        (DialError::Failed(m), Some(p)) => {
            Error::new(Code::ProxyConnect, format!("proxy {} unreachable: {m}", p.display()))
        }
    })?;
    let _ = tcp.set_nodelay(opts.tcp_nodelay);
    Ok(tcp)
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
            handshake::parse_response(&buf[..len], &key, &offered, opts.compression.as_ref(), &peer)?;
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
            if let Some((head, upgrade)) =
                handshake::parse_response(&buf[..len], &key, &offered, opts.compression.as_ref(), &peer)?
            {
                let leftover = buf[head..len].to_vec();
                return Ok(Opened { transport: t, leftover, upgrade });
            }
        }
    }
}
