//! wsclient-deflate-echo-server: a WebSocket echo server with
//! permessage-deflate (RFC 7692), for the interop tests (tests/interop/),
//! `wscat --compress` in ctest and a compressed benchmark (not written
//! yet: `wsclient-bench --compress` is its client). Not installed.
//!
//! ```text
//! wsclient-deflate-echo-server [--port N] [--host ADDR] [--level 0-9]
//!     [--server-max-window-bits 9-15] [--client-max-window-bits 8-15]
//!     [--server-no-context-takeover] [--client-no-context-takeover]
//!     [--pooled] [--no-deflate] [--stats]
//! ```
//!
//! - `--port 0` (default) picks a free port; prints `LISTENING <port>` once
//!   it accepts connections.
//! - Accepts the first permessage-deflate offer it can (section 7 of the
//!   RFC): the client's `server_max_window_bits` and no-context-takeover
//!   requests are honoured, `--server-max-window-bits` limits its own window
//!   further, `--client-max-window-bits` asks the client for a smaller one
//!   when the client offered `client_max_window_bits`, and the two
//!   `--*-no-context-takeover` flags put those parameters in every answer.
//!   `--no-deflate` declines (the server is then a plain echo server).
//! - Echoes every message with its type: inflated when it came compressed
//!   (RSV1), compressed again (one frame) when deflate was agreed.
//!   Fragmented messages are reassembled (store and forward); pings are
//!   answered; a close is answered with the same code, then TCP is closed.
//! - Its own codec: zlib-rs directly (not the library's code), so that a
//!   mistake in the library's framing or negotiation does not cancel out.
//! - `--pooled`: every echo is compressed by a compressor taken from a
//!   shared pool and reset (no context carried over, which a server may
//!   always do, whatever it agreed): for tens of thousands of connections
//!   (the 10,000-connection memory figure), whose compressors would
//!   otherwise take ~300 KiB each.
//! - `--stats`: on every connection's end, a line on stderr:
//!   `STATS messages=N app_in=B wire_in=B app_out=B wire_out=B` (payload
//!   bytes before and after compression), which the benchmark reads for
//!   the compression ratio.
//!
//! One thread per connection (128 KiB stacks), blocking I/O: a blocked read
//! wakes its own thread (the lowest latency for one client doing round
//! trips). Each read takes in every complete frame; all echoes of one read
//! leave in one write. Limits: 64 MiB per message (inflated).

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Mutex;
use std::time::Duration;

const MAX_MESSAGE: usize = 64 << 20;
const TAIL: [u8; 4] = [0, 0, 0xff, 0xff];

#[derive(Clone, Default)]
struct Config {
    host: String,
    port: u16,
    level: i32,
    server_max_window_bits: Option<u8>,
    client_max_window_bits: Option<u8>,
    server_nct: bool,
    client_nct: bool,
    pooled: bool,
    no_deflate: bool,
    stats: bool,
}

const USAGE: &str = "usage: wsclient-deflate-echo-server [--port N] [--host ADDR] [--level 0-9] \
[--server-max-window-bits 9-15] [--client-max-window-bits 8-15] [--server-no-context-takeover] \
[--client-no-context-takeover] [--pooled] [--no-deflate] [--stats]";

fn parse_args() -> Result<Config, String> {
    let mut c = Config { host: "127.0.0.1".into(), level: 6, ..Config::default() };
    let mut args = std::env::args().skip(1);
    fn num<T: std::str::FromStr>(v: Option<String>, name: &str) -> Result<T, String> {
        v.and_then(|s| s.parse().ok()).ok_or_else(|| format!("{name} needs a number"))
    }
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => c.port = num(args.next(), "--port")?,
            "--host" => c.host = args.next().ok_or("--host needs an address")?,
            "--level" => c.level = num::<i32>(args.next(), "--level").and_then(|l| in_range(l, 0, 9, "--level"))?,
            "--server-max-window-bits" => {
                c.server_max_window_bits =
                    Some(num::<u8>(args.next(), &a).and_then(|b| in_range(b, 9, 15, "--server-max-window-bits"))?)
            }
            "--client-max-window-bits" => {
                c.client_max_window_bits =
                    Some(num::<u8>(args.next(), &a).and_then(|b| in_range(b, 8, 15, "--client-max-window-bits"))?)
            }
            "--server-no-context-takeover" => c.server_nct = true,
            "--client-no-context-takeover" => c.client_nct = true,
            "--pooled" => c.pooled = true,
            "--no-deflate" => c.no_deflate = true,
            "--stats" => c.stats = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(c)
}

