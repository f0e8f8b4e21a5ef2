//! Shared helpers for the integration tests: thin wrappers around the C
//! exports (so that every test reads as C would call the library), a
//! watchdog, and real WebSocket servers started in-process on 127.0.0.1:0.
//!
//! Two kinds of servers:
//! - "normal" servers built on tungstenite's `accept` (echo, verifying
//!   receivers), for when a correct peer is wanted;
//! - hand-written servers over `std::net::TcpListener` ([`serve_tcp`],
//!   [`serve_ws`]) with a raw frame codec ([`Peer`]), for everything
//!   tungstenite cannot do on demand: silence, bad upgrade responses, invalid
//!   UTF-8, reserved bits, masked frames, frames split across a timeout, and
//!   recording exactly which bytes the client put on the wire.
//!
//! Every server thread has socket timeouts, and every test arms a
//! [`watchdog`], so a library bug can fail the run but never hang CI.
#![allow(dead_code)]

pub use wsclient::*;

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

/// How long a server waits on its socket before giving up: long enough for a
/// slow debug build on a shared machine, short enough to end a stuck thread.
pub const SERVER_IO_TIMEOUT: Duration = Duration::from_secs(20);
/// How long [`Server::join`] waits for the server thread's result.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

// ---- watchdog ------------------------------------------------------------------

/// Ends the whole test binary (exit code 101, like a failed test) if the test
/// holding it runs longer than `limit`: a hung ws_read must fail CI, not
/// block it. Dropping the guard (also while unwinding) disarms it.
pub struct Watchdog {
    _disarm: mpsc::Sender<()>,
}

pub fn watchdog(name: &'static str, limit: Duration) -> Watchdog {
    let (tx, rx) = mpsc::channel::<()>();
    thread::Builder::new()
        .name(format!("watchdog-{name}"))
        .spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                // io::stderr() directly: eprintln! from a test thread's child
                // is captured by the harness, and lost when we exit
                let _ = writeln!(
                    io::stderr(),
                    "WATCHDOG: test `{name}` still running after {limit:?}: a call is hanging; aborting the test binary"
                );
                std::process::exit(101);
            }
        })
        .expect("spawn watchdog");
    Watchdog { _disarm: tx }
}

// ---- C call wrappers ------------------------------------------------------------

pub fn cs(s: &str) -> CString {
    CString::new(s).expect("no NUL in test string")
}

/// A C string from the library as an owned String (None for NULL).
pub fn from_c(p: *const c_char) -> Option<String> {
    if p.is_null() {
        None
    } else {
        // SAFETY: the library returns NUL-terminated strings valid until the
        // next call on this thread; we copy before making another call.
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }
}

pub fn last_error() -> String {
    let p = ws_last_error();
    assert!(!p.is_null(), "ws_last_error() returned NULL");
    from_c(p).unwrap()
}

pub fn last_code() -> c_int {
    ws_last_error_code()
}

pub fn error_name(code: c_int) -> String {
    from_c(ws_error_name(code)).expect("ws_error_name never returns NULL")
}

/// "WS_E_TIMEOUT (16): timeout after ..." for assertion messages.
pub fn describe() -> String {
    let code = last_code();
    format!("{} ({code}): {}", error_name(code), last_error())
}

/// Asserts the last error's code (by name, for readable failures) and that
/// its message contains every needle.
#[track_caller]
pub fn assert_error(code: c_int, needles: &[&str]) {
    let got = last_code();
    let msg = last_error();
    assert_eq!(error_name(got), error_name(code), "last error code: got {} ({got}) \"{msg}\"", error_name(got));
    for n in needles {
        assert!(msg.contains(n), "error message \"{msg}\" does not contain \"{n}\"");
    }
}

/// ws_open with Rust strings (None = NULL options).
pub fn open(url: &str, options: Option<&str>) -> c_int {
    let u = cs(url);
    let o = options.map(cs);
    ws_open(u.as_ptr(), o.as_ref().map_or(ptr::null(), |o| o.as_ptr()))
}

#[track_caller]
pub fn open_ok(url: &str, options: Option<&str>) -> c_int {
    let s = open(url, options);
    assert!(s > 0, "ws_open({url}) = {s}: {}", describe());
    assert_eq!(last_code(), WS_E_OK);
    s
}

pub fn write(s: c_int, data: &[u8], ty: c_int) -> c_int {
    ws_write(s, data.as_ptr().cast(), data.len(), ty)
}

#[track_caller]
pub fn write_ok(s: c_int, data: &[u8], ty: c_int) {
    let r = write(s, data, ty);
    assert_eq!(r, WS_OK, "ws_write({} bytes) = {r}: {}", data.len(), describe());
}

/// The outcome of one ws_read, with the lent message copied out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Got {
    Msg(c_int, Vec<u8>),
    Closed,
    Error(c_int),
    Timeout(c_int),
}

