//! The tunnel through a SOCKS5 proxy (RFC 1928), with user name and
//! password authentication (RFC 1929) when the proxy URL has a user.
//! `socks5://` sends the server's address (the client resolved the name);
//! `socks5h://` sends the name for the proxy to resolve.
#![deny(unsafe_code)]

use super::ProxyUrl;
use crate::error::{Code, Error, Result};
use crate::transport::Transport;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Where the tunnel goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dest {
    Addr(SocketAddr),
    Name(String, u16),
}

impl std::fmt::Display for Dest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dest::Addr(a) => write!(f, "{a}"),
            Dest::Name(n, p) => write!(f, "{n}:{p}"),
        }
    }
}

const VERSION: u8 = 5;
const NO_AUTH: u8 = 0;
const USER_PASS: u8 = 2;
const NO_ACCEPTABLE: u8 = 0xff;

/// The greeting: the methods we offer.
pub fn greeting(with_user: bool) -> Vec<u8> {
    if with_user {
        vec![VERSION, 2, NO_AUTH, USER_PASS]
    } else {
        vec![VERSION, 1, NO_AUTH]
    }
}

/// RFC 1929 sub-negotiation (lengths checked when the URL was parsed).
pub fn user_pass(user: &str, pass: &str) -> Vec<u8> {
    let mut v = vec![1, user.len() as u8];
    v.extend_from_slice(user.as_bytes());
    v.push(pass.len() as u8);
    v.extend_from_slice(pass.as_bytes());
    v
}

/// The CONNECT request.
pub fn request(d: &Dest) -> std::result::Result<Vec<u8>, String> {
    let mut v = vec![VERSION, 1, 0];
    let port = match d {
        Dest::Addr(SocketAddr::V4(a)) => {
            v.push(1);
            v.extend_from_slice(&a.ip().octets());
            a.port()
        }
        Dest::Addr(SocketAddr::V6(a)) => {
            v.push(4);
            v.extend_from_slice(&a.ip().octets());
            a.port()
        }
        Dest::Name(n, p) => {
            if n.len() > 255 {
                return Err(format!("host name of {} bytes is too long for SOCKS5 (255)", n.len()));
            }
            v.push(3);
            v.push(n.len() as u8);
            v.extend_from_slice(n.as_bytes());
            *p
        }
    };
    v.extend_from_slice(&port.to_be_bytes());
    Ok(v)
}

/// The name of a SOCKS5 reply code (RFC 1928 section 6).
pub fn reply_name(rep: u8) -> &'static str {
    match rep {
        0 => "succeeded",
        1 => "general SOCKS server failure",
        2 => "connection not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unassigned reply code",
    }
}

/// How many bytes the reply has in all, from its first 5 bytes.
pub fn reply_len(head: &[u8; 5]) -> Option<usize> {
    match head[3] {
        1 => Some(4 + 4 + 2),
        4 => Some(4 + 16 + 2),
        3 => Some(4 + 1 + head[4] as usize + 2),
        _ => None,
    }
}

struct Io<'a> {
    t: &'a mut Transport,
    deadline: Option<Instant>,
    proxy: String,
    stage: String,
    ms: u128,
}

impl Io<'_> {
    fn err(&self, what: &str, e: std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::TimedOut {
            Error::new(Code::Timeout, format!("timeout after {} ms during {}", self.ms, self.stage))
        } else {
            Error::io(Code::ProxyProtocol, &format!("SOCKS5 proxy {}: {what}", self.proxy), &e)
        }
    }

    fn send(&mut self, b: &[u8], what: &str) -> Result<()> {
        self.t.write_all_until(b, self.deadline).map_err(|e| self.err(what, e))
    }

    fn recv(&mut self, buf: &mut [u8], what: &str) -> Result<()> {
        let mut got = 0;
        while got < buf.len() {
            let n = self.t.read_until(&mut buf[got..], self.deadline, Duration::ZERO).map_err(|e| self.err(what, e))?;
            if n == 0 {
                return Err(Error::new(
                    Code::ProxyProtocol,
                    format!(
                        "SOCKS5 proxy {}: connection closed while {what} ({got} of {} bytes)",
                        self.proxy,
                        buf.len()
                    ),
                ));
            }
            got += n;
        }
        Ok(())
    }

    fn protocol(&self, why: impl std::fmt::Display) -> Error {
        Error::new(Code::ProxyProtocol, format!("SOCKS5 proxy {}: {why}", self.proxy))
    }
}

