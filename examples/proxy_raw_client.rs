//! The raw-TCP baseline of the proxy connect benchmark (benches/proxy_connect.sh):
//! what any client must do per connection through a proxy, with nothing
//! else: TCP to the proxy, CONNECT (or the SOCKS5 greeting and request),
//! a hand-written upgrade, one text echo of S bytes validated as the shared
//! bench's contract says, the closing handshake, and the server's TCP close.
//!
//!   proxy_raw_client --url ws://127.0.0.1:PORT/ --proxy http://H:P|socks5://H:P|direct --count N --size S
//!
//! Prints the bench's JSON line (connections per second in msgs_per_s).
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

fn arg(name: &str) -> String {
    let a: Vec<String> = std::env::args().collect();
    a.iter().position(|x| x == name).and_then(|i| a.get(i + 1)).cloned().unwrap_or_else(|| {
        eprintln!("missing {name}");
        std::process::exit(2)
    })
}

fn die(what: &str) -> ! {
    eprintln!("error: {what}");
    std::process::exit(2)
}

fn payload(i: usize, size: usize) -> Vec<u8> {
    let mut p: Vec<u8> = (0..size).map(|j| b'a' + (j % 26) as u8).collect();
    let stamp = format!("{i:016x}");
    let n = size.min(16);
    p[..n].copy_from_slice(&stamp.as_bytes()[16 - n..]);
    p
}

fn read_head(s: &mut TcpStream) -> Vec<u8> {
    // neither the proxy nor the server sends anything after its head before
    // our next message, so whole reads end exactly at the head
    let mut h = Vec::with_capacity(256);
    let mut b = [0u8; 1024];
    while !h.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut b).unwrap_or(0);
        if n == 0 {
            die("closed before the end of a response head");
        }
        h.extend_from_slice(&b[..n]);
        if h.len() > 16384 || (h.windows(4).any(|w| w == b"\r\n\r\n") && !h.ends_with(b"\r\n\r\n")) {
            die("unexpected bytes after a response head");
        }
    }
    h
}

fn frame(op: u8, data: &[u8]) -> Vec<u8> {
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    let mut f = vec![0x80 | op];
    if data.len() < 126 {
        f.push(0x80 | data.len() as u8);
    } else {
        f.push(0x80 | 126);
        f.extend_from_slice(&(data.len() as u16).to_be_bytes());
    }
    f.extend_from_slice(&mask);
    f.extend(data.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).unwrap_or_else(|_| die("reading a frame"));
    let mut len = (h[1] & 0x7f) as usize;
    if len == 126 {
        let mut e = [0u8; 2];
        s.read_exact(&mut e).unwrap_or_else(|_| die("reading a frame"));
        len = u16::from_be_bytes(e) as usize;
    }
    let mut d = vec![0u8; len];
    s.read_exact(&mut d).unwrap_or_else(|_| die("reading a frame"));
    (h[0] & 0x0f, d)
}

fn main() {
    let url = arg("--url");
    let proxy = arg("--proxy");
    let count: usize = arg("--count").parse().unwrap();
    let size: usize = arg("--size").parse().unwrap();
    let hostport = url.trim_start_matches("ws://").trim_end_matches('/').to_string();
    let server: SocketAddr = hostport.parse().unwrap();
    let (kind, via) = match proxy.split_once("://") {
        Some((k, a)) => (k.to_string(), a.parse::<SocketAddr>().unwrap()),
        None => ("direct".to_string(), server),
    };
    let upgrade = format!(
        "GET / HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    let start = Instant::now();
    for i in 0..count {
        let mut s = TcpStream::connect(via).unwrap_or_else(|e| die(&format!("connect: {e}")));
        s.set_nodelay(true).unwrap();
        match kind.as_str() {
            "http" => {
                s.write_all(format!("CONNECT {hostport} HTTP/1.1\r\nHost: {hostport}\r\n\r\n").as_bytes()).unwrap();
                let h = read_head(&mut s);
                if !h.starts_with(b"HTTP/1.1 200") && !h.starts_with(b"HTTP/1.0 200") {
                    die("CONNECT refused");
                }
            }
            "socks5" => {
                s.write_all(&[5, 1, 0]).unwrap();
                let mut m = [0u8; 2];
                s.read_exact(&mut m).unwrap();
                let SocketAddr::V4(a) = server else { die("IPv4 only") };
                let mut req = vec![5, 1, 0, 1];
                req.extend_from_slice(&a.ip().octets());
                req.extend_from_slice(&a.port().to_be_bytes());
                s.write_all(&req).unwrap();
                let mut r = [0u8; 10];
                s.read_exact(&mut r).unwrap();
                if r[1] != 0 {
                    die("SOCKS5 refused");
                }
            }
            _ => {}
        }
        s.write_all(upgrade.as_bytes()).unwrap();
        let h = read_head(&mut s);
        if !h.starts_with(b"HTTP/1.1 101") {
            die("upgrade refused");
        }
        let p = payload(i, size);
        s.write_all(&frame(1, &p)).unwrap();
        let (op, d) = read_frame(&mut s);
        let n = size.min(16);
        if op != 1 || d.len() != size || d[..n] != p[..n] || (i % 8 == 0 && d != p) {
            die("echo validation failed");
        }
        s.write_all(&frame(8, &1000u16.to_be_bytes())).unwrap();
        let (op, _) = read_frame(&mut s);
        if op != 8 {
            die("no close frame");
        }
        let mut rest = [0u8; 64];
        while s.read(&mut rest).unwrap_or(0) > 0 {}
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{{\"client\":\"raw-tcp-{kind}\",\"workload\":\"connect\",\"count\":{count},\"size\":{size},\"seconds\":{secs:.6},\"msgs_per_s\":{:.1},\"mb_per_s\":{:.3},\"p50_us\":null,\"p99_us\":null}}",
        count as f64 / secs,
        (count * size) as f64 / secs / 1e6
    );
}