/// ws_read (lent buffer), copying the message out before any other call.
pub fn read(s: c_int, timeout_ms: c_int) -> Got {
    let mut p: *const c_void = ptr::null();
    let mut len = 0usize;
    let mut ty: c_int = 0;
    match ws_read(s, &mut p, &mut len, &mut ty, timeout_ms) {
        WS_OK => {
            let data = if len == 0 {
                Vec::new()
            } else {
                assert!(!p.is_null(), "ws_read returned WS_OK, len {len} and NULL data");
                // SAFETY: on WS_OK the library lends `len` bytes at `p` until
                // the next read or close on this socket.
                unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) }.to_vec()
            };
            Got::Msg(ty, data)
        }
        WS_CLOSED => Got::Closed,
        WS_ERROR => Got::Error(last_code()),
        WS_TIMEOUT => Got::Timeout(last_code()),
        other => panic!("ws_read returned {other}, not 0, 1, -1 or -2"),
    }
}

/// Reads one message, failing the test on anything else.
#[track_caller]
pub fn read_msg(s: c_int, timeout_ms: c_int) -> (c_int, Vec<u8>) {
    match read(s, timeout_ms) {
        Got::Msg(t, d) => (t, d),
        other => panic!("ws_read: expected a message, got {other:?}: {}", describe()),
    }
}

/// ws_read_into with a buffer of `cap` bytes; returns (rc, len, type, bytes).
pub fn read_into(s: c_int, cap: usize, timeout_ms: c_int) -> (c_int, usize, c_int, Vec<u8>) {
    let mut buf = vec![0xEEu8; cap];
    let mut len = usize::MAX;
    let mut ty: c_int = -77;
    let bp = if cap == 0 { ptr::null_mut() } else { buf.as_mut_ptr().cast() };
    let r = ws_read_into(s, bp, cap, &mut len, &mut ty, timeout_ms);
    if r == WS_OK {
        buf.truncate(len);
    }
    (r, len, ty, buf)
}

pub fn close(s: c_int) -> c_int {
    ws_close(s, 0, ptr::null())
}

#[track_caller]
pub fn close_ok(s: c_int) {
    let r = close(s);
    assert_eq!(r, WS_OK, "ws_close({s}) = {r}: {}", describe());
}

pub fn close_with(s: c_int, code: c_int, reason: &str) -> c_int {
    let r = cs(reason);
    ws_close(s, code, r.as_ptr())
}

/// Times a closure.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t0 = Instant::now();
    let v = f();
    (v, t0.elapsed())
}

#[track_caller]
pub fn assert_between(d: Duration, lo_ms: u64, hi_ms: u64, what: &str) {
    let ms = d.as_millis() as u64;
    assert!((lo_ms..=hi_ms).contains(&ms), "{what} took {ms} ms, expected {lo_ms}..{hi_ms} ms");
}

// ---- deterministic payloads -----------------------------------------------------

/// xorshift64*: deterministic pseudo-random bytes without extra crates.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// `n` pseudo-random bytes (every byte value occurs).
pub fn binary_payload(n: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng::new(seed);
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        v.extend_from_slice(&r.next_u64().to_le_bytes());
    }
    v.truncate(n);
    v
}

/// Valid UTF-8 of exactly `n` bytes mixing 1-, 2-, 3- and 4-byte characters
/// (so that frame and read boundaries fall inside characters).
pub fn text_payload(n: usize, seed: u64) -> Vec<u8> {
    const CHARS: [&str; 6] = ["a", "Z", "\u{e9}", "\u{20ac}", "\u{1F600}", " "];
    let mut r = Rng::new(seed);
    let mut s = String::with_capacity(n + 4);
    loop {
        let c = CHARS[r.below(CHARS.len() as u64) as usize];
        if s.len() + c.len() > n {
            break;
        }
        s.push_str(c);
    }
    while s.len() < n {
        s.push('x');
    }
    s.into_bytes()
}

/// Compares two large buffers with a readable failure (first difference).
#[track_caller]
pub fn assert_same_bytes(got: &[u8], want: &[u8], what: &str) {
    if got == want {
        return;
    }
    let first = got.iter().zip(want).position(|(a, b)| a != b);
    panic!("{what}: got {} bytes, expected {}; first difference at {:?}", got.len(), want.len(), first);
}

// ---- servers ------------------------------------------------------------------------

/// A server thread on 127.0.0.1:0 whose closure result the test collects.
pub struct Server<T> {
    pub addr: SocketAddr,
    pub port: u16,
    result: mpsc::Receiver<thread::Result<T>>,
}

