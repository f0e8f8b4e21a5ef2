//! wsclient-echo-server: a small WebSocket echo server shipped with wsclient so
//! that the examples and the C tests need no outside server.
//!
//! ```text
//! wsclient-echo-server [--port N] [--host 127.0.0.1] [--once] [--max-message-size BYTES]
//! ```
//!
//! - `--port 0` (the default) picks a free port. When the server is ready it
//!   prints exactly `LISTENING <port>` on stdout and flushes it; a test reads
//!   that line to learn the port (never use fixed ports in tests).
//! - Echoes every text and binary message with the same type, answers pings
//!   and replies to the client's close frame (tungstenite does both), then
//!   closes TCP as the server should (RFC 6455 section 7.1.1).
//! - Offers back the first subprotocol the client offered, if any, so that
//!   `ws_subprotocol()` can be tested; without an offer none is selected.
//! - `--once`: exit after the first connection ends.
//! - `--max-message-size`: largest message (and frame) accepted, default
//!   64 MiB. A larger one fails the connection with close code 1009.
//! - `--frames`: echo frame by frame as the bytes arrive, never holding a
//!   message (or a frame) whole, so that messages of any size stream through
//!   in bounded memory (the streaming tests send 1 GiB); no size limit.
//!
//! One thread per connection. Each connection runs a non-blocking loop that
//! reads and echoes whatever has arrived and flushes whatever the kernel
//! takes, so a client that pipelines many messages before reading never
//! deadlocks against a server blocked in send(). Echoes waiting for the
//! client are capped (`MAX_PENDING`): above it the server stops reading until
//! the client reads, like any TCP peer with full buffers.

use std::io::{self, ErrorKind, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::Duration;

use tungstenite::handshake::server::{Request, Response};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Error, Message, WebSocket};

/// Bytes of echoes queued for a client that does not read, above which the
/// server stops reading from it (bounded memory per connection).
const MAX_PENDING: usize = 64 << 20;

/// A client that connects and sends no upgrade request is dropped after this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

struct Args {
    host: String,
    port: u16,
    once: bool,
    max_message_size: usize,
    frames: bool,
}

const USAGE: &str =
    "usage: wsclient-echo-server [--port N] [--host ADDR] [--once] [--max-message-size BYTES] [--frames]";

fn parse_args() -> Result<Args, String> {
    let mut args =
        Args { host: "127.0.0.1".to_owned(), port: 0, once: false, max_message_size: 64 << 20, frames: false };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--frames" => args.frames = true,
            "--port" | "-p" => {
                let v = value("--port")?;
                args.port = v.parse().map_err(|_| format!("bad port {v:?}"))?;
            }
            "--host" => args.host = value("--host")?,
            "--once" => args.once = true,
            "--max-message-size" => {
                let v = value("--max-message-size")?;
                args.max_message_size = v.parse().ok().filter(|&n| n > 0).ok_or_else(|| format!("bad size {v:?}"))?;
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("wsclient-echo-server: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind((args.host.as_str(), args.port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("wsclient-echo-server: cannot listen on {}:{}: {e}", args.host, args.port);
            return ExitCode::FAILURE;
        }
    };
    let port = match listener.local_addr() {
        Ok(a) => a.port(),
        Err(e) => {
            eprintln!("wsclient-echo-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    {
        let mut out = io::stdout().lock();
        if writeln!(out, "LISTENING {port}").and_then(|_| out.flush()).is_err() {
            return ExitCode::FAILURE;
        }
    }

    let config = WebSocketConfig::default()
        .max_message_size(Some(args.max_message_size))
        // Clients may send a big message as one frame; tungstenite's default
        // frame limit (16 MiB) is below its message limit.
        .max_frame_size(Some(args.max_message_size));

    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("wsclient-echo-server: accept: {e}");
                continue;
            }
        };
        let frames = args.frames;
        let run = move || if frames { relay(stream) } else { serve(stream, config) };
        if args.once {
            run();
            return ExitCode::SUCCESS;
        }
        if let Err(e) = std::thread::Builder::new().name("echo-conn".into()).spawn(run) {
            eprintln!("wsclient-echo-server: cannot start a thread: {e}");
        }
    }
    ExitCode::SUCCESS
}