/// Opens the tunnel to `dest` on `t` (TCP to the proxy).
pub fn connect(t: &mut Transport, p: &ProxyUrl, dest: &Dest, deadline: Option<Instant>, ms: u128) -> Result<()> {
    let proxy = p.display();
    let stage = format!("the SOCKS5 handshake with proxy {proxy} for {dest}");
    let mut io = Io { t, deadline, proxy: proxy.clone(), stage, ms };
    let with_user = p.user.is_some();
    io.send(&greeting(with_user), "sending the greeting")?;
    let mut m = [0u8; 2];
    io.recv(&mut m, "reading the method choice")?;
    if m[0] != VERSION {
        return Err(io.protocol(format!("not a SOCKS5 proxy (version byte {:#04x} in its answer)", m[0])));
    }
    match m[1] {
        NO_AUTH => {}
        USER_PASS if with_user => {
            let user = p.user.as_deref().unwrap_or("");
            let pass = p.pass.as_ref().map(|s| s.expose()).unwrap_or("");
            io.send(&user_pass(user, pass), "sending user name and password")?;
            let mut r = [0u8; 2];
            io.recv(&mut r, "reading the authentication result")?;
            if r[1] != 0 {
                return Err(Error::new(
                    Code::ProxyAuth,
                    format!(
                        "proxy authentication failed: SOCKS5 proxy {proxy} rejected the user name or password \
                         (RFC 1929 status {})",
                        r[1]
                    ),
                ));
            }
        }
        USER_PASS | NO_ACCEPTABLE if !with_user => {
            return Err(Error::new(
                Code::ProxyAuth,
                format!(
                    "proxy authentication required: SOCKS5 proxy {proxy} accepts none of the offered methods \
                     (no authentication); give a user name and password in the proxy URL"
                ),
            ))
        }
        NO_ACCEPTABLE => {
            return Err(Error::new(
                Code::ProxyAuth,
                format!(
                "proxy authentication failed: SOCKS5 proxy {proxy} accepts neither no authentication nor user/password"
            ),
            ))
        }
        other => return Err(io.protocol(format!("chose method {other:#04x}, which was not offered"))),
    }
    let req = request(dest).map_err(|why| io.protocol(why))?;
    io.send(&req, "sending the CONNECT request")?;
    let mut head = [0u8; 5];
    io.recv(&mut head, "reading the reply")?;
    if head[0] != VERSION {
        return Err(io.protocol(format!("bad version byte {:#04x} in its reply", head[0])));
    }
    if head[1] != 0 {
        return Err(Error::new(
            Code::ProxyRefused,
            format!(
                "SOCKS5 proxy {proxy} could not connect to {dest}: SOCKS5 reply {} ({})",
                head[1],
                reply_name(head[1])
            ),
        ));
    }
    let total =
        reply_len(&head).ok_or_else(|| io.protocol(format!("unknown address type {} in its reply", head[3])))?;
    let mut rest = vec![0u8; total - 5];
    io.recv(&mut rest, "reading the reply")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        assert_eq!(greeting(false), [5, 1, 0]);
        assert_eq!(greeting(true), [5, 2, 0, 2]);
        assert_eq!(user_pass("ab", "c"), [1, 2, b'a', b'b', 1, b'c']);
        assert_eq!(request(&Dest::Addr("127.0.0.1:80".parse().unwrap())).unwrap(), [5, 1, 0, 1, 127, 0, 0, 1, 0, 80]);
        let v6 = request(&Dest::Addr("[::1]:443".parse().unwrap())).unwrap();
        assert_eq!((v6.len(), v6[3], &v6[20..]), (22, 4, &[1u8, 187][..]));
        assert_eq!(request(&Dest::Name("ab".into(), 258)).unwrap(), [5, 1, 0, 3, 2, b'a', b'b', 1, 2]);
        assert!(request(&Dest::Name("a".repeat(256), 1)).is_err());
    }

    #[test]
    fn replies() {
        let names: Vec<&str> = (1..=8).map(reply_name).collect();
        assert_eq!(
            names,
            [
                "general SOCKS server failure",
                "connection not allowed by ruleset",
                "network unreachable",
                "host unreachable",
                "connection refused",
                "TTL expired",
                "command not supported",
                "address type not supported"
            ]
        );
        assert_eq!(reply_name(9), "unassigned reply code");
        assert_eq!(reply_len(&[5, 0, 0, 1, 127]), Some(10));
        assert_eq!(reply_len(&[5, 0, 0, 4, 0]), Some(22));
        assert_eq!(reply_len(&[5, 0, 0, 3, 7]), Some(14));
        assert_eq!(reply_len(&[5, 0, 0, 9, 0]), None);
    }
}