impl<T> Server<T> {
    /// "ws://127.0.0.1:PORT" + path.
    pub fn url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{}", self.port, path)
    }

    /// The server closure's result; re-raises the server's panic (with its
    /// message) so that a server-side assertion fails the test.
    #[track_caller]
    pub fn join(self) -> T {
        match self.result.recv_timeout(JOIN_TIMEOUT) {
            Ok(Ok(v)) => v,
            Ok(Err(p)) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                panic!("server thread panicked: {msg}")
            }
            Err(e) => panic!("server thread did not finish within {JOIN_TIMEOUT:?}: {e}"),
        }
    }
}

pub fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

fn spawn_server<T: Send + 'static>(l: TcpListener, f: impl FnOnce(TcpListener) -> T + Send + 'static) -> Server<T> {
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name(format!("server-{}", addr.port()))
        .spawn(move || {
            let r = catch_unwind(AssertUnwindSafe(|| f(l)));
            let _ = tx.send(r);
        })
        .expect("spawn server");
    Server { addr, port: addr.port(), result: rx }
}

/// Accepts one connection, with a deadline (so a client that never connects
/// cannot block the server thread forever).
pub fn accept_one(l: &TcpListener) -> TcpStream {
    l.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + SERVER_IO_TIMEOUT;
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(SERVER_IO_TIMEOUT)).unwrap();
                s.set_write_timeout(Some(SERVER_IO_TIMEOUT)).unwrap();
                let _ = s.set_nodelay(true);
                return s;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "server: no client connected");
                thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("server: accept: {e}"),
        }
    }
}

/// One connection, raw TCP: the closure does everything (silence, bad
/// upgrade responses, ...).
pub fn serve_tcp<T: Send + 'static>(f: impl FnOnce(TcpStream) -> T + Send + 'static) -> Server<T> {
    serve_tcp_on(listener(), f)
}

/// As [`serve_tcp`], on a given listener (e.g. one bound to [::1]).
pub fn serve_tcp_on<T: Send + 'static>(l: TcpListener, f: impl FnOnce(TcpStream) -> T + Send + 'static) -> Server<T> {
    spawn_server(l, move |l| f(accept_one(&l)))
}

/// A parsed upgrade request.
#[derive(Clone, Debug)]
pub struct Request {
    /// The request head exactly as received (up to and including CRLFCRLF).
    pub raw: String,
    /// "GET /path?q HTTP/1.1"
    pub request_line: String,
    /// Header lines in order, as sent.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// Every value of a header (case-insensitive name).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.all(name).first().copied()
    }
    pub fn key(&self) -> &str {
        self.get("sec-websocket-key").expect("request has Sec-WebSocket-Key")
    }
}

/// Reads an HTTP request head (until CRLFCRLF); bytes after it are returned
/// as leftover (a client may send frames right after the head).
pub fn read_request(s: &mut TcpStream) -> (Request, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        assert!(buf.len() < 64 * 1024, "server: request head too large");
        let n = s.read(&mut chunk).expect("server: read request");
        assert!(n > 0, "server: EOF before the end of the request head");
        buf.extend_from_slice(&chunk[..n]);
    };
    let raw = String::from_utf8(buf[..end].to_vec()).expect("request head is UTF-8");
    let mut lines = raw.split("\r\n");
    let request_line = lines.next().unwrap().to_string();
    let headers = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap_or_else(|| panic!("bad header line {l:?}"));
            (n.to_string(), v.trim().to_string())
        })
        .collect();
    (Request { raw, request_line, headers }, buf[end..].to_vec())
}

pub fn accept_key(key: &str) -> String {
    tungstenite::handshake::derive_accept_key(key.as_bytes())
}

/// A 101 response for `req`, with extra header lines ("Name: v\r\n"...).
pub fn response_101(req: &Request, extra: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{extra}\r\n",
        accept_key(req.key())
    )
}

/// A frame as seen by the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    /// RSV1..3 bits (0 when the client behaves).
    pub rsv: u8,
    pub opcode: u8,
    pub masked: bool,
    /// Unmasked payload.
    pub payload: Vec<u8>,
}

impl Frame {
    /// (code, reason) of a close frame; None for an empty close payload.
    pub fn close_code(&self) -> Option<(u16, String)> {
        assert_eq!(self.opcode, 8, "not a close frame: {self:?}");
        if self.payload.len() < 2 {
            return None;
        }
        let code = u16::from_be_bytes([self.payload[0], self.payload[1]]);
        Some((code, String::from_utf8_lossy(&self.payload[2..]).into_owned()))
    }
}

/// Encodes an unmasked server frame; `b0` is FIN|RSV|opcode, `mask` masks it
/// anyway (a protocol violation by the server, for tests).
pub fn encode(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut v = vec![b0];
    let m = if mask.is_some() { 0x80 } else { 0 };
    let n = payload.len();
    if n < 126 {
        v.push(m | n as u8);
    } else if n <= 0xffff {
        v.push(m | 126);
        v.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        v.push(m | 127);
        v.extend_from_slice(&(n as u64).to_be_bytes());
    }
    match mask {
        None => v.extend_from_slice(payload),
        Some(k) => {
            v.extend_from_slice(&k);
            v.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i & 3]));
        }
    }
    v
}