fn in_range<T: PartialOrd + std::fmt::Display>(v: T, lo: T, hi: T, name: &str) -> Result<T, String> {
    if v < lo || v > hi {
        Err(format!("{name} must be {lo}..{hi}, got {v}"))
    } else {
        Ok(v)
    }
}

fn main() {
    let cfg = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wsclient-deflate-echo-server: {e}");
            std::process::exit(2);
        }
    };
    let l = match TcpListener::bind((cfg.host.as_str(), cfg.port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("wsclient-deflate-echo-server: bind {}:{}: {e}", cfg.host, cfg.port);
            std::process::exit(1);
        }
    };
    println!("LISTENING {}", l.local_addr().map(|a| a.port()).unwrap_or(0));
    let _ = io::stdout().flush();
    for s in l.incoming() {
        let Ok(s) = s else { continue };
        let cfg = cfg.clone();
        let spawned = std::thread::Builder::new().stack_size(128 << 10).spawn(move || {
            let _ = s.set_nodelay(true);
            if let Err(e) = serve(s, &cfg) {
                if !matches!(e.kind(), io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset) {
                    eprintln!("connection: {e}");
                }
            }
        });
        if let Err(e) = spawned {
            eprintln!("wsclient-deflate-echo-server: cannot start a thread: {e}");
        }
    }
}

// ---- negotiation --------------------------------------------------------------------

/// What this connection agreed.
#[derive(Clone, Copy, Debug)]
struct Agreed {
    /// The client's window (we inflate with it) and ours (we compress with it).
    cbits: u8,
    sbits: u8,
    client_nct: bool,
    server_nct: bool,
}

fn bits(v: Option<&str>) -> Option<u8> {
    let v = v?.trim().trim_matches('"');
    let b: u8 = v.parse().ok()?;
    ((8..=15).contains(&b) && !v.starts_with('0')).then_some(b)
}

/// Picks the first permessage-deflate offer this server can accept;
/// returns what was agreed and the response value.
fn negotiate(header: &str, cfg: &Config) -> Option<(Agreed, String)> {
    'offers: for offer in header.split(',') {
        let mut parts = offer.split(';').map(str::trim);
        if !parts.next()?.eq_ignore_ascii_case("permessage-deflate") {
            continue;
        }
        let (mut cmwb, mut smwb, mut cnct, mut snct) = (None::<Option<u8>>, None, false, false);
        for p in parts {
            let (k, v) = match p.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v)),
                None => (p, None),
            };
            match k.to_ascii_lowercase().as_str() {
                "client_max_window_bits" if cmwb.is_none() => match v {
                    None => cmwb = Some(None),
                    Some(v) => match bits(Some(v)) {
                        Some(b) => cmwb = Some(Some(b)),
                        None => continue 'offers,
                    },
                },
                "server_max_window_bits" if smwb.is_none() => match bits(v) {
                    Some(b) => smwb = Some(b),
                    None => continue 'offers,
                },
                "client_no_context_takeover" if v.is_none() && !cnct => cnct = true,
                "server_no_context_takeover" if v.is_none() && !snct => snct = true,
                _ => continue 'offers,
            }
        }
        let mut resp = String::from("permessage-deflate");
        // our window: what the client allows, limited by our setting; zlib
        // cannot compress with 8 bits, so an offer of 8 is declined
        let mut sbits = 15u8;
        if let Some(b) = smwb {
            if b < 9 {
                continue;
            }
            sbits = b;
        }
        if let Some(b) = cfg.server_max_window_bits {
            sbits = sbits.min(b);
        }
        if smwb.is_some() || cfg.server_max_window_bits.is_some() {
            resp.push_str(&format!("; server_max_window_bits={sbits}"));
        }
        let mut cbits = match cmwb {
            Some(Some(b)) => b,
            _ => 15,
        };
        if let (Some(_), Some(b)) = (cmwb, cfg.client_max_window_bits) {
            cbits = cbits.min(b);
            resp.push_str(&format!("; client_max_window_bits={cbits}"));
        }
        let server_nct = snct || cfg.server_nct;
        if server_nct {
            resp.push_str("; server_no_context_takeover");
        }
        let client_nct = cnct || cfg.client_nct;
        if cfg.client_nct {
            resp.push_str("; client_no_context_takeover");
        }
        return Some((Agreed { cbits, sbits, client_nct, server_nct }, resp));
    }
    None
}

// ---- the codec ------------------------------------------------------------------------

static POOL: Mutex<Vec<(u8, zlib_rs::Deflate)>> = Mutex::new(Vec::new());

