//! wsclient-scale-server: a single-threaded epoll WebSocket echo server for
//! the scale benchmark (`examples-c/scale_bench.c`): tens of thousands of
//! mostly idle connections on one thread, so that the benchmark measures the
//! client, not a thread-per-connection server.
//!
//! Usage: wsclient-scale-server [--port N] (0 picks a free port); prints
//! `LISTENING <port>` when ready. Echoes text and binary frames (unmasked,
//! same opcode and FIN bits), answers pings, answers a close and then closes.
//! Not a general server: it trusts its client (no size limits beyond 16 MiB
//! per frame, no extensions).

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;

const LISTENER: u64 = u64::MAX;

struct Client {
    s: TcpStream,
    inb: Vec<u8>,
    out: Vec<u8>,
    upgraded: bool,
    closing: bool,
}

fn epoll_ctl(ep: i32, op: i32, fd: i32, events: u32, token: u64) {
    let mut ev = libc::epoll_event { events, u64: token };
    // SAFETY: valid epoll_event on the stack; fds owned by this program.
    unsafe { libc::epoll_ctl(ep, op, fd, &mut ev) };
}

/// Long on purpose: a benchmark server's whole epoll loop in one place,
/// readable top to bottom (accept, upgrade, echo); not library code.
fn main() {
    let mut port = 0u16;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => port = args.next().and_then(|p| p.parse().ok()).expect("--port N"),
            _ => {
                eprintln!("usage: wsclient-scale-server [--port N]");
                std::process::exit(2);
            }
        }
    }
    raise_nofile();
    let l = TcpListener::bind(("127.0.0.1", port)).expect("bind 127.0.0.1");
    l.set_nonblocking(true).unwrap();
    println!("LISTENING {}", l.local_addr().unwrap().port());
    io::stdout().flush().unwrap();
    // SAFETY: plain syscall.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(ep >= 0, "epoll_create1");
    epoll_ctl(ep, libc::EPOLL_CTL_ADD, l.as_raw_fd(), libc::EPOLLIN as u32, LISTENER);
    let mut clients: HashMap<u64, Client> = HashMap::new();
    let mut next: u64 = 1;
    let mut evs = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut scratch = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: evs is a valid array of evs.len() events.
        let n = unsafe { libc::epoll_wait(ep, evs.as_mut_ptr(), evs.len() as i32, -1) };
        if n < 0 {
            continue;
        }
        for ev in &evs[..n as usize] {
            let (token, events) = (ev.u64, ev.events);
            if token == LISTENER {
                while let Ok((s, _)) = l.accept() {
                    let _ = s.set_nonblocking(true);
                    let _ = s.set_nodelay(true);
                    let t = next;
                    next += 1;
                    epoll_ctl(ep, libc::EPOLL_CTL_ADD, s.as_raw_fd(), (libc::EPOLLIN | libc::EPOLLRDHUP) as u32, t);
                    clients.insert(t, Client { s, inb: Vec::new(), out: Vec::new(), upgraded: false, closing: false });
                }
                continue;
            }
            let Some(c) = clients.get_mut(&token) else { continue };
            let mut dead = false;
            if events & libc::EPOLLIN as u32 != 0 || events & (libc::EPOLLHUP | libc::EPOLLRDHUP) as u32 != 0 {
                loop {
                    match c.s.read(&mut scratch) {
                        Ok(0) => {
                            dead = true;
                            break;
                        }
                        Ok(k) => c.inb.extend_from_slice(&scratch[..k]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(_) => {
                            dead = true;
                            break;
                        }
                    }
                }
                if !process(c) {
                    dead = true;
                }
            }
            if !c.out.is_empty() {
                match c.s.write(&c.out) {
                    Ok(k) => {
                        c.out.drain(..k);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => dead = true,
                }
                let want = if c.out.is_empty() { 0 } else { libc::EPOLLOUT as u32 };
                epoll_ctl(
                    ep,
                    libc::EPOLL_CTL_MOD,
                    c.s.as_raw_fd(),
                    (libc::EPOLLIN | libc::EPOLLRDHUP) as u32 | want,
                    token,
                );
            }
            if c.closing && c.out.is_empty() {
                dead = true;
            }
            if dead {
                if let Some(c) = clients.remove(&token) {
                    epoll_ctl(ep, libc::EPOLL_CTL_DEL, c.s.as_raw_fd(), 0, 0);
                }
            }
            if clients.capacity() > 4 * clients.len() + 1024 {
                clients.shrink_to_fit();
            }
        }
    }
}

/// Handles buffered input; false on a broken client.
fn process(c: &mut Client) -> bool {
    if !c.upgraded {
        let Some(end) = c.inb.windows(4).position(|w| w == b"\r\n\r\n") else {
            return c.inb.len() < 16 * 1024;
        };
        let head = String::from_utf8_lossy(&c.inb[..end]).to_string();
        let key = head
            .lines()
            .find_map(|l| l.split_once(':').filter(|(n, _)| n.trim().eq_ignore_ascii_case("sec-websocket-key")))
            .map(|(_, v)| v.trim().to_string());
        let Some(key) = key else { return false };
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        c.out.extend_from_slice(
            format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n")
                .as_bytes(),
        );
        c.inb.drain(..end + 4);
        c.upgraded = true;
    }
    let mut pos = 0;
    loop {
        let b = &c.inb[pos..];
        if b.len() < 2 {
            break;
        }
        let (b0, b1) = (b[0], b[1]);
        let (ext, short) = match b1 & 0x7f {
            126 => (2, None),
            127 => (8, None),
            n => (0, Some(n as usize)),
        };
        let masked = b1 & 0x80 != 0;
        let hlen = 2 + ext + if masked { 4 } else { 0 };
        if b.len() < hlen {
            break;
        }
        let len = match short {
            Some(n) => n,
            None if ext == 2 => u16::from_be_bytes([b[2], b[3]]) as usize,
            None => u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
        };
        if len > 16 << 20 {
            return false;
        }
        if b.len() < hlen + len {
            break;
        }
        let mask = if masked { [b[hlen - 4], b[hlen - 3], b[hlen - 2], b[hlen - 1]] } else { [0; 4] };
        let mut payload = b[hlen..hlen + len].to_vec();
        for (i, x) in payload.iter_mut().enumerate() {
            *x ^= mask[i & 3];
        }
        pos += hlen + len;
        let op = b0 & 0x0f;
        match op {
            0x8 => {
                frame(&mut c.out, 0x88, &payload[..payload.len().min(2)]);
                c.closing = true;
                break;
            }
            0x9 => frame(&mut c.out, 0x8A, &payload),
            0xA => {}
            _ => frame(&mut c.out, b0 & 0x8f, &payload),
        }
    }
    c.inb.drain(..pos);
    if c.inb.is_empty() && c.inb.capacity() > 4096 {
        c.inb = Vec::new();
    }
    true
}

fn frame(out: &mut Vec<u8>, b0: u8, p: &[u8]) {
    out.push(b0);
    if p.len() < 126 {
        out.push(p.len() as u8);
    } else if p.len() <= 0xffff {
        out.push(126);
        out.extend_from_slice(&(p.len() as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(p.len() as u64).to_be_bytes());
    }
    out.extend_from_slice(p);
}

fn raise_nofile() {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: valid rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}