/// The server end of an upgraded connection, speaking raw frames.
pub struct Peer {
    pub stream: TcpStream,
    pub request: Request,
    buf: Vec<u8>,
}

pub const OP_CONT: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

impl Peer {
    pub fn new(stream: TcpStream, request: Request, leftover: Vec<u8>) -> Peer {
        Peer { stream, request, buf: leftover }
    }

    pub fn raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("server: write");
    }

    /// Sends a frame: `fin`, `opcode`, payload, unmasked.
    pub fn frame(&mut self, fin: bool, opcode: u8, payload: &[u8]) {
        let b0 = if fin { 0x80 } else { 0 } | opcode;
        self.raw(&encode(b0, payload, None));
    }

    pub fn text(&mut self, s: &str) {
        self.frame(true, OP_TEXT, s.as_bytes());
    }

    pub fn binary(&mut self, b: &[u8]) {
        self.frame(true, OP_BINARY, b);
    }

    pub fn ping(&mut self, p: &[u8]) {
        self.frame(true, OP_PING, p);
    }

    pub fn close(&mut self, code: u16, reason: &str) {
        let mut p = code.to_be_bytes().to_vec();
        p.extend_from_slice(reason.as_bytes());
        self.frame(true, OP_CLOSE, &p);
    }

    fn fill(&mut self, deadline: Instant) -> io::Result<bool> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut chunk = vec![0u8; 256 * 1024];
        let r = self.stream.read(&mut chunk);
        let _ = self.stream.set_read_timeout(Some(SERVER_IO_TIMEOUT));
        match r {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                Err(io::ErrorKind::TimedOut.into())
            }
            Err(e) => Err(e),
        }
    }

    /// Parses one frame out of the buffer, if complete.
    fn parse(&mut self) -> Option<Frame> {
        let b = &self.buf;
        if b.len() < 2 {
            return None;
        }
        let masked = b[1] & 0x80 != 0;
        let (ext, len7) = match b[1] & 0x7f {
            126 => (2, 0),
            127 => (8, 0),
            n => (0, n as u64),
        };
        let hlen = 2 + ext + if masked { 4 } else { 0 };
        if b.len() < hlen {
            return None;
        }
        let len = match ext {
            2 => u16::from_be_bytes([b[2], b[3]]) as u64,
            8 => u64::from_be_bytes(b[2..10].try_into().unwrap()),
            _ => len7,
        } as usize;
        if b.len() < hlen + len {
            return None;
        }
        let mut payload = b[hlen..hlen + len].to_vec();
        if masked {
            let k = [b[hlen - 4], b[hlen - 3], b[hlen - 2], b[hlen - 1]];
            for (i, x) in payload.iter_mut().enumerate() {
                *x ^= k[i & 3];
            }
        }
        let f = Frame { fin: b[0] & 0x80 != 0, rsv: (b[0] >> 4) & 0x7, opcode: b[0] & 0x0f, masked, payload };
        self.buf.drain(..hlen + len);
        Some(f)
    }

    /// The next frame from the client. Ok(None): the client closed TCP.
    /// Err(TimedOut): nothing complete within `timeout` (partial bytes are
    /// kept for the next call).
    pub fn read_frame(&mut self, timeout: Duration) -> io::Result<Option<Frame>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(f) = self.parse() {
                return Ok(Some(f));
            }
            if !self.fill(deadline)? {
                return Ok(None);
            }
        }
    }

    /// Like read_frame, but a client frame must be masked, without RSV bits,
    /// and the stream must not end or stall.
    #[track_caller]
    pub fn expect_frame(&mut self, timeout: Duration) -> Frame {
        let f = self
            .read_frame(timeout)
            .unwrap_or_else(|e| panic!("server: no frame from the client: {e}"))
            .unwrap_or_else(|| panic!("server: the client closed TCP instead of sending a frame"));
        assert!(f.masked, "server: client frame not masked: {f:?}");
        assert_eq!(f.rsv, 0, "server: client frame with RSV bits");
        f
    }

    /// Reads a whole data message (reassembling fragments; pings/pongs from
    /// the client are returned in `controls`). Returns (opcode, payload).
    #[track_caller]
    pub fn expect_message(&mut self, timeout: Duration) -> (u8, Vec<u8>) {
        let deadline = Instant::now() + timeout;
        let mut first: Option<u8> = None;
        let mut data = Vec::new();
        loop {
            let f = self.expect_frame(deadline.saturating_duration_since(Instant::now()));
            match f.opcode {
                OP_TEXT | OP_BINARY => {
                    assert!(first.is_none(), "server: new message inside a fragmented one");
                    first = Some(f.opcode);
                }
                OP_CONT => assert!(first.is_some(), "server: stray continuation"),
                other => panic!("server: expected a data frame, got opcode {other:#x}: {f:?}"),
            }
            data.extend_from_slice(&f.payload);
            if f.fin {
                return (first.unwrap(), data);
            }
        }
    }

    /// Reads frames until a close frame arrives (returned), skipping pongs
    /// and anything else; None if TCP ends or nothing comes within `timeout`.
    pub fn read_until_close(&mut self, timeout: Duration) -> (Option<Frame>, Vec<Frame>) {
        let deadline = Instant::now() + timeout;
        let mut others = Vec::new();
        loop {
            match self.read_frame(deadline.saturating_duration_since(Instant::now())) {
                Ok(Some(f)) if f.opcode == OP_CLOSE => return (Some(f), others),
                Ok(Some(f)) => others.push(f),
                Ok(None) | Err(_) => return (None, others),
            }
        }
    }

    /// True if the client sent nothing at all for `d` (bytes in the buffer
    /// count as something).
    pub fn silent_for(&mut self, d: Duration) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        matches!(self.fill(Instant::now() + d), Err(e) if e.kind() == io::ErrorKind::TimedOut)
    }

    /// Waits until the client closes TCP (EOF or reset), discarding frames;
    /// true if it did within `timeout`.
    pub fn wait_eof(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            self.buf.clear();
            match self.fill(deadline) {
                Ok(true) => continue,
                Ok(false) => return true,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return false,
                Err(_) => return true,
            }
        }
    }
}