struct Codec {
    a: Agreed,
    level: i32,
    pooled: bool,
    inf: Option<zlib_rs::Inflate>,
    def: Option<zlib_rs::Deflate>,
}

fn new_deflate(level: i32, bits: u8) -> zlib_rs::Deflate {
    zlib_rs::Deflate::new(level, false, bits.max(9))
}

impl Codec {
    fn inflate(&mut self, payload: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let bad = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
        let z = self.inf.get_or_insert_with(|| zlib_rs::Inflate::new(false, self.a.cbits));
        out.clear();
        for input in [payload, &TAIL[..]] {
            let mut at = 0;
            loop {
                if out.capacity() - out.len() < 64 << 10 {
                    out.reserve(out.len().max(64 << 10));
                }
                let len = out.len();
                let room = (out.capacity() - len).min(MAX_MESSAGE + 1 - len);
                out.resize(len + room, 0);
                let before = (z.total_in(), z.total_out());
                let r = z.decompress(&input[at..], &mut out[len..], zlib_rs::InflateFlush::SyncFlush);
                let produced = (z.total_out() - before.1) as usize;
                at += (z.total_in() - before.0) as usize;
                out.truncate(len + produced);
                match r {
                    Ok(zlib_rs::Status::StreamEnd) => break,
                    Ok(_) => {}
                    Err(e) => return Err(bad(format!("inflate: {e:?}"))),
                }
                if out.len() > MAX_MESSAGE {
                    return Err(bad("message over 64 MiB".into()));
                }
                if at == input.len() && produced < room {
                    break;
                }
            }
        }
        if self.a.client_nct {
            // zlib-rs's reset returns to the default window: a new decoder
            self.inf = None;
        }
        Ok(())
    }

    fn deflate(&mut self, m: &[u8], out: &mut Vec<u8>) {
        let bits = self.a.sbits;
        let mut z = match self.def.take() {
            Some(z) => z,
            None if self.pooled => {
                let found = {
                    let mut p = POOL.lock().unwrap_or_else(|e| e.into_inner());
                    p.iter().position(|e| e.0 == bits).map(|i| p.swap_remove(i).1)
                };
                found.unwrap_or_else(|| new_deflate(self.level, bits))
            }
            None => new_deflate(self.level, bits),
        };
        out.clear();
        out.resize(m.len() + m.len() / 1000 + 64, 0);
        let mut at = 0;
        let mut len = 0;
        loop {
            let before = (z.total_in(), z.total_out());
            let _ = z.compress(&m[at..], &mut out[len..], zlib_rs::DeflateFlush::SyncFlush);
            at += (z.total_in() - before.0) as usize;
            len += (z.total_out() - before.1) as usize;
            if at == m.len() && len < out.len() {
                break;
            }
            let n = out.len();
            out.resize(n * 2, 0);
        }
        out.truncate(len);
        if out.ends_with(&TAIL) {
            out.truncate(len - 4);
        }
        if out.is_empty() {
            out.push(0);
        }
        if self.pooled || self.a.server_nct {
            z.reset();
            if self.pooled {
                let mut p = POOL.lock().unwrap_or_else(|e| e.into_inner());
                if p.len() < 16 {
                    p.push((bits, z));
                }
                return;
            }
        }
        self.def = Some(z);
    }
}

// ---- one connection -------------------------------------------------------------------

fn read_request(s: &mut TcpStream) -> io::Result<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..p]).into_owned();
            return Ok((head, buf[p + 4..].to_vec()));
        }
        if buf.len() > 64 << 10 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "request head too large"));
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<String> {
    let v: Vec<&'a str> = head
        .split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect();
    (!v.is_empty()).then(|| v.join(", "))
}

fn encode(out: &mut Vec<u8>, b0: u8, payload: &[u8]) {
    out.push(b0);
    let n = payload.len();
    if n < 126 {
        out.push(n as u8);
    } else if n <= 0xffff {
        out.push(126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
}

#[derive(Default)]
struct Stats {
    messages: u64,
    app_in: u64,
    wire_in: u64,
    app_out: u64,
    wire_out: u64,
}

fn serve(mut s: TcpStream, cfg: &Config) -> io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(600)))?;
    let (head, mut buf) = read_request(&mut s)?;
    let key = header(&head, "sec-websocket-key").unwrap_or_default();
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let agreed =
        if cfg.no_deflate { None } else { header(&head, "sec-websocket-extensions").and_then(|h| negotiate(&h, cfg)) };
    let mut resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
    );
    if let Some((_, r)) = &agreed {
        resp.push_str(&format!("Sec-WebSocket-Extensions: {r}\r\n"));
    }
    resp.push_str("\r\n");
    s.write_all(resp.as_bytes())?;
    let mut codec = agreed.map(|(a, _)| Codec { a, level: cfg.level, pooled: cfg.pooled, inf: None, def: None });
    let mut st = Stats::default();
    let r = echo_loop(&mut s, &mut buf, codec.as_mut(), &mut st);
    if cfg.stats {
        eprintln!(
            "STATS messages={} app_in={} wire_in={} app_out={} wire_out={}",
            st.messages, st.app_in, st.wire_in, st.app_out, st.wire_out
        );
    }
    r
}