/// Handles one connection to its end; errors are reported on stderr with the
/// peer's address, normal closes silently.
fn serve(stream: TcpStream, config: WebSocketConfig) {
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
    if let Err(e) = serve_inner(stream, config) {
        eprintln!("wsclient-echo-server: {peer}: {e}");
    }
}

fn serve_inner(stream: TcpStream, config: WebSocketConfig) -> Result<(), String> {
    // Echoes are small and latency matters more than packet count.
    let _ = stream.set_nodelay(true);
    stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT)).map_err(|e| e.to_string())?;
    let mut ws = tungstenite::accept_hdr_with_config(stream, select_subprotocol, Some(config))
        .map_err(|e| format!("handshake: {e}"))?;
    let sock = ws.get_mut();
    sock.set_read_timeout(None).map_err(|e| e.to_string())?;
    sock.set_nonblocking(true).map_err(|e| e.to_string())?;
    echo_loop(&mut ws)
}

/// Selects the first subprotocol the client offered (echo servers commonly
/// accept any protocol); sends none when none was offered.
// The signature is tungstenite's handshake Callback; its error type is theirs.
#[allow(clippy::result_large_err)]
fn select_subprotocol(
    req: &Request,
    mut resp: Response,
) -> Result<Response, tungstenite::handshake::server::ErrorResponse> {
    let first = req
        .headers()
        .get_all("Sec-WebSocket-Protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find(|p| !p.is_empty())
        .map(str::to_owned);
    if let Some(p) = first {
        if let Ok(v) = p.parse() {
            resp.headers_mut().insert("Sec-WebSocket-Protocol", v);
        }
    }
    Ok(resp)
}

/// `--frames`: the upgrade by tungstenite, then a relay of frames: each
/// frame's header goes back at once and its payload follows chunk by chunk
/// as it arrives (unmasked), so nothing is held whole. Pings are answered,
/// the close frame is echoed and ends the connection.
fn relay(stream: TcpStream) {
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
    let run = || -> io::Result<()> {
        let _ = stream.set_nodelay(true);
        stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
        let ws = tungstenite::accept_hdr(stream, select_subprotocol)
            .map_err(|e| io::Error::other(format!("handshake: {e}")))?;
        let mut s = ws.into_inner();
        s.set_read_timeout(None)?;
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let mut h = [0u8; 2];
            if read_exact_or_eof(&mut s, &mut h)? {
                return Ok(());
            }
            let (b0, masked) = (h[0], h[1] & 0x80 != 0);
            let mut len = u64::from(h[1] & 0x7f);
            if len == 126 {
                let mut e = [0u8; 2];
                io::Read::read_exact(&mut s, &mut e)?;
                len = u64::from(u16::from_be_bytes(e));
            } else if len == 127 {
                let mut e = [0u8; 8];
                io::Read::read_exact(&mut s, &mut e)?;
                len = u64::from_be_bytes(e);
            }
            let mut mask = [0u8; 4];
            if masked {
                io::Read::read_exact(&mut s, &mut mask)?;
            }
            let op = b0 & 0x0f;
            // a ping is answered with a pong, everything else echoed as is
            let out_b0 = if op == 0x9 { (b0 & 0xf0) | 0xA } else { b0 };
            let mut hdr = vec![out_b0];
            match len {
                0..=125 => hdr.push(len as u8),
                126..=0xffff => {
                    hdr.push(126);
                    hdr.extend_from_slice(&(len as u16).to_be_bytes());
                }
                _ => {
                    hdr.push(127);
                    hdr.extend_from_slice(&len.to_be_bytes());
                }
            }
            s.write_all(&hdr)?;
            let mut done: u64 = 0;
            while done < len {
                let n = (len - done).min(chunk.len() as u64) as usize;
                io::Read::read_exact(&mut s, &mut chunk[..n])?;
                // unmask 8 bytes at a time with the key rotated to this
                // chunk's offset (byte by byte, this loop was half the
                // server's CPU and capped the streaming benchmark)
                let r = (done as usize) & 3;
                let m = [mask[r], mask[(r + 1) & 3], mask[(r + 2) & 3], mask[(r + 3) & 3]];
                let m8 = u64::from_ne_bytes([m[0], m[1], m[2], m[3], m[0], m[1], m[2], m[3]]);
                let mut words = chunk[..n].chunks_exact_mut(8);
                for w in &mut words {
                    let v = u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]) ^ m8;
                    w.copy_from_slice(&v.to_ne_bytes());
                }
                for (i, b) in words.into_remainder().iter_mut().enumerate() {
                    *b ^= m[i & 3];
                }
                s.write_all(&chunk[..n])?;
                done += n as u64;
            }
            if op == 0x8 {
                let _ = s.shutdown(std::net::Shutdown::Write);
                return Ok(());
            }
        }
    };
    if let Err(e) = run() {
        if !matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof) {
            eprintln!("wsclient-echo-server: {peer}: {e}");
        }
    }
}