/// One connection, upgraded by hand with a correct 101 (plus `extra` header
/// lines), then handed to `f` as a raw [`Peer`].
pub fn serve_ws_extra<T: Send + 'static>(
    extra: &'static str,
    f: impl FnOnce(&mut Peer) -> T + Send + 'static,
) -> Server<T> {
    serve_ws_on(listener(), extra, f)
}

/// As [`serve_ws_extra`], on a given listener.
pub fn serve_ws_on<T: Send + 'static>(
    l: TcpListener,
    extra: &'static str,
    f: impl FnOnce(&mut Peer) -> T + Send + 'static,
) -> Server<T> {
    serve_tcp_on(l, move |mut s| {
        let (req, leftover) = read_request(&mut s);
        let resp = response_101(&req, extra);
        s.write_all(resp.as_bytes()).expect("server: write 101");
        let mut p = Peer::new(s, req, leftover);
        f(&mut p)
    })
}

pub fn serve_ws<T: Send + 'static>(f: impl FnOnce(&mut Peer) -> T + Send + 'static) -> Server<T> {
    serve_ws_extra("", f)
}

/// One connection answered with `response` (any bytes) instead of a proper
/// 101; returns the request the client sent. The connection is kept open
/// for `hold` afterwards (so the client sees the response, not an EOF).
pub fn serve_response(response: String, hold: Duration) -> Server<Request> {
    serve_tcp(move |mut s| {
        let (req, _) = read_request(&mut s);
        let resp = response.replace("{ACCEPT}", &accept_key(req.key()));
        s.write_all(resp.as_bytes()).expect("server: write response");
        let _ = s.set_read_timeout(Some(hold.max(Duration::from_millis(1))));
        let mut sink = [0u8; 1024];
        let t0 = Instant::now();
        while t0.elapsed() < hold {
            match s.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        req
    })
}

/// Accepts TCP and never answers (the upgrade never completes). Keeps the
/// connection for `hold`; returns how many request bytes arrived.
pub fn silent_tcp_server(hold: Duration) -> Server<usize> {
    serve_tcp(move |mut s| {
        let t0 = Instant::now();
        let mut n = 0;
        let mut buf = [0u8; 4096];
        while t0.elapsed() < hold {
            let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(_) => {}
            }
        }
        n
    })
}

/// Upgrades, then sends nothing and answers nothing (not even a close frame)
/// for `hold`; returns every frame the client sent meanwhile.
pub fn silent_ws_server(hold: Duration) -> Server<Vec<Frame>> {
    serve_ws(move |p| {
        let deadline = Instant::now() + hold;
        let mut frames = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return frames;
            }
            match p.read_frame(left) {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => {
                    // client closed TCP: keep the thread's timing anyway
                    return frames;
                }
                Err(_) => return frames,
            }
        }
    })
}

/// The server's view of a close exchange started by the server.
#[derive(Debug)]
pub struct CloseReport {
    /// The client's close frame (its reply), if any.
    pub reply: Option<Frame>,
    /// Data frames the client sent after our close frame (must be none).
    pub after_close: Vec<Frame>,
    /// The client closed TCP after its reply (within the wait).
    pub client_closed_tcp: bool,
}

