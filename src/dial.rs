//! TCP connect with Happy Eyeballs (RFC 8305): the addresses of a name are
//! interleaved by family (section 4: the first address's family, then the
//! other, alternating, each in the resolver's RFC 6724 order), the next
//! attempt starts `delay` after the previous one (the "Connection Attempt
//! Delay", option `"happyEyeballsDelay"`, default 250 ms) or at once when
//! the previous one fails, earlier attempts keep running, and the first
//! connection established wins; the others are closed. A host with one
//! dead address family therefore connects in about `delay`, not in the
//! system's connect timeout.
//!
//! The lookup gives both families in one getaddrinfo(3) call, so the
//! "Resolution Delay" of section 3 does not arise.
#![deny(unsafe_code)]

use crate::error::describe_io;
use crate::sys;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// RFC 8305 section 8: the recommended Connection Attempt Delay.
pub(crate) const DEFAULT_DELAY: Duration = Duration::from_millis(250);

/// Orders addresses for the attempts: alternating families, starting with
/// the family of the first.
pub fn interleave(addrs: &[SocketAddr]) -> Vec<SocketAddr> {
    let Some(first) = addrs.first() else { return Vec::new() };
    let v6_first = first.is_ipv6();
    let (a, b): (Vec<SocketAddr>, Vec<SocketAddr>) = addrs.iter().partition(|x| x.is_ipv6() == v6_first);
    let mut out = Vec::with_capacity(addrs.len());
    let (mut i, mut j) = (a.into_iter(), b.into_iter());
    loop {
        match (i.next(), j.next()) {
            (None, None) => break,
            (x, y) => {
                out.extend(x);
                out.extend(y);
            }
        }
    }
    out
}

#[derive(Debug)]
pub enum DialError {
    /// The deadline passed; the address being waited for when it did.
    Timeout(SocketAddr),
    /// Every attempt failed: "connect A: cause; connect B: cause".
    Failed(String),
}

struct Attempt {
    sock: Socket,
    addr: SocketAddr,
}

fn start(addr: SocketAddr) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_nonblocking(true)?;
    match s.connect(&SockAddr::from(addr)) {
        Ok(()) => Ok(s),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) || e.kind() == io::ErrorKind::WouldBlock => Ok(s),
        Err(e) => Err(e),
    }
}

fn finish(s: Socket) -> io::Result<TcpStream> {
    s.set_nonblocking(false)?;
    Ok(s.into())
}