/// Reads exactly `buf.len()` bytes; true at a clean EOF before the first.
fn read_exact_or_eof(s: &mut TcpStream, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match io::Read::read(s, &mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(true),
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

fn would_block(e: &Error) -> bool {
    matches!(e, Error::Io(io) if io.kind() == ErrorKind::WouldBlock)
}

/// The normal ways for a connection to end, not worth a line on stderr.
fn normal_end(e: &Error) -> bool {
    use tungstenite::error::ProtocolError;
    match e {
        Error::ConnectionClosed | Error::AlreadyClosed => true,
        Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => true,
        Error::Io(io) => {
            matches!(io.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof)
        }
        _ => false,
    }
}

fn echo_loop(ws: &mut WebSocket<TcpStream>) -> Result<(), String> {
    let fd = ws.get_ref().as_raw_fd();
    // Bytes handed to tungstenite's write buffer since the last complete flush.
    let mut pending: usize = 0;
    loop {
        // Read and echo everything that has arrived, unless the client lets
        // echoes pile up.
        while pending <= MAX_PENDING {
            match ws.read() {
                Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                    pending += msg.len();
                    match ws.write(msg) {
                        // The frame is buffered even when the socket would
                        // block; flush() below sends it.
                        Ok(()) => {}
                        Err(e) if would_block(&e) => {}
                        Err(e) if normal_end(&e) => return Ok(()),
                        Err(e) => return Err(format!("write: {e}")),
                    }
                }
                // Pings are answered and close frames replied to by
                // tungstenite itself; pongs and raw frames need nothing.
                Ok(_) => {}
                Err(e) if would_block(&e) => break,
                Err(e) if normal_end(&e) => return Ok(()),
                Err(e) => return Err(format!("read: {e}")),
            }
        }
        let want_write = match ws.flush() {
            Ok(()) => {
                pending = 0;
                false
            }
            Err(e) if would_block(&e) => true,
            Err(e) if normal_end(&e) => return Ok(()),
            Err(e) => return Err(format!("write: {e}")),
        };
        // The client's close frame arrived and our reply is out: close TCP
        // now (dropping the stream), without waiting for the client to do
        // it. The server closes first (RFC 6455 section 7.1.1), and a
        // client that waits for that must not wait for its close timeout.
        if !ws.can_read() && !want_write {
            return Ok(());
        }
        let mut events = 0;
        if pending <= MAX_PENDING {
            events |= libc::POLLIN;
        }
        if want_write {
            events |= libc::POLLOUT;
        }
        let mut pfd = libc::pollfd { fd, events, revents: 0 };
        // SAFETY: `pfd` is one valid, initialised pollfd that outlives the
        // call, and nfds is 1. `fd` stays open: `ws` owns the stream.
        let rc = unsafe { libc::poll(&mut pfd, 1, -1) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != ErrorKind::Interrupted {
                return Err(format!("poll: {e}"));
            }
        }
    }
}