/// Sends `messages` (opcode, payload), then a close frame with `code` and
/// `reason` (code None: empty close payload), then reads the client's reply.
/// With `keep_open` the TCP connection stays open until the client closes it
/// (or 10 s); otherwise the server closes TCP right after the reply.
pub fn close_server(
    messages: Vec<(u8, Vec<u8>)>,
    code: Option<u16>,
    reason: &'static str,
    keep_open: bool,
) -> Server<CloseReport> {
    serve_ws(move |p| {
        for (op, m) in &messages {
            p.frame(true, *op, m);
        }
        match code {
            Some(c) => p.close(c, reason),
            None => p.frame(true, OP_CLOSE, &[]),
        }
        let (reply, after_close) = p.read_until_close(Duration::from_secs(10));
        let client_closed_tcp = if keep_open {
            p.wait_eof(Duration::from_secs(10))
        } else {
            let _ = p.stream.shutdown(std::net::Shutdown::Write);
            p.wait_eof(Duration::from_secs(3))
        };
        CloseReport { reply, after_close, client_closed_tcp }
    })
}

/// A multi-connection echo server on tungstenite (thread per connection):
/// text and binary come back with the same type; fragmented input is
/// reassembled by tungstenite; pings and closes are answered by it. No size
/// limits (the client's 16 MiB messages are one frame).
pub struct EchoServer {
    pub port: u16,
}

impl EchoServer {
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.port)
    }
}

pub fn tungstenite_config() -> tungstenite::protocol::WebSocketConfig {
    tungstenite::protocol::WebSocketConfig::default().max_message_size(None).max_frame_size(None)
}

pub fn echo_server() -> EchoServer {
    let l = listener();
    let port = l.local_addr().unwrap().port();
    thread::Builder::new()
        .name(format!("echo-{port}"))
        .spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { continue };
                let _ = s.set_read_timeout(Some(SERVER_IO_TIMEOUT));
                let _ = s.set_write_timeout(Some(SERVER_IO_TIMEOUT));
                let _ = s.set_nodelay(true);
                let _ = thread::Builder::new().name("echo-conn".into()).spawn(move || {
                    let Ok(mut ws) = tungstenite::accept_with_config(s, Some(tungstenite_config())) else {
                        return;
                    };
                    loop {
                        match ws.read() {
                            Ok(m) if m.is_text() || m.is_binary() => {
                                if ws.send(m).is_err() {
                                    break;
                                }
                            }
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                });
            }
        })
        .expect("spawn echo server");
    EchoServer { port }
}

/// One connection served by tungstenite (correct framing and checks), the
/// closure gets the WebSocket.
pub fn serve_tungstenite<T: Send + 'static>(
    f: impl FnOnce(&mut tungstenite::WebSocket<TcpStream>) -> T + Send + 'static,
) -> Server<T> {
    serve_tcp(move |s| {
        let mut ws =
            tungstenite::accept_with_config(s, Some(tungstenite_config())).expect("server: tungstenite accept");
        f(&mut ws)
    })
}

/// A port on 127.0.0.1 with nothing listening (bound, then released).
pub fn refused_port() -> u16 {
    let l = listener();
    l.local_addr().unwrap().port()
}

/// Sends a few kinds of messages through `s` (an echo connection) and checks
/// they come back: used to prove a socket is still usable.
#[track_caller]
pub fn assert_echo_works(s: c_int) {
    for (ty, data) in [(WS_TEXT, b"still alive".to_vec()), (WS_BINARY, vec![0u8, 1, 2, 255])] {
        write_ok(s, &data, ty);
        let (t, d) = read_msg(s, 5000);
        assert_eq!((t, d), (ty, data), "echo after the call");
    }
}

/// Current resident set size of this process, in bytes (Linux).
pub fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = s.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS line");
    let kb: u64 = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("VmRSS value");
    kb * 1024
}

/// Number of open file descriptors of this process (Linux).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

/// For tests that only need a raw pointer type.
pub fn null_void() -> *const c_void {
    ptr::null()
}

// ---- events, state and statistics (issue 4) ---------------------------------------

/// An event copied out of the library's `ws_event` (the payload is copied, so
/// it outlives the next ws_next_event or the callback's return).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub ty: c_int,
    pub socket: c_int,
    pub msg_type: c_int,
    pub code: c_int,
    pub error: c_int,
    pub closed_by: c_int,
    pub clean: c_int,
    pub data: Vec<u8>,
    pub rtt_us: i64,
    pub delay_ms: i64,
    pub time_us: i64,
    /// `data` was not NULL and a NUL byte followed the `len` bytes (the
    /// header promises both). Recorded rather than asserted so that a
    /// callback can copy an event without panicking across the C ABI.
    pub terminated: bool,
}