fn echo_loop(s: &mut TcpStream, buf: &mut Vec<u8>, mut codec: Option<&mut Codec>, st: &mut Stats) -> io::Result<()> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_string());
    let mut out = Vec::new();
    let mut msg: Vec<u8> = Vec::new(); // a fragmented message so far (wire bytes)
    let mut msg_op: Option<(u8, bool)> = None;
    let mut plain = Vec::new();
    let mut packed = Vec::new();
    let mut start = 0;
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        // every complete frame in the buffer
        loop {
            let b = &buf[start..];
            if b.len() < 2 {
                break;
            }
            let (ext, len7) = match b[1] & 0x7f {
                126 => (2, 0),
                127 => (8, 0),
                n => (0, n as usize),
            };
            let hlen = 2 + ext + 4;
            if b[1] & 0x80 == 0 {
                return Err(bad("unmasked client frame"));
            }
            if b.len() < hlen {
                break;
            }
            let len = match ext {
                2 => u16::from_be_bytes([b[2], b[3]]) as usize,
                8 => u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
                _ => len7,
            };
            if len > MAX_MESSAGE {
                return Err(bad("frame over 64 MiB"));
            }
            if b.len() < hlen + len {
                break;
            }
            let (b0, mask) = (b[0], [b[hlen - 4], b[hlen - 3], b[hlen - 2], b[hlen - 1]]);
            let p0 = start + hlen;
            for (i, x) in buf[p0..p0 + len].iter_mut().enumerate() {
                *x ^= mask[i & 3];
            }
            let payload = &buf[p0..p0 + len];
            start = p0 + len;
            let (fin, op, rsv1) = (b0 & 0x80 != 0, b0 & 0x0f, b0 & 0x40 != 0);
            match op {
                0x8 => {
                    let code = if payload.len() >= 2 { &payload[..2] } else { &[][..] };
                    encode(&mut out, 0x88, code);
                    s.write_all(&out)?;
                    let _ = s.shutdown(std::net::Shutdown::Write);
                    // drain until the client closes (bounded by the read timeout)
                    while s.read(&mut chunk).map(|n| n > 0).unwrap_or(false) {}
                    return Ok(());
                }
                0x9 => encode(&mut out, 0x8A, payload),
                0xA => {}
                0x0..=0x2 => {
                    if op != 0 {
                        msg_op = Some((op, rsv1));
                        msg.clear();
                    }
                    let Some((mop, compressed)) = msg_op else { return Err(bad("stray continuation")) };
                    st.wire_in += payload.len() as u64;
                    let whole: &[u8] = if fin && msg.is_empty() {
                        payload
                    } else {
                        msg.extend_from_slice(payload);
                        if msg.len() > MAX_MESSAGE {
                            return Err(bad("message over 64 MiB"));
                        }
                        if !fin {
                            continue;
                        }
                        &msg
                    };
                    let app: &[u8] = if compressed {
                        let c = codec.as_deref_mut().ok_or_else(|| bad("RSV1 without permessage-deflate"))?;
                        c.inflate(whole, &mut plain)?;
                        &plain
                    } else {
                        whole
                    };
                    st.messages += 1;
                    st.app_in += app.len() as u64;
                    st.app_out += app.len() as u64;
                    match codec.as_deref_mut() {
                        Some(c) => {
                            c.deflate(app, &mut packed);
                            encode(&mut out, 0xC0 | mop, &packed);
                            st.wire_out += packed.len() as u64;
                        }
                        None => {
                            encode(&mut out, 0x80 | mop, app);
                            st.wire_out += app.len() as u64;
                        }
                    }
                    msg_op = None;
                }
                _ => return Err(bad("reserved opcode")),
            }
        }
        if !out.is_empty() {
            s.write_all(&out)?;
            out.clear();
            if out.capacity() > 4 << 20 {
                out = Vec::new();
            }
        }
        // keep the unparsed tail, read more
        buf.drain(..start);
        start = 0;
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