/// Connects to the first of `addrs` (in the order given: see `interleave`)
/// that accepts, racing them `delay` apart, before `deadline`.
pub fn connect(addrs: &[SocketAddr], delay: Duration, deadline: Option<Instant>) -> Result<TcpStream, DialError> {
    if let [addr] = addrs {
        // nothing to race: the plain connect (fewer system calls)
        let r = match deadline.map(|d| d.saturating_duration_since(Instant::now())) {
            None => TcpStream::connect(addr),
            Some(left) if left.is_zero() => return Err(DialError::Timeout(*addr)),
            Some(left) => TcpStream::connect_timeout(addr, left),
        };
        return r.map_err(|e| {
            if e.kind() == io::ErrorKind::TimedOut && deadline.is_some_and(|d| Instant::now() >= d) {
                DialError::Timeout(*addr)
            } else {
                DialError::Failed(format!("connect {addr}: {}", describe_io(&e)))
            }
        });
    }
    let mut errors: Vec<String> = Vec::new();
    let mut running: Vec<Attempt> = Vec::new();
    let mut next = 0;
    let mut next_at = Instant::now();
    let mut fds = Vec::new();
    let mut revents = Vec::new();
    loop {
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            let addr = running.first().map(|a| a.addr).unwrap_or_else(|| addrs[next.min(addrs.len() - 1)]);
            return Err(DialError::Timeout(addr));
        }
        if next < addrs.len() && (running.is_empty() || now >= next_at) {
            let addr = addrs[next];
            next += 1;
            match start(addr) {
                Ok(sock) => {
                    running.push(Attempt { sock, addr });
                    next_at = Instant::now() + delay;
                }
                Err(e) => errors.push(format!("connect {addr}: {}", describe_io(&e))),
            }
            continue;
        }
        if running.is_empty() {
            return Err(DialError::Failed(errors.join("; ")));
        }
        let until = match (next < addrs.len(), deadline) {
            (true, Some(d)) => Some(d.min(next_at)),
            (true, None) => Some(next_at),
            (false, d) => d,
        };
        fds.clear();
        fds.extend(running.iter().map(|a| a.sock.as_raw_fd()));
        if let Err(e) = sys::poll_many(&fds, sys::POLLOUT, until, &mut revents) {
            return Err(DialError::Failed(format!("connect: poll: {}", describe_io(&e))));
        }
        let mut i = 0;
        while i < running.len() {
            if revents.get(i).copied().unwrap_or(0) == 0 {
                i += 1;
                continue;
            }
            let a = running.remove(i);
            let ev = revents.remove(i);
            match a.sock.take_error() {
                // writable without an error: connected
                Ok(None) if ev & sys::POLLOUT != 0 => {
                    // the winner; `running` (the others) closes when dropped
                    return finish(a.sock)
                        .map_err(|e| DialError::Failed(format!("connect {}: {}", a.addr, describe_io(&e))));
                }
                Ok(None) => errors.push(format!("connect {}: connection failed", a.addr)),
                Ok(Some(e)) | Err(e) => {
                    errors.push(format!("connect {}: {}", a.addr, describe_io(&e)));
                    // RFC 8305 section 5: a failure starts the next attempt now
                    next_at = Instant::now();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn interleaves_families() {
        let v = [sa("[::1]:1"), sa("[::2]:1"), sa("[::3]:1"), sa("127.0.0.1:1"), sa("127.0.0.2:1")];
        assert_eq!(interleave(&v), [sa("[::1]:1"), sa("127.0.0.1:1"), sa("[::2]:1"), sa("127.0.0.2:1"), sa("[::3]:1")]);
        let v = [sa("10.0.0.1:1"), sa("[::1]:1")];
        assert_eq!(interleave(&v), v);
        assert!(interleave(&[]).is_empty());
    }

    #[test]
    fn refused_then_next_at_once() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let live = l.local_addr().unwrap();
        let dead = {
            let d = TcpListener::bind("127.0.0.1:0").unwrap();
            d.local_addr().unwrap()
        };
        let t = Instant::now();
        let s = connect(&[dead, live], Duration::from_secs(5), Some(Instant::now() + Duration::from_secs(10))).unwrap();
        assert!(t.elapsed() < Duration::from_secs(2), "a refused attempt must not wait out the delay");
        assert_eq!(s.peer_addr().unwrap(), live);
        match connect(&[dead], DEFAULT_DELAY, None) {
            Err(DialError::Failed(m)) => assert!(m.contains("connection refused"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_silent_address_costs_the_delay_only() {
        // A listener whose backlog is full drops further SYNs: the first
        // attempt hangs, the second starts after the delay and wins.
        let full = socket2::Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        full.bind(&SockAddr::from(sa("127.0.0.1:0"))).unwrap();
        full.listen(0).unwrap();
        let full_addr = full.local_addr().unwrap().as_socket().unwrap();
        // backlog 0 holds one connection: once this one is established,
        // every further SYN is dropped
        let _filler = TcpStream::connect_timeout(&full_addr, Duration::from_secs(5)).unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let live = l.local_addr().unwrap();
        let t = Instant::now();
        let s = connect(&[full_addr, live], Duration::from_millis(100), Some(Instant::now() + Duration::from_secs(10)));
        let took = t.elapsed();
        let s = s.unwrap();
        assert_eq!(s.peer_addr().unwrap(), live);
        assert!(took >= Duration::from_millis(90) && took < Duration::from_millis(1500), "{took:?}");
    }
}