pub fn ev_name(ty: c_int) -> &'static str {
    match ty {
        WS_EV_OPEN => "OPEN",
        WS_EV_MESSAGE => "MESSAGE",
        WS_EV_PONG => "PONG",
        WS_EV_ERROR => "ERROR",
        WS_EV_CLOSE => "CLOSE",
        WS_EV_RECONNECTING => "RECONNECTING",
        _ => "UNKNOWN",
    }
}

impl Event {
    /// Copies a library event. Never panics (usable inside a callback).
    ///
    /// # Safety
    /// `ev` must be an event the library lent and that is still valid.
    pub unsafe fn from_c(ev: &ws_event) -> Event {
        let (data, terminated) = if ev.data.is_null() {
            (Vec::new(), false)
        } else {
            // SAFETY: the library lends `len` bytes plus a NUL at `data`.
            let all = unsafe { std::slice::from_raw_parts(ev.data.cast::<u8>(), ev.len + 1) };
            (all[..ev.len].to_vec(), all[ev.len] == 0)
        };
        Event {
            ty: ev.r#type,
            socket: ev.socket,
            msg_type: ev.msg_type,
            code: ev.code,
            error: ev.error,
            closed_by: ev.closed_by,
            clean: ev.clean,
            data,
            rtt_us: ev.rtt_us,
            delay_ms: ev.delay_ms,
            time_us: ev.time_us,
            terminated,
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    /// "MESSAGE(s=3, type 1, 12 bytes)" and the like, for assertion messages.
    pub fn brief(&self) -> String {
        match self.ty {
            WS_EV_MESSAGE => format!("MESSAGE(s={}, type {}, {} bytes)", self.socket, self.msg_type, self.data.len()),
            WS_EV_ERROR => format!("ERROR(s={}, {} \"{}\")", self.socket, error_name(self.code), self.text()),
            WS_EV_CLOSE => format!(
                "CLOSE(s={}, code {}, \"{}\", closed_by {}, clean {}, error {})",
                self.socket,
                self.code,
                self.text(),
                self.closed_by,
                self.clean,
                error_name(self.error)
            ),
            WS_EV_RECONNECTING => {
                format!("RECONNECTING(s={}, attempt {}, delay {} ms)", self.socket, self.code, self.delay_ms)
            }
            WS_EV_PONG => format!("PONG(s={}, \"{}\", rtt {} us)", self.socket, self.text(), self.rtt_us),
            t => format!("{}(s={}, code {})", ev_name(t), self.socket, self.code),
        }
    }
}

/// ws_next_event: Ok(event) or Err((return value, error code)).
pub fn next_event(q: c_int, timeout_ms: c_int) -> Result<Event, (c_int, c_int)> {
    // SAFETY: ws_event is integers and pointers: all-zero is a valid value.
    let mut ev: ws_event = unsafe { std::mem::zeroed() };
    match ws_next_event(q, &mut ev, timeout_ms) {
        // SAFETY: on WS_OK the event was written and its data is lent until
        // the next ws_next_event on q; we copy it at once.
        WS_OK => Ok(unsafe { Event::from_c(&ev) }),
        r => Err((r, last_code())),
    }
}

/// The next event, failing the test on a timeout or error; checks the
/// header's promises about `data` (never NULL, NUL-terminated).
#[track_caller]
pub fn expect_event(q: c_int, timeout_ms: c_int) -> Event {
    match next_event(q, timeout_ms) {
        Ok(e) => {
            assert!(e.terminated, "event {}: data NULL or not followed by a NUL byte", e.brief());
            e
        }
        Err((r, _)) => panic!("ws_next_event(q {q}, {timeout_ms} ms) = {r}: {}", describe()),
    }
}

/// The next event, which must be of type `ty`.
#[track_caller]
pub fn expect_event_of(q: c_int, ty: c_int, timeout_ms: c_int) -> Event {
    let e = expect_event(q, timeout_ms);
    assert_eq!(ev_name(e.ty), ev_name(ty), "expected a {} event, got {}", ev_name(ty), e.brief());
    e
}

/// Nothing arrives on `q` for `ms` (ws_next_event times out with WS_E_TIMEOUT).
#[track_caller]
pub fn assert_no_event(q: c_int, ms: c_int, what: &str) {
    match next_event(q, ms) {
        Ok(e) => panic!("{what}: unexpected event {}", e.brief()),
        Err((r, code)) => {
            assert_eq!(r, WS_TIMEOUT, "{what}: ws_next_event = {r} ({})", error_name(code));
            assert_eq!(error_name(code), "WS_E_TIMEOUT", "{what}");
        }
    }
}

/// A new event queue (asserts success).
#[track_caller]
pub fn queue_create() -> c_int {
    let q = ws_queue_create();
    assert!(q > 0, "ws_queue_create() = {q}: {}", describe());
    q
}

/// ws_open_async with Rust strings (None = NULL options).
pub fn open_async(url: &str, options: Option<&str>) -> c_int {
    let u = cs(url);
    let o = options.map(cs);
    ws_open_async(u.as_ptr(), o.as_ref().map_or(ptr::null(), |o| o.as_ptr()))
}

#[track_caller]
pub fn open_async_ok(url: &str, options: Option<&str>) -> c_int {
    let s = open_async(url, options);
    assert!(s > 0, "ws_open_async({url}) = {s}: {}", describe());
    s
}

/// ws_get_info with the right size; fails the test on error.
#[track_caller]
pub fn get_info(s: c_int) -> ws_info {
    // SAFETY: ws_info is integers and byte arrays: all-zero is valid.
    let mut info: ws_info = unsafe { std::mem::zeroed() };
    let r = ws_get_info(s, &mut info, std::mem::size_of::<ws_info>());
    assert_eq!(r, WS_OK, "ws_get_info({s}) = {r}: {}", describe());
    info
}

/// A NUL-terminated reason field of ws_info as a String.
pub fn info_str(field: &[c_char; 124]) -> String {
    let bytes: Vec<u8> = field.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

pub fn state_name(st: c_int) -> &'static str {
    match st {
        WS_STATE_CONNECTING => "CONNECTING",
        WS_STATE_OPEN => "OPEN",
        WS_STATE_CLOSING => "CLOSING",
        WS_STATE_CLOSED => "CLOSED",
        WS_ERROR => "WS_ERROR",
        _ => "UNKNOWN",
    }
}

/// ws_ping with a byte payload.
pub fn ping(s: c_int, payload: &[u8]) -> c_int {
    ws_ping(s, payload.as_ptr().cast(), payload.len())
}

/// Binds 127.0.0.1:`port` again, for a server that is stopped and started
/// again on the same port (std sets SO_REUSEADDR on Unix, so the TIME_WAIT
/// of an earlier server on it is no obstacle).
pub fn bind_port(port: u16) -> TcpListener {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpListener::bind(("127.0.0.1", port)) {
            Ok(l) => return l,
            Err(e) => {
                assert!(Instant::now() < deadline, "bind 127.0.0.1:{port} again: {e}");
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Accepts a connection within `wait`, or None (the listener stays usable).
pub fn try_accept(l: &TcpListener, wait: Duration) -> Option<TcpStream> {
    l.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + wait;
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(SERVER_IO_TIMEOUT)).unwrap();
                s.set_write_timeout(Some(SERVER_IO_TIMEOUT)).unwrap();
                let _ = s.set_nodelay(true);
                return Some(s);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return None;
                }
                thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("server: accept: {e}"),
        }
    }
}

/// Upgrades an accepted connection by hand (correct 101) and returns the peer.
pub fn upgrade_peer(mut s: TcpStream) -> Peer {
    let (req, leftover) = read_request(&mut s);
    s.write_all(response_101(&req, "").as_bytes()).expect("server: write 101");
    Peer::new(s, req, leftover)
}

/// `n` connections accepted one after the other on one listener, each
/// upgraded by hand and handed to `f(index, peer)`; the results in order.
pub fn serve_ws_conns<T: Send + 'static>(
    n: usize,
    mut f: impl FnMut(usize, &mut Peer) -> T + Send + 'static,
) -> Server<Vec<T>> {
    spawn_server(listener(), move |l| {
        (0..n)
            .map(|i| {
                let mut p = upgrade_peer(accept_one(&l));
                f(i, &mut p)
            })
            .collect()
    })
}

/// Every connection on its own thread, upgraded by hand and handed to
/// `handler(index, peer)`; the results as they finish.
pub fn serve_parallel<T: Send + 'static>(
    handler: impl Fn(usize, &mut Peer) -> T + Send + Sync + 'static,
) -> (u16, mpsc::Receiver<(usize, T)>) {
    let l = listener();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    let handler = Arc::new(handler);
    thread::spawn(move || {
        for (i, s) in l.incoming().enumerate() {
            let Ok(s) = s else { return };
            let _ = s.set_read_timeout(Some(SERVER_IO_TIMEOUT));
            let (h, tx) = (handler.clone(), tx.clone());
            thread::spawn(move || {
                let mut p = upgrade_peer(s);
                let r = h(i, &mut p);
                let _ = tx.send((i, r));
            });
        }
    });
    (port, rx)
}

/// After the close handshake (if any), whether the client closed TCP
/// within `wait`.
pub fn client_closes_tcp(p: &mut Peer, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        match p.read_frame(left) {
            Ok(None) => return true,
            Ok(Some(f)) if f.opcode == OP_CLOSE => {
                // answer, and close our side first as a server should
                p.frame(true, OP_CLOSE, &f.payload);
                let _ = p.stream.shutdown(std::net::Shutdown::Write);
            }
            Ok(Some(_)) => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut || e.kind() == std::io::ErrorKind::WouldBlock => {
                return false
            }
            Err(_) => return true, // reset: closed too
        }
    }
}
