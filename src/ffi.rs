//! Every exported `extern "C"` function, and nothing else; the only module
//! (besides the syscall wrappers in `sys.rs`) that touches raw pointers. Each
//! body starts with the guard (`guard::call` / `guard::call_str`), which
//! catches panics and records the thread's last error; a test checks this.
//!
//! Exports take raw pointers from C and are not `unsafe fn`: their pointer
//! contracts are documented in the header and NULL is always checked.
//!
//! The doc comments here become the C header (`include/wsclient.h`, generated
//! by cbindgen): they are the C documentation.

#![allow(clippy::not_unsafe_ptr_arg_deref)]

use crate::conn::{Conn, Got, Next, Want, OP_BINARY, OP_TEXT};
use crate::error::{self, Code, Error, Result};
use crate::events::{self, Ev};
use crate::guard;
use crate::options;
use crate::proto;
use crate::registry;
use crate::socket::Socket;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::Arc;
use std::time::{Duration, Instant};

// ---- return values ------------------------------------------------------------

/// Success (ws_write, ws_read, ws_flush, ws_close).
pub const WS_OK: c_int = 0;
/// ws_read / ws_read_into: the connection is closed (WinCC's webSocketRead code 1).
pub const WS_CLOSED: c_int = 1;
/// Failure; see ws_last_error() and ws_last_error_code().
pub const WS_ERROR: c_int = -1;
/// A timeout expired; see ws_last_error_code() (WS_E_TIMEOUT or WS_E_PENDING).
pub const WS_TIMEOUT: c_int = -2;

// ---- message types and write flags ---------------------------------------------

/// Text message (opcode 1): UTF-8.
pub const WS_TEXT: c_int = 1;
/// Binary message (opcode 2).
pub const WS_BINARY: c_int = 2;
/// ws_write flag, OR-ed into `type`: queue the message without sending it yet;
/// a later ws_write without the flag, or ws_flush(), puts everything queued on
/// the wire with as few system calls as possible. (A control frame the library
/// must send meanwhile, such as the pong to a server's ping, goes out behind
/// the queued messages and so takes them along.)
pub const WS_MORE: c_int = 0x100;

/// Largest reason accepted by ws_close(), in bytes (a control frame carries at
/// most 125 bytes: 2 for the code, 123 for the reason).
pub const WS_MAX_CLOSE_REASON: c_int = 123;

// ---- error codes (ws_last_error_code) ---------------------------------------------
// Append-only: a code is never renumbered or reused.

/// No error.
pub const WS_E_OK: c_int = 0;
/// An argument is invalid: NULL where a pointer is required, unknown message
/// type or flag, invalid UTF-8 in a text message or close reason, close code
/// not allowed, reason longer than 123 bytes.
pub const WS_E_INVALID_ARGUMENT: c_int = 1;
/// The URL is malformed: syntax, empty host, port 0 or > 65535, fragment.
pub const WS_E_INVALID_URL: c_int = 2;
/// The URL scheme is neither ws nor wss.
pub const WS_E_UNSUPPORTED_SCHEME: c_int = 3;
/// The options string is not valid JSON, has an unknown key or a value of the
/// wrong type or range ("argument error in options: ...").
pub const WS_E_INVALID_OPTIONS: c_int = 4;
/// The host name could not be resolved.
pub const WS_E_DNS: c_int = 5;
/// TCP connect failed (refused, unreachable), or the connection broke during
/// the upgrade.
pub const WS_E_CONNECT: c_int = 6;
/// TLS failed for another reason than certificate verification.
pub const WS_E_TLS: c_int = 7;
/// The server's certificate failed verification (untrusted, expired, wrong
/// host name, ...).
pub const WS_E_TLS_VERIFY: c_int = 8;
/// The server answered the upgrade with an HTTP status other than 101; the
/// message holds the status ("upgrade rejected by ...: HTTP 401 Unauthorized").
pub const WS_E_UPGRADE_REJECTED: c_int = 9;
/// The server's Sec-WebSocket-Accept is missing or wrong.
pub const WS_E_BAD_ACCEPT: c_int = 10;
/// Any other invalid upgrade response: not HTTP, missing "Upgrade: websocket"
/// or "Connection: Upgrade", an extension or subprotocol that was not offered,
/// or the connection closed during the upgrade.
pub const WS_E_HANDSHAKE: c_int = 11;
/// The server violated RFC 6455 (reserved bits or opcodes, masked or
/// malformed frames, bad close code, ...); the connection was failed with
/// close code 1002.
pub const WS_E_PROTOCOL: c_int = 12;
/// The server sent invalid UTF-8 in a text message or close reason; the
/// connection was failed with close code 1007.
pub const WS_E_INVALID_UTF8: c_int = 13;
/// The server sent a message larger than "maxMessageSize"; the connection was
/// failed with close code 1009.
pub const WS_E_MESSAGE_TOO_BIG: c_int = 14;
/// The connection is closed or closing (ws_write after a close frame).
pub const WS_E_CLOSED: c_int = 15;
/// A timeout expired and nothing was lost: ws_open's "timeout", ws_read's
/// timeout_ms (any partial message is kept), or a ws_write that could not
/// queue its message within "sendTimeout" (nothing of it was sent).
pub const WS_E_TIMEOUT: c_int = 16;
/// The socket number is not open (0, negative, never issued, or closed).
pub const WS_E_BAD_SOCKET: c_int = 17;
/// No more free sockets: the maximum (ws_set_max_sockets) is reached.
pub const WS_E_TOO_MANY_SOCKETS: c_int = 18;
/// A network error on an open connection (reset, broken pipe).
pub const WS_E_IO: c_int = 19;
/// ws_read_into: the buffer is too small; *len holds the size needed and the
/// message is kept for the next read.
pub const WS_E_BUFFER_TOO_SMALL: c_int = 20;
/// A bug in the library (a caught panic); please report it.
pub const WS_E_INTERNAL: c_int = 21;
/// The server closed the TCP connection without a close frame (close code
/// 1006 in ws_close_code()).
pub const WS_E_CONNECTION_LOST: c_int = 22;
/// ws_write / ws_flush timed out after the message was queued: it stays
/// queued and will be sent whole and in order by later calls on this socket
/// (ws_write, ws_flush, ws_read, ws_close). Do not send it again.
pub const WS_E_PENDING: c_int = 23;
/// The server stopped answering: nothing (no data, no pong) arrived within
/// "pongTimeout" after a keepalive ping sent after "pingInterval" of silence
/// (NodeMCU's -19, "server not responding to health checks").
pub const WS_E_HEALTH_CHECK: c_int = 24;
/// The socket is not connected: still connecting (ws_open_async), waiting to
/// reconnect, or its connection attempt failed.
pub const WS_E_NOT_OPEN: c_int = 25;
/// The proxy could not be reached: its name did not resolve, or TCP to it
/// was refused or unreachable ("proxy http://p:3128 unreachable: ...").
pub const WS_E_PROXY_CONNECT: c_int = 26;
/// The proxy refused the tunnel: an HTTP proxy answered CONNECT with a
/// status other than 2xx and 407 ("... refused CONNECT to h:443: HTTP 403
/// Forbidden"; the status and headers also in ws_last_http_status() and
/// ws_last_response_headers()), or a SOCKS5 proxy replied with an error
/// ("SOCKS5 reply 5 (connection refused)": RFC 1928 codes 1-8 by name).
pub const WS_E_PROXY_REFUSED: c_int = 27;
/// Proxy authentication required (no user in the proxy URL) or failed
/// (user or password rejected): HTTP 407 (in ws_last_http_status()), a
/// SOCKS5 proxy that wants user/password, or an RFC 1929 failure. The
/// message says which; it never contains the password.
pub const WS_E_PROXY_AUTH: c_int = 28;
/// TLS to an https:// proxy failed (handshake or certificate verification
/// with the "proxy..." TLS options; the message has the TLS details).
pub const WS_E_PROXY_TLS: c_int = 29;
/// The proxy answered something that is not HTTP (CONNECT) or SOCKS5, or
/// closed the connection in the middle of the tunnel set-up.
pub const WS_E_PROXY_PROTOCOL: c_int = 30;

// ---- events (ws_next_event, callbacks) --------------------------------------------

/// The connection is open (after ws_open, ws_open_async or a reconnect);
/// `code` is the HTTP status (101).
pub const WS_EV_OPEN: c_int = 1;
/// A message: `msg_type` WS_TEXT or WS_BINARY, `data`/`len` the payload.
pub const WS_EV_MESSAGE: c_int = 2;
/// A pong: `data`/`len` its payload, `rtt_us` the round trip of the matching
/// ws_ping() (-1 for an unsolicited pong).
pub const WS_EV_PONG: c_int = 3;
/// An error: `code` is the WS_E_* code, `data` the message (as ws_last_error).
/// A connection that fails is then reported closed by WS_EV_CLOSE, unless a
/// reconnect follows (WS_EV_RECONNECTING).
pub const WS_EV_ERROR: c_int = 4;
/// The connection ended: `code` is the close code the server sent (1005
/// none, 1006 no close frame, 0 when no connection was ever made),
/// `data` its reason, `closed_by` WS_BY_*, `clean` 1 when both close frames
/// were exchanged, `error` the WS_E_* code of the failure that ended it (0 if
/// none). The last event of every socket is a WS_EV_CLOSE; with
/// "autoReconnect" a WS_EV_RECONNECTING may follow an earlier one.
pub const WS_EV_CLOSE: c_int = 5;
/// An automatic reconnect is scheduled: `code` is the attempt number (1, 2,
/// ...), `delay_ms` the backoff before it.
pub const WS_EV_RECONNECTING: c_int = 6;

/// ws_state(): connecting (ws_open_async, reconnect pending).
pub const WS_STATE_CONNECTING: c_int = 1;
/// ws_state(): open (WinCC/Qore `isOpen`).
pub const WS_STATE_OPEN: c_int = 2;
/// ws_state(): a close frame was sent, the closing handshake is under way.
pub const WS_STATE_CLOSING: c_int = 3;
/// ws_state(): closed or failed (call ws_close() to release the number).
pub const WS_STATE_CLOSED: c_int = 4;

/// Nobody closed yet.
pub const WS_BY_NONE: c_int = 0;
/// We closed first (ws_close, ws_reconnect).
pub const WS_BY_CLIENT: c_int = 1;
/// The server sent the first close frame.
pub const WS_BY_SERVER: c_int = 2;
/// The connection failed (protocol violation, lost, health check).
pub const WS_BY_ERROR: c_int = 3;

/// One event (see ws_next_event() and ws_queue_set_callback()). Pointers are
/// owned by the library: valid until the next ws_next_event() on the same
/// queue, or until the callback returns.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct ws_event {
    /// WS_EV_OPEN, WS_EV_MESSAGE, WS_EV_PONG, WS_EV_ERROR, WS_EV_CLOSE or
    /// WS_EV_RECONNECTING.
    pub r#type: c_int,
    /// The socket number it concerns.
    pub socket: c_int,
    /// WS_EV_MESSAGE: WS_TEXT or WS_BINARY; else 0.
    pub msg_type: c_int,
    /// OPEN: HTTP status; ERROR: WS_E_* code; CLOSE: close code;
    /// RECONNECTING: attempt number.
    pub code: c_int,
    /// CLOSE: WS_E_* code of the failure that ended the connection, 0 if none.
    pub error: c_int,
    /// CLOSE: WS_BY_CLIENT, WS_BY_SERVER or WS_BY_ERROR.
    pub closed_by: c_int,
    /// CLOSE: 1 when both close frames were exchanged.
    pub clean: c_int,
    /// MESSAGE, PONG: payload; ERROR: message; CLOSE: reason. Followed by a NUL
    /// byte not counted in `len`, so text can be printed directly. Never NULL.
    pub data: *const c_void,
    pub len: usize,
    /// PONG: round-trip time in microseconds, -1 if unsolicited.
    pub rtt_us: i64,
    /// RECONNECTING: delay before the attempt, in milliseconds.
    pub delay_ms: i64,
    /// When it happened: monotonic microseconds (same clock for all events).
    pub time_us: i64,
}

/// A function called with each event of a queue (ws_queue_set_callback).
#[allow(non_camel_case_types)]
pub type ws_callback = Option<extern "C" fn(event: *const ws_event, user: *mut c_void)>;

/// Connection state and statistics (ws_get_info()).
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct ws_info {
    /// WS_STATE_*.
    pub state: c_int,
    /// HTTP status of the upgrade (101), 0 before the first connection.
    pub http_status: c_int,
    /// Who started the closing: WS_BY_*.
    pub closed_by: c_int,
    /// Close code we sent, 0 if none.
    pub close_code_sent: c_int,
    /// Close code the server sent: 0 none yet, 1005 no code, 1006 the
    /// connection ended without a close frame.
    pub close_code_received: c_int,
    /// 1 when the closing handshake completed (both close frames exchanged).
    pub clean: c_int,
    /// Completed reconnections of this socket number.
    pub reconnects: c_int,
    /// Close reasons, NUL-terminated (at most 123 bytes each).
    pub reason_sent: [c_char; 124],
    pub reason_received: [c_char; 124],
    /// Pings sent (ws_ping and keepalive) and pongs received.
    pub pings_sent: i64,
    pub pongs_received: i64,
    /// Round-trip time of the last answered ping in microseconds, -1 if none.
    pub last_rtt_us: i64,
    /// Data messages and payload bytes sent and received on the current
    /// connection.
    pub messages_sent: i64,
    pub messages_received: i64,
    pub bytes_sent: i64,
    pub bytes_received: i64,
}

// ---- helpers (pointer checks) ---------------------------------------------------------

/// Borrows a C string; NULL gives None.
fn opt_str<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller passes a NUL-terminated string that stays valid for
    // the duration of the call (documented on every export taking one).
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map(Some).map_err(|_| Error::arg(format!("{what} is not valid UTF-8")))
}

fn req_str<'a>(p: *const c_char, what: &str) -> Result<&'a str> {
    opt_str(p, what)?.ok_or_else(|| Error::arg(format!("{what} is NULL")))
}

/// Borrows a (pointer, length) buffer; NULL is allowed with length 0.
fn bytes<'a>(p: *const c_void, len: usize, what: &str) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Error::arg(format!("{what} is NULL but its length is {len}")));
    }
    if len > isize::MAX as usize {
        return Err(Error::arg(format!("{what}: length {len} is too large")));
    }
    // SAFETY: the caller guarantees `len` readable bytes at `p` for the call.
    Ok(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) })
}

fn timeout(ms: c_int) -> Option<Duration> {
    u64::try_from(ms).ok().map(Duration::from_millis)
}

fn deadline(ms: c_int) -> Option<Instant> {
    timeout(ms).map(|t| Instant::now() + t)
}

/// The connection to write on (fast path: no socket lock).
fn write_conn(socket: c_int) -> Result<Arc<Conn>> {
    match registry::conn_or_socket(socket)? {
        Ok(c) => Ok(c),
        Err(sock) => sock.conn_for_write(),
    }
}

/// Reads the next message of a socket number: on its current connection
/// (fast path: no socket lock), else through the socket, which knows about
/// ends, reconnects and waiting while connecting.
fn read_next(socket: c_int, deadline: Option<Instant>, mut want: Want<'_>) -> Result<Got> {
    match registry::conn_or_socket(socket)? {
        Ok(c) => {
            c.check_readable()?;
            match c.read(deadline, &mut want)? {
                Next::Got(g) => Ok(g),
                Next::End(e, true) => e.into_result(Got::Closed),
                Next::End(_, false) | Next::Stale => registry::get(socket)?.read(deadline, &mut want),
            }
        }
        Err(sock) => sock.read(deadline, &mut want),
    }
}

/// Parses and validates everything, then reserves a socket number.
fn new_socket(url: *const c_char, options: *const c_char) -> Result<(i32, Arc<Socket>)> {
    let url = req_str(url, "url")?;
    let opts_text = opt_str(options, "options")?;
    let target = options::parse_url(url)?;
    let opts = options::parse_options(opts_text)?;
    let queue = opts
        .queue
        .map(|q| {
            events::get(q).map_err(|_| {
                Error::new(
                    Code::InvalidOptions,
                    format!("argument error in options: \"queue\": {q} is not an event queue from ws_queue_create()"),
                )
            })
        })
        .transpose()?;
    let reservation = registry::reserve()?;
    let sock = Socket::new(target, opts, queue);
    let id = registry::insert(reservation, sock.clone())?;
    Ok((id, sock))
}

fn kind_to_c(k: proto::Kind) -> c_int {
    k as c_int
}

// ---- opening ------------------------------------------------------------------------

/// Open a WebSocket connection (WinCC OA `webSocketOpen`).
///
/// `url`: `ws://host[:port][/path][?query]` or `wss://...`. The host is a name,
/// an IPv4 literal or a bracketed IPv6 literal (`ws://[::1]:8080/`); the port
/// defaults to 80 (ws) and 443 (wss); path and query are sent as given;
/// `user:password@` in the URL sends HTTP Basic authorization. A fragment
/// (`#...`), an empty host or port 0 is rejected.
///
/// `options`: NULL or "" for the defaults, or a JSON object (WinCC's options
/// mapping) with any of these keys:
/// - `"headers"`: object of header name -> value added to the upgrade
///   request. A value is a string (one line) or an array of strings (one
///   line each, in order: `{"Cookie": ["a=1", "b=2"]}` sends two Cookie
///   lines); Host, Authorization and User-Agent take one value only. A name
///   may appear once (case-insensitively). A header the library sends itself
///   (Host, User-Agent, Sec-WebSocket-Protocol, Authorization) is replaced,
///   never duplicated. Upgrade, Connection, Sec-WebSocket-Key, -Version and
///   -Extensions are managed by the library and rejected. Names must be HTTP
///   tokens; values must not contain CR, LF or other control characters.
/// - `"timeout"`: milliseconds (1..2147483647) for the whole connection
///   attempt: DNS, TCP connect (Happy Eyeballs), the proxy and its tunnel,
///   TLS, upgrade and redirects. Absent: no limit (as in WinCC). Expiry
///   returns WS_TIMEOUT.
/// - `"happyEyeballsDelay"`: milliseconds (10..10000, default 250) between
///   connection attempts to the addresses of a name (RFC 8305: families
///   interleaved; an attempt that fails starts the next at once; the first
///   connection wins, the others are closed).
/// - `"followRedirects"`: how many 301/302/307/308 answers to the upgrade
///   are followed (0..20, default 0): same scheme or ws:// to wss:// only,
///   never wss:// to ws://; the URL's credentials and an "Authorization"
///   header are not sent to another host or port.
/// - `"proxy"`: `"http://[user:pass@]host[:port]"` (CONNECT, also for ws://;
///   default port 1080), `"https://..."` (TLS to the proxy; default port
///   443), `"socks5://..."` (the client resolves the server's name) or
///   `"socks5h://..."` (the proxy resolves it); user and password
///   percent-decoded (Basic, or RFC 1929 for SOCKS5). `""` or false: direct,
///   whatever the environment says. Absent: the environment, read at this
///   call as curl reads it: wss_proxy, https_proxy (ws:// : ws_proxy,
///   http_proxy), all_proxy, their upper-case forms except HTTP_PROXY
///   (never read: curl's rule for CGI-like hosts), and no_proxy (names,
///   domain suffixes, addresses, CIDR ranges, `*`).
///   `"proxyFromEnvironment"`: false ignores the environment. `"noProxy"`:
///   a no_proxy-style list for an explicit `"proxy"`. TLS to an https://
///   proxy takes the TLS keys below with the prefix `proxy`
///   (`"proxyCaCertificates"`, `"proxyIgnoreSslErrors"`, ...), never the
///   server's. Which proxy was used: ws_get_proxy_info().
/// - `"subprotocols"`: array of protocol names offered in
///   Sec-WebSocket-Protocol; the server's choice is read with ws_subprotocol().
/// - `"maxMessageSize"`: largest message accepted from the server, in bytes,
///   1..2147483648 (2 GiB; default 67108864 = 64 MiB); outside that range
///   WS_E_INVALID_OPTIONS. A larger message fails ws_read with
///   WS_E_MESSAGE_TOO_BIG and closes the connection with 1009. Memory for a
///   message grows with the bytes that actually arrive (each step at most
///   doubles what was received, at least 256 KiB), never with the length a
///   frame header announces.
/// - `"sendTimeout"`: milliseconds one ws_write or ws_flush may wait for the
///   network (default: no limit); see WS_E_TIMEOUT and WS_E_PENDING.
/// - `"closeTimeout"`: milliseconds ws_close waits for the server's close
///   frame and TCP close (default 1000).
/// - `"sendBufferLimit"`: bytes of queued outgoing data above which ws_write
///   waits for the network before queueing more (default 4194304 = 4 MiB; one
///   larger message is still accepted when nothing is queued).
/// - `"tcpNoDelay"`: true (default) or false: TCP_NODELAY.
/// - `"pingInterval"`: milliseconds of silence from the server after which the
///   library sends a keepalive ping (default 30000; 0 turns keepalive off).
/// - `"pongTimeout"`: milliseconds after that ping within which something must
///   arrive from the server (default 10000); else the connection fails with
///   WS_E_HEALTH_CHECK, also while the program is not reading.
/// - `"queue"`: an event queue from ws_queue_create(): the socket then
///   delivers everything as events (see ws_queue_create()). A number that is
///   not a live queue is an options error.
/// - `"autoReconnect"`: true, or an object `{"initialDelay": ms (default 500),
///   "maxDelay": ms (default 30000), "maxAttempts": n (default 0 = no
///   limit)}`: when the connection is lost (anything but ws_close), connect
///   again with the same socket number after initialDelay * 2^(n-1), capped
///   at maxDelay, times a random factor in [0.75, 1.25) (jitter). Each
///   attempt is announced by a WS_EV_RECONNECTING event. A blocking ws_read()
///   in progress when the connection drops returns its end; later reads wait
///   for the new connection.
/// - `"busyPoll"`: microseconds (0..1000000; default 0 = off) that a thread
///   waiting for data from the server keeps retrying without sleeping before
///   it sleeps in the kernel: in ws_read(), ws_read_into(), ws_close() and
///   while a connection attempt (ws_open(), ws_open_async(), a reconnect)
///   waits for the upgrade response. Data that arrives within
///   that time is taken without a sleep and wake-up, which on virtual machines
///   and power-saving CPUs can be most of a loopback or LAN round trip
///   (BENCHMARKS.md: 2.9x the round trips per second on a 2-core VM), at the
///   price of one CPU kept busy for up to that long per wait (the thread
///   yields between attempts, so other threads ready on that CPU still run
///   first). Timeouts still hold: the spin never outlasts them. Sockets with
///   a "queue" are read by the background thread, which never spins; the TLS
///   handshake does not spin.
///
/// `wss://` verifies the server certificate against the system trust store
/// and the host name or IP address of the URL, and sends SNI. The whole
/// policy below is decided inside the one TLS handshake (OpenSSL's verify
/// callback sees every problem of the chain the server sent): there is never
/// a second connection, and a server that fails verification is refused
/// before the client certificate is sent. TLS keys (ignored for `ws://`):
/// - `"ignoreSslErrors"` (WinCC): `false` (default) verifies everything;
///   `true`, `""` or `[]` accepts any certificate; a list of class names
///   accepts a certificate whose only problems are of those classes, and
///   any other problem still fails (WS_E_TLS_VERIFY). A string is read as
///   a comma-separated list. Classes (Qt's QSslError names, as in WinCC's
///   netGet "sslErrors"): HostNameMismatch, CertificateExpired,
///   CertificateNotYetValid, SelfSignedCertificate,
///   SelfSignedCertificateInChain, UnableToGetLocalIssuerCertificate,
///   UnableToGetIssuerCertificate, UnableToVerifyFirstCertificate,
///   CertificateUntrusted, CertificateRejected, CertificateRevoked,
///   InvalidCaCertificate, InvalidPurpose, PathLengthExceeded,
///   CertificateSignatureFailed, UnableToDecryptCertificateSignature,
///   UnableToDecodeIssuerPublicKey, InvalidNotBeforeField,
///   InvalidNotAfterField, SubjectIssuerMismatch,
///   AuthorityIssuerSerialNumberMismatch, the OCSP classes
///   (OcspNoResponseFound, OcspMalformedRequest, OcspMalformedResponse,
///   OcspInternalError, OcspTryLater, OcspSigRequred, OcspUnauthorized,
///   OcspResponseCannotBeTrusted, OcspResponseCertIdUnknown,
///   OcspResponseExpired, OcspStatusUnknown), and UnspecifiedError (any
///   other verification error, e.g. an RSA key under 2048 bits or a SHA-1
///   signature, too weak for OpenSSL's security level, or a missing or
///   expired CRL). CertificateBlacklisted and NoPeerCertificate are
///   accepted but never occur. Untrusted roots are
///   SelfSignedCertificate(InChain) or UnableToGetLocalIssuerCertificate, as
///   with Qt on OpenSSL; CertificateUntrusted is OpenSSL's "certificate not
///   trusted" only. An unknown name is WS_E_INVALID_OPTIONS. OpenSSL goes on
///   checking the chain after an ignored problem (signatures, dates, names
///   of every certificate), so ignoring one class never lets another
///   problem through; ignoring an untrusted root accepts whoever holds it.
/// - `"sslConfig"` (WinCC): the client certificate, `{"localCertificate":
///   PEM, "privateKey": {"key": PEM, "algorithm": "RSA" or "EC",
///   "password": "..."}}`. The certificate may be followed by CA
///   certificates of its chain. `"localCertificateFile"` and `"keyFile"`
///   name PEM files instead. Keys may be PKCS#1, SEC1, PKCS#8, encrypted
///   PKCS#8 or legacy encrypted PEM ("password" needed); "algorithm" is
///   optional. Or a PKCS#12 file (.p12/.pfx) with certificate, key and CA
///   certificates: `{"pkcs12File": path, "password": "..."}`, or
///   `{"pkcs12": base64 text, "password": "..."}`. DSA keys are
///   unsupported. A wrong password, a key that does not match the
///   certificate, another algorithm than "algorithm", or a PKCS#12 file
///   where PEM is expected (and the reverse) is WS_E_INVALID_OPTIONS naming
///   the key.
/// - `"caCertificates"`: PEM text with CA certificates (or a list of such
///   texts) trusted besides the system store; `"caCertificatesFile"`: a PEM
///   file path or a list of paths. `"caCertificatesOnly"`: true trusts only
///   these CAs (needs one of the two keys).
/// - `"pinnedSha256"`: the SHA-256 of the server's certificate (DER) or of
///   its public key (SubjectPublicKeyInfo DER), 64 hex digits with optional
///   colons, or a list. The server is accepted if and only if one matches;
///   nothing else (issuer, dates, name) is checked. Not combinable with
///   "ignoreSslErrors", "caCertificates", "crlFile" or "ocspStapling".
/// - `"crlFile"`: a PEM file with one or more CRLs (or a list of files),
///   read by ws_open(). Every certificate of the chain is then checked and
///   needs a CRL from its issuer in these files (a missing or expired CRL is
///   UnspecifiedError); a revoked one is CertificateRevoked.
/// - `"ocspStapling"`: `"check"` asks the server for a stapled OCSP response
///   and verifies it (signed by the issuing CA or a responder it authorised,
///   about this certificate, within its validity); "revoked" is
///   CertificateRevoked, other problems are the Ocsp* classes. `"require"`
///   also refuses a server that staples none (OcspNoResponseFound).
///   "crlFile" and "ocspStapling" are not combinable with "ignoreSslErrors":
///   true.
/// - `"tlsMinVersion"`: `"1.2"` (default) or `"1.3"`; `"tlsMaxVersion"`:
///   `"1.2"` or `"1.3"` (default: the highest both sides support). What was
///   negotiated is read with ws_get_tls_info().
///
/// Backends: on Linux (and other Unix except macOS) the library drives
/// OpenSSL itself and everything above works. Where it uses native-tls (the
/// platform's TLS library: Windows, macOS, or a Linux build with the cargo
/// feature `native-tls-backend`) only its switches exist: "ignoreSslErrors"
/// can be true or ["HostNameMismatch"]; "crlFile", "ocspStapling", other
/// classes, and "pinnedSha256" with a client certificate are
/// WS_E_INVALID_OPTIONS; a refused certificate is WS_E_TLS_VERIFY without a
/// class; ws_get_tls_info() has no version or cipher.
///
/// A certificate verification failure (WS_E_TLS_VERIFY) names every problem
/// by class and ends with the certificate and its SHA-256, to pin a device
/// on first use: "TLS handshake with 192.168.0.10:443: CertificateExpired
/// (notAfter 2024-01-31 00:00:00 UTC); not in ignoreSslErrors
/// [HostNameMismatch]; server certificate "CN=plc" issued by "CN=Plant CA",
/// SHA-256 AB:CD:...". Other TLS failures are WS_E_TLS with OpenSSL's reason
/// and a hint, e.g. "TLS handshake with 10.0.0.5:443: wrong version number
/// (the server did not answer with TLS: is this a plain ws:// port?)",
/// including alerts right after the handshake ("... TLS: tlsv13 alert
/// certificate required").
///
/// Returns: a socket number > 0 (never 0, never one still in use or recently
/// closed); WS_ERROR (-1); WS_TIMEOUT (-2) when `"timeout"` expired.
///
/// Errors (ws_last_error_code()): WS_E_INVALID_ARGUMENT (url NULL or not
/// UTF-8), WS_E_INVALID_URL, WS_E_UNSUPPORTED_SCHEME, WS_E_INVALID_OPTIONS,
/// WS_E_TOO_MANY_SOCKETS, WS_E_DNS, WS_E_CONNECT, WS_E_TLS, WS_E_TLS_VERIFY,
/// WS_E_UPGRADE_REJECTED, WS_E_BAD_ACCEPT, WS_E_HANDSHAKE, WS_E_TIMEOUT,
/// WS_E_PROXY_CONNECT, WS_E_PROXY_REFUSED, WS_E_PROXY_AUTH, WS_E_PROXY_TLS,
/// WS_E_PROXY_PROTOCOL. The
/// message names the stage and the peer, e.g. "connect 127.0.0.1:9:
/// connection refused" or "upgrade rejected by 127.0.0.1:8080: HTTP 401
/// Unauthorized".
///
/// Blocking: until connected, failed, or the timeout.
/// Threads: any thread; opens on several threads run in parallel.
/// Ownership: both strings are copied; release the socket with ws_close().
#[unsafe(no_mangle)]
pub extern "C" fn ws_open(url: *const c_char, options: *const c_char) -> c_int {
    guard::call(|| {
        let (id, sock) = new_socket(url, options)?;
        if let Err(e) = sock.open_blocking() {
            let _ = registry::remove(id);
            return Err(e);
        }
        Ok(id)
    })
}

/// Open a WebSocket connection in the background (NodeMCU `connect`, Q-SYS
/// `Connect`).
///
/// Takes the same `url` and `options` as ws_open() and checks them at once
/// (a bad URL or option returns WS_ERROR here), then returns a socket number
/// immediately while DNS, TCP, TLS and the upgrade run on a library thread.
/// The outcome is reported as events when the socket has a "queue" (or
/// callback): WS_EV_OPEN, or WS_EV_ERROR followed by WS_EV_CLOSE (or
/// WS_EV_RECONNECTING with "autoReconnect"). Meanwhile ws_state() is
/// WS_STATE_CONNECTING, ws_write() fails with WS_E_NOT_OPEN and ws_read()
/// waits (within its timeout) for the connection; after a failure ws_read()
/// returns WS_ERROR with the cause.
///
/// Returns: a socket number > 0; WS_ERROR (-1).
/// Errors: as ws_open() for the arguments, and WS_E_TOO_MANY_SOCKETS.
/// Blocking: no. Threads: any thread. Release the number with ws_close(),
/// also after a failed attempt.
#[unsafe(no_mangle)]
pub extern "C" fn ws_open_async(url: *const c_char, options: *const c_char) -> c_int {
    guard::call(|| {
        let (id, sock) = new_socket(url, options)?;
        if let Err(e) = sock.open_async() {
            let _ = registry::remove(id);
            return Err(e);
        }
        Ok(id)
    })
}

// ---- writing ----------------------------------------------------------------------

/// Send one message (WinCC OA `webSocketWrite`, NodeMCU `send(message, opcode)`).
///
/// `type`: WS_TEXT (1) or WS_BINARY (2), optionally OR-ed with WS_MORE to
/// queue the message and send it with a later write or ws_flush(). Text must
/// be valid UTF-8, else nothing is sent. `data` may be NULL when `len` is 0.
///
/// Returns: WS_OK (0) when the whole message has been handed to the kernel
/// (with WS_MORE: when it is queued); WS_ERROR (-1); WS_TIMEOUT (-2) when the
/// "sendTimeout" option expired: with WS_E_TIMEOUT nothing of the message was
/// queued (safe to retry), with WS_E_PENDING it is queued and will be sent
/// whole, in order, by later calls on this socket (do not resend).
///
/// Errors: WS_E_BAD_SOCKET, WS_E_INVALID_ARGUMENT, WS_E_CLOSED (a close frame
/// was sent or received), WS_E_NOT_OPEN (connecting or reconnecting),
/// WS_E_HEALTH_CHECK (the keepalive declared the server dead), WS_E_IO,
/// WS_E_TIMEOUT, WS_E_PENDING.
///
/// Blocking: while the kernel's send buffer is full, up to "sendTimeout" (no
/// limit by default). Never waits for a reader blocked in ws_read.
/// Threads: any thread. Messages from concurrent writers on one socket are
/// never interleaved: each goes out as whole frames, in the order the writers
/// queued them.
/// Ownership: `data` is copied before the call returns.
#[unsafe(no_mangle)]
pub extern "C" fn ws_write(socket: c_int, data: *const c_void, len: usize, r#type: c_int) -> c_int {
    guard::call(|| {
        let more = r#type & WS_MORE != 0;
        let op = match r#type & !WS_MORE {
            WS_TEXT => OP_TEXT,
            WS_BINARY => OP_BINARY,
            other => {
                return Err(Error::arg(format!(
                    "type {other:#x} is not WS_TEXT (1) or WS_BINARY (2), optionally with WS_MORE"
                )))
            }
        };
        let data = bytes(data, len, "data")?;
        let conn = write_conn(socket)?;
        if op == OP_TEXT {
            if let Err(e) = std::str::from_utf8(data) {
                return Err(Error::arg(format!(
                    "text message is not valid UTF-8 (at byte {}); nothing was sent",
                    e.valid_up_to()
                )));
            }
        }
        conn.write(op, data, more)?;
        Ok(WS_OK)
    })
}

/// Send everything queued on the socket (after WS_MORE writes, or a write
/// that returned WS_E_PENDING).
///
/// `timeout_ms`: < 0 waits as long as needed, 0 sends what the kernel takes
/// now, > 0 is a deadline for the whole call.
///
/// Returns: WS_OK (0) when nothing remains queued; WS_ERROR (-1); WS_TIMEOUT
/// (-2, WS_E_PENDING) when data is still queued (it stays queued, in order).
/// Errors: WS_E_BAD_SOCKET, WS_E_IO, WS_E_PENDING.
/// Blocking: up to `timeout_ms`. Threads: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ws_flush(socket: c_int, timeout_ms: c_int) -> c_int {
    guard::call(|| {
        let conn = write_conn(socket)?;
        conn.flush(timeout(timeout_ms))?;
        Ok(WS_OK)
    })
}

// ---- reading ----------------------------------------------------------------------

/// Receive the next message (WinCC OA `webSocketRead`), lent by the library.
///
/// Fragmented messages are reassembled; pings from the server are answered at
/// once (also when the program only reads); a close frame from the server is
/// answered and reported after every message that arrived before it.
///
/// On WS_OK, `*data` points to the message (`*len` bytes; no terminating NUL)
/// and `*type` (if `type` is not NULL) is WS_TEXT or WS_BINARY. Text is
/// valid UTF-8. The memory belongs to the library and stays valid until the
/// next ws_read() or ws_read_into() on this socket number, or its
/// ws_close() — also when the connection that delivered it ends and is
/// replaced meanwhile ("autoReconnect", ws_reconnect()).
/// Nothing is written to the out-parameters unless WS_OK is returned.
///
/// `timeout_ms`: < 0 waits forever, 0 only takes what has already arrived,
/// a positive value is one deadline for the whole call. A timeout loses
/// nothing: a
/// partly received message is completed by a later call.
///
/// Returns: WS_OK (0) a message; WS_CLOSED (1) the connection is closed (the
/// server's close frame arrived, or ws_close() was called on another thread;
/// see ws_close_code()); WS_ERROR (-1); WS_TIMEOUT (-2).
///
/// Order: every message the server sent before its connection ended comes
/// first, then that end once (WS_CLOSED, or WS_ERROR with its cause). With
/// "autoReconnect" the next read then waits (within `timeout_ms`) for the
/// new connection and returns its messages; without, every later read
/// returns the end again. A message kept by WS_E_BUFFER_TOO_SMALL stays
/// readable until it is read or the number is closed, also if the
/// connection fails meanwhile.
///
/// Errors: WS_E_BAD_SOCKET, WS_E_INVALID_ARGUMENT (data or len NULL),
/// WS_E_PROTOCOL, WS_E_INVALID_UTF8, WS_E_MESSAGE_TOO_BIG (the connection was
/// failed with close code 1002, 1007, 1009), WS_E_CONNECTION_LOST,
/// WS_E_HEALTH_CHECK (see "pingInterval"), WS_E_IO, WS_E_TIMEOUT; on a
/// socket from ws_open_async() or after a failed reconnect, the code of the
/// failed connection attempt (any code ws_open() can return, e.g.
/// WS_E_CONNECT, WS_E_UPGRADE_REJECTED, WS_E_TLS_VERIFY); WS_E_INVALID_ARGUMENT
/// on a socket with a "queue". After an error other than a timeout every
/// later read returns the same error (unless a reconnect follows); call
/// ws_close().
///
/// Blocking: up to `timeout_ms`. ws_close() on another thread wakes it: it
/// returns WS_CLOSED (or WS_ERROR) once the close handshake ends or the
/// close timeout expires.
/// Threads: any thread; readers of one socket take turns. Writers on other
/// threads are never held up by a blocked reader. Use one reading thread per
/// socket if it relies on the lent pointer.
#[unsafe(no_mangle)]
pub extern "C" fn ws_read(
    socket: c_int,
    data: *mut *const c_void,
    len: *mut usize,
    r#type: *mut c_int,
    timeout_ms: c_int,
) -> c_int {
    guard::call(|| {
        if data.is_null() || len.is_null() {
            return Err(Error::arg("data and len must not be NULL"));
        }
        match read_next(socket, deadline(timeout_ms), Want::Lend)? {
            Got::Closed => Ok(WS_CLOSED),
            Got::Copied(..) | Got::TooSmall(_) => Err(Error::new(Code::Internal, "internal error: copy for a lend")),
            Got::Lent(kind, ptr, n) => {
                // SAFETY: data, len (checked non-NULL) and type (if non-NULL)
                // point to writable objects of the caller.
                unsafe {
                    *data = ptr.cast();
                    *len = n;
                    if !r#type.is_null() {
                        *r#type = kind_to_c(kind);
                    }
                }
                Ok(WS_OK)
            }
        }
    })
}

/// Receive the next message into the caller's buffer.
///
/// Like ws_read(), but copies the message into `buf` (`cap` bytes). When the
/// message is larger than `cap`, nothing is copied, `*len` is set to the size
/// needed, WS_ERROR is returned with WS_E_BUFFER_TOO_SMALL, and the message is
/// kept: the next ws_read() or ws_read_into() returns it.
///
/// On WS_OK, `*len` is the message size and `*type` (if not NULL) its type;
/// no NUL is appended. `buf` may be NULL when `cap` is 0 (to learn the size).
///
/// Returns: WS_OK (0); WS_CLOSED (1); WS_ERROR (-1); WS_TIMEOUT (-2).
/// Errors: as ws_read(), plus WS_E_BUFFER_TOO_SMALL.
/// Blocking, threads: as ws_read(). Ownership: `buf` stays the caller's.
#[unsafe(no_mangle)]
pub extern "C" fn ws_read_into(
    socket: c_int,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    r#type: *mut c_int,
    timeout_ms: c_int,
) -> c_int {
    guard::call(|| {
        if len.is_null() {
            return Err(Error::arg("len must not be NULL"));
        }
        if buf.is_null() && cap > 0 {
            return Err(Error::arg(format!("buf is NULL but cap is {cap}")));
        }
        if cap > isize::MAX as usize {
            return Err(Error::arg(format!("cap {cap} is too large")));
        }
        let out: &mut [u8] = if cap == 0 {
            &mut []
        } else {
            // SAFETY: the caller guarantees `cap` writable bytes at `buf`.
            unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), cap) }
        };
        match read_next(socket, deadline(timeout_ms), Want::Copy(out))? {
            Got::Closed => Ok(WS_CLOSED),
            Got::Lent(..) => Err(Error::new(Code::Internal, "internal error: lend for a copy")),
            Got::Copied(kind, n) => {
                // SAFETY: len checked non-NULL; type may be NULL.
                unsafe {
                    *len = n;
                    if !r#type.is_null() {
                        *r#type = kind_to_c(kind);
                    }
                }
                Ok(WS_OK)
            }
            Got::TooSmall(n) => {
                // SAFETY: len checked non-NULL.
                unsafe { *len = n };
                Err(Error::new(
                    Code::BufferTooSmall,
                    format!("buffer too small: the message has {n} bytes, the buffer {cap}; the message is kept"),
                ))
            }
        }
    })
}

// ---- closing ----------------------------------------------------------------------

/// Close the connection and release the socket number (WinCC OA `webSocketClose`).
///
/// `code`: 0 means 1000 (normal closure); otherwise 1000-1003, 1007-1013 or
/// 3000-4999. `reason`: NULL or a UTF-8 string of at most 123 bytes. Invalid
/// code or reason: WS_ERROR with WS_E_INVALID_ARGUMENT, and the socket stays
/// open.
///
/// Sends a close frame (unless one was already sent, e.g. as the answer to
/// the server's), waits up to "closeTimeout" (default 1000 ms) for the
/// server's close frame and for the server to close TCP, then shuts the
/// socket down and frees everything. Messages arriving meanwhile are
/// discarded. The socket number is released in every case, also when the
/// connection had failed or the handshake times out; using it afterwards
/// gives WS_E_BAD_SOCKET.
///
/// Returns: WS_OK (0); WS_ERROR (-1) for a bad socket number or argument.
/// Errors: WS_E_BAD_SOCKET, WS_E_INVALID_ARGUMENT.
/// Blocking: at most "closeTimeout" plus a moment.
/// Threads: any thread. A ws_read() blocked on the same socket in another
/// thread returns WS_CLOSED or WS_ERROR when the close completes or times
/// out; a ws_write() blocked on it returns WS_ERROR. A second ws_close() of
/// the same number gets WS_E_BAD_SOCKET.
/// Ownership: pointers from ws_read() on this socket become invalid.
#[unsafe(no_mangle)]
pub extern "C" fn ws_close(socket: c_int, code: c_int, reason: *const c_char) -> c_int {
    guard::call(|| {
        let (code, reason) = close_args(code, reason)?;
        let sock = registry::remove(socket)?;
        let conn = sock.close_begin(code, reason);
        let deadline = Instant::now() + conn.as_ref().map_or(Duration::ZERO, |c| c.close_timeout());
        sock.close_finish(conn, deadline);
        Ok(WS_OK)
    })
}

/// Checks a close code and reason as ws_close() takes them.
fn close_args<'a>(code: c_int, reason: *const c_char) -> Result<(u16, &'a str)> {
    let code = match code {
        0 => 1000u16,
        c => match u16::try_from(c) {
            Ok(c) if proto::close_code_allowed(c) => c,
            _ => {
                return Err(Error::arg(format!(
                    "close code {c} is not allowed (use 0 or 1000-1003, 1007-1013, 3000-4999)"
                )))
            }
        },
    };
    let reason = opt_str(reason, "reason")?.unwrap_or("");
    if reason.len() > WS_MAX_CLOSE_REASON as usize {
        return Err(Error::arg(format!("close reason is {} bytes, at most 123 are allowed", reason.len())));
    }
    Ok((code, reason))
}

/// Closes sockets all at once: every closing handshake runs in parallel,
/// bounded by one deadline per socket. Returns how many were closed.
fn close_all(socks: &[Arc<Socket>], code: u16, reason: &str, budget: Option<Duration>) {
    let start = Instant::now();
    let begun: Vec<_> = socks.iter().map(|s| (s, s.close_begin(code, reason))).collect();
    for (s, conn) in begun {
        let own = conn.as_ref().map_or(Duration::ZERO, |c| c.close_timeout());
        let limit = budget.map_or(own, |b| b.min(own));
        s.close_finish(conn, start + limit);
    }
}

/// Close several sockets at once, within one time budget (a host shutting
/// down: a Lua state or a Python interpreter closing every client it has).
///
/// Each listed socket is closed as ws_close() would, but the closing
/// handshakes run in parallel: every close frame is sent first, then the
/// library waits for the servers' answers together. `timeout_ms` >= 0 bounds
/// the whole call (each socket's "closeTimeout" still applies if shorter);
/// < 0 lets each socket wait its own "closeTimeout", in parallel. `code`
/// and `reason` as ws_close(), for all of them.
///
/// `sockets` may be NULL when `count` is 0. Numbers that are not open (or
/// listed twice) are skipped: the others are still closed and released.
///
/// Returns: WS_OK (0) when every listed number was open and is now closed;
/// WS_ERROR (-1): WS_E_INVALID_ARGUMENT (bad code, reason or array: nothing
/// is closed), WS_E_BAD_SOCKET (some numbers were not open; the message
/// says how many and the first; all the open ones were closed).
/// Blocking: at most `timeout_ms` (or the longest "closeTimeout") plus a
/// moment. Threads: any thread. Ownership: `sockets` is read during the
/// call only; pointers from ws_read() on the closed sockets become invalid.
#[unsafe(no_mangle)]
pub extern "C" fn ws_close_many(
    sockets: *const c_int,
    count: usize,
    code: c_int,
    reason: *const c_char,
    timeout_ms: c_int,
) -> c_int {
    guard::call(|| {
        let (code, reason) = close_args(code, reason)?;
        if count > (isize::MAX as usize) / std::mem::size_of::<c_int>() {
            return Err(Error::arg(format!("count {count} is too large")));
        }
        let ids: &[c_int] = if count == 0 {
            &[]
        } else if sockets.is_null() {
            return Err(Error::arg(format!("sockets is NULL but count is {count}")));
        } else {
            // SAFETY: the caller passes `count` readable ints at `sockets`.
            unsafe { std::slice::from_raw_parts(sockets, count) }
        };
        let mut socks = Vec::with_capacity(ids.len());
        let mut bad: Option<(usize, Error)> = None;
        for &id in ids {
            match registry::remove(id) {
                Ok(s) => socks.push(s),
                Err(e) => {
                    let n = bad.as_ref().map_or(0, |b| b.0);
                    bad = Some((n + 1, bad.map_or(e, |b| b.1)));
                }
            }
        }
        close_all(&socks, code, reason, timeout(timeout_ms));
        match bad {
            None => Ok(WS_OK),
            Some((n, e)) => Err(Error::new(
                Code::BadSocket,
                format!("{n} of {count} socket numbers were not open (the others are closed); first: {}", e.msg),
            )),
        }
    })
}

/// Release everything the library holds, so that it can be unloaded
/// (dlclose, FreeLibrary) or the process can end without background
/// threads (libcurl's curl_global_cleanup is the model).
///
/// Closes every open socket as ws_close_many() with code 1001 (Going
/// Away) would, destroys every event queue (as ws_queue_destroy()), then
/// stops the library's background threads (the reactor, the callback
/// thread, the connection threads) and waits for them to exit. Connection
/// attempts that have not started are dropped; one running in DNS or TCP
/// connect ends on its own ("timeout" option, or the system's limits).
/// `timeout_ms` >= 0 bounds the whole call; < 0 waits as long as needed.
/// The library can be used again afterwards: the next call starts afresh.
///
/// Precondition: no other thread is inside a ws_* call, and none enters
/// one until this returns (as with curl_global_cleanup). Not from inside a
/// callback (WS_E_INVALID_ARGUMENT).
///
/// Returns: WS_OK (0) when every library thread has exited (unloading is
/// then safe); WS_TIMEOUT (-2, WS_E_TIMEOUT) when a connection attempt was
/// still running on a library thread at the deadline (unloading is not
/// safe yet: call again); WS_ERROR (-1, WS_E_INVALID_ARGUMENT).
#[unsafe(no_mangle)]
pub extern "C" fn ws_cleanup(timeout_ms: c_int) -> c_int {
    guard::call(|| {
        if events::on_callback_thread() {
            return Err(Error::arg("ws_cleanup cannot be called from inside a callback"));
        }
        let budget = timeout(timeout_ms);
        let start = Instant::now();
        let socks: Vec<Arc<Socket>> = registry::remove_all().into_iter().map(|(_, s)| s).collect();
        close_all(&socks, 1001, "", budget);
        drop(socks);
        // connection attempts first: one that ends now still reaches for the
        // background thread (and finds its socket closed)
        let deadline = budget.map(|b| start + b);
        let pool_done = crate::pool::stop(deadline.unwrap_or_else(|| start + Duration::from_secs(86400 * 365)));
        events::destroy_all();
        events::stop_dispatch();
        crate::reactor::stop();
        if !pool_done {
            return Err(Error::new(
                Code::Timeout,
                format!(
                    "ws_cleanup: a connection attempt was still running after {timeout_ms} ms; unloading the library is not safe yet"
                ),
            ));
        }
        Ok(WS_OK)
    })
}

// ---- errors -----------------------------------------------------------------------

/// The message of the last error on this thread (like errno, WinCC
/// `getLastError`): it names the stage and the cause, e.g. "connect
/// 127.0.0.1:9: connection refused". "" when the last call succeeded.
///
/// Returns: never NULL. The string is owned by the library and stays valid
/// until the next ws_* call on this thread other than ws_last_error() and
/// ws_last_error_code(), which leave the error as it is.
#[unsafe(no_mangle)]
pub extern "C" fn ws_last_error() -> *const c_char {
    error::last_msg_ptr()
}

/// The code (WS_E_*) of the last error on this thread; WS_E_OK (0) when the
/// last call succeeded. Leaves the error as it is.
#[unsafe(no_mangle)]
pub extern "C" fn ws_last_error_code() -> c_int {
    error::last_code() as c_int
}

/// The name of an error code, e.g. "WS_E_TIMEOUT"; "WS_E_UNKNOWN" for a
/// number that is not a code. Never NULL; static storage.
#[unsafe(no_mangle)]
pub extern "C" fn ws_error_name(code: c_int) -> *const c_char {
    let s: &'static CStr = match code {
        WS_E_OK => c"WS_E_OK",
        WS_E_INVALID_ARGUMENT => c"WS_E_INVALID_ARGUMENT",
        WS_E_INVALID_URL => c"WS_E_INVALID_URL",
        WS_E_UNSUPPORTED_SCHEME => c"WS_E_UNSUPPORTED_SCHEME",
        WS_E_INVALID_OPTIONS => c"WS_E_INVALID_OPTIONS",
        WS_E_DNS => c"WS_E_DNS",
        WS_E_CONNECT => c"WS_E_CONNECT",
        WS_E_TLS => c"WS_E_TLS",
        WS_E_TLS_VERIFY => c"WS_E_TLS_VERIFY",
        WS_E_UPGRADE_REJECTED => c"WS_E_UPGRADE_REJECTED",
        WS_E_BAD_ACCEPT => c"WS_E_BAD_ACCEPT",
        WS_E_HANDSHAKE => c"WS_E_HANDSHAKE",
        WS_E_PROTOCOL => c"WS_E_PROTOCOL",
        WS_E_INVALID_UTF8 => c"WS_E_INVALID_UTF8",
        WS_E_MESSAGE_TOO_BIG => c"WS_E_MESSAGE_TOO_BIG",
        WS_E_CLOSED => c"WS_E_CLOSED",
        WS_E_TIMEOUT => c"WS_E_TIMEOUT",
        WS_E_BAD_SOCKET => c"WS_E_BAD_SOCKET",
        WS_E_TOO_MANY_SOCKETS => c"WS_E_TOO_MANY_SOCKETS",
        WS_E_IO => c"WS_E_IO",
        WS_E_BUFFER_TOO_SMALL => c"WS_E_BUFFER_TOO_SMALL",
        WS_E_INTERNAL => c"WS_E_INTERNAL",
        WS_E_CONNECTION_LOST => c"WS_E_CONNECTION_LOST",
        WS_E_PENDING => c"WS_E_PENDING",
        WS_E_HEALTH_CHECK => c"WS_E_HEALTH_CHECK",
        WS_E_NOT_OPEN => c"WS_E_NOT_OPEN",
        WS_E_PROXY_CONNECT => c"WS_E_PROXY_CONNECT",
        WS_E_PROXY_REFUSED => c"WS_E_PROXY_REFUSED",
        WS_E_PROXY_AUTH => c"WS_E_PROXY_AUTH",
        WS_E_PROXY_TLS => c"WS_E_PROXY_TLS",
        WS_E_PROXY_PROTOCOL => c"WS_E_PROXY_PROTOCOL",
        _ => c"WS_E_UNKNOWN",
    };
    s.as_ptr()
}

// ---- library ----------------------------------------------------------------------

/// The library version, e.g. "0.1.0". Never NULL; static storage.
#[unsafe(no_mangle)]
pub extern "C" fn ws_version() -> *const c_char {
    const V: &CStr = match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => c"unknown",
    };
    V.as_ptr()
}

/// Set the maximum number of sockets open at once (including opens in
/// progress); default 4096. When reached, ws_open() fails with
/// WS_E_TOO_MANY_SOCKETS ("no more free sockets"). Lowering it below the
/// number open closes nothing.
///
/// Returns: the previous maximum; WS_ERROR (-1, WS_E_INVALID_ARGUMENT) when
/// `max` < 1. Threads: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ws_set_max_sockets(max: c_int) -> c_int {
    guard::call(|| {
        let n = usize::try_from(max)
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| Error::arg(format!("max {max} must be at least 1")))?;
        Ok(registry::set_max(n).min(c_int::MAX as usize) as c_int)
    })
}

// ---- readback -----------------------------------------------------------------------

/// The HTTP status of the upgrade response (101 for every open socket) of
/// the current connection, or of the last one while reconnecting.
///
/// Returns: the status; WS_ERROR (-1): WS_E_BAD_SOCKET, WS_E_NOT_OPEN (no
/// connection was made yet: ws_open_async() still connecting, or its
/// attempt failed; the refused upgrade's status is then in the error
/// message).
/// Threads: any thread; does not block.
#[unsafe(no_mangle)]
pub extern "C" fn ws_http_status(socket: c_int) -> c_int {
    guard::call(|| Ok(registry::get(socket)?.upgrade()?.status as c_int))
}

/// A header of the upgrade response (Qore's `connect()` result), by
/// case-insensitive name. When the server sent several lines of that name,
/// all values are returned in the order sent, joined with ", " (RFC 9110
/// section 5.3: the same meaning as one line); Set-Cookie values, which
/// contain commas and must not be combined, are joined with "\n" instead
/// (one cookie per line). ws_response_headers() has every line as sent.
///
/// Returns: the value, or NULL when the server sent no such header
/// (ws_last_error_code() == WS_E_OK) or on error (WS_E_BAD_SOCKET,
/// WS_E_INVALID_ARGUMENT for a NULL name). The string is owned by the library
/// and valid until the next ws_* call on this thread other than
/// ws_last_error() and ws_last_error_code().
#[unsafe(no_mangle)]
pub extern "C" fn ws_response_header(socket: c_int, name: *const c_char) -> *const c_char {
    guard::call_str(|| {
        let name = req_str(name, "name")?;
        let up = registry::get(socket)?.upgrade()?;
        Ok(match up.header(name) {
            Some(v) => error::result_str(&v),
            None => std::ptr::null(),
        })
    })
}

/// All headers of the upgrade response, as "Name: value\r\n" lines in the
/// order the server sent them, repeated names included (one line each).
/// Lines end with CRLF here even when the server ended them with a bare LF,
/// which the library accepts (RFC 9112 section 2.2); the status line must be
/// HTTP/1.1 (an HTTP/1.0 101 fails the open with WS_E_HANDSHAKE).
///
/// Returns: the text; NULL on error (WS_E_BAD_SOCKET). Lifetime as
/// ws_response_header().
#[unsafe(no_mangle)]
pub extern "C" fn ws_response_headers(socket: c_int) -> *const c_char {
    guard::call_str(|| Ok(error::result_str(&registry::get(socket)?.upgrade()?.raw_headers())))
}

/// The subprotocol the server selected from the "subprotocols" offered.
///
/// Returns: the name, "" when none was selected; NULL on error
/// (WS_E_BAD_SOCKET, WS_E_NOT_OPEN as ws_http_status()). Lifetime as
/// ws_response_header().
#[unsafe(no_mangle)]
pub extern "C" fn ws_subprotocol(socket: c_int) -> *const c_char {
    guard::call_str(|| {
        let up = registry::get(socket)?.upgrade()?;
        Ok(error::result_str(up.subprotocol.as_deref().unwrap_or("")))
    })
}

/// The close code the server sent: 0 while no close frame has arrived, 1005
/// when its close frame carried no code, 1006 when the connection ended
/// without one. Read it after ws_read() returned WS_CLOSED or an error, before
/// ws_close().
///
/// Returns: the code; WS_ERROR (-1): WS_E_BAD_SOCKET, WS_E_NOT_OPEN (no
/// connection was made yet, as ws_http_status()). Does not block.
#[unsafe(no_mangle)]
pub extern "C" fn ws_close_code(socket: c_int) -> c_int {
    guard::call(|| Ok(registry::get(socket)?.close_info()?.code_rcvd as c_int))
}

/// The close reason the server sent ("" if none).
///
/// Returns: the reason; NULL on error (WS_E_BAD_SOCKET, WS_E_NOT_OPEN as
/// ws_close_code()). Lifetime as ws_response_header().
#[unsafe(no_mangle)]
pub extern "C" fn ws_close_reason(socket: c_int) -> *const c_char {
    guard::call_str(|| Ok(error::result_str(&registry::get(socket)?.close_info()?.reason_rcvd)))
}

// ---- liveness ------------------------------------------------------------------------

/// Send a ping (Q-SYS `Ping()`); the server's pong is matched to it for the
/// round-trip time, reported as a WS_EV_PONG event (sockets with a queue)
/// and in ws_get_info() (`pongs_received`, `last_rtt_us`).
///
/// `payload` (may be NULL when `len` is 0): at most 125 bytes.
/// Returns: WS_OK (0) once the ping is handed to the kernel; WS_ERROR (-1);
/// WS_TIMEOUT (-2, WS_E_PENDING) as ws_write().
/// Errors: WS_E_BAD_SOCKET, WS_E_INVALID_ARGUMENT (payload over 125 bytes),
/// WS_E_NOT_OPEN, WS_E_CLOSED, WS_E_IO.
/// Blocking: as ws_write(). Threads: any thread.
///
/// Keepalive needs no calls: with the "pingInterval" option (default 30000
/// ms; 0 turns it off) the library pings after that much silence from the
/// server and fails the connection with WS_E_HEALTH_CHECK when nothing
/// arrives within "pongTimeout" (default 10000 ms) after the ping, also while
/// the program is not reading. Pings from the server are always answered.
#[unsafe(no_mangle)]
pub extern "C" fn ws_ping(socket: c_int, payload: *const c_void, len: usize) -> c_int {
    guard::call(|| {
        if len > 125 {
            return Err(Error::arg(format!("ping payload is {len} bytes, at most 125 are allowed")));
        }
        let payload = bytes(payload, len, "payload")?;
        write_conn(socket)?.ping(payload)?;
        Ok(WS_OK)
    })
}

/// The state of a socket (Qore `isOpen()`: `ws_state(s) == WS_STATE_OPEN`).
///
/// Returns: WS_STATE_CONNECTING, WS_STATE_OPEN, WS_STATE_CLOSING or
/// WS_STATE_CLOSED; WS_ERROR (-1, WS_E_BAD_SOCKET). Does not block.
#[unsafe(no_mangle)]
pub extern "C" fn ws_state(socket: c_int) -> c_int {
    guard::call(|| Ok(registry::get(socket)?.info().state as c_int))
}

fn copy_reason(dst: &mut [c_char; 124], s: &str) {
    let b = s.as_bytes();
    let n = b.len().min(123);
    for (d, &c) in dst.iter_mut().zip(&b[..n]) {
        *d = c as c_char;
    }
    dst[n] = 0;
}

/// Fill `*info` with the socket's state, close details (who closed, codes and
/// reasons sent and received, whether the closing handshake completed) and
/// statistics (pings, round-trip time, messages, bytes, reconnects).
///
/// `size` must be `sizeof(ws_info)` as the caller was compiled with; the
/// library writes at most that many bytes (later versions only append fields).
/// Returns: WS_OK (0); WS_ERROR (-1): WS_E_BAD_SOCKET, WS_E_INVALID_ARGUMENT
/// (info NULL or size too small for the fields of this version's first
/// release). Does not block. Threads: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ws_get_info(socket: c_int, info: *mut ws_info, size: usize) -> c_int {
    guard::call(|| {
        if info.is_null() {
            return Err(Error::arg("info is NULL"));
        }
        if size < std::mem::size_of::<ws_info>() {
            return Err(Error::arg(format!(
                "size {size} is smaller than this library's ws_info ({} bytes)",
                std::mem::size_of::<ws_info>()
            )));
        }
        let si = registry::get(socket)?.info();
        let ci = si.conn.unwrap_or_default();
        let mut out = ws_info {
            state: si.state as c_int,
            http_status: si.http_status as c_int,
            closed_by: ci.closed_by as c_int,
            close_code_sent: ci.code_sent as c_int,
            close_code_received: ci.code_rcvd as c_int,
            clean: ci.clean as c_int,
            reconnects: si.reconnects.min(c_int::MAX as u32) as c_int,
            reason_sent: [0; 124],
            reason_received: [0; 124],
            pings_sent: ci.pings_sent as i64,
            pongs_received: ci.pongs_rcvd as i64,
            last_rtt_us: ci.last_rtt_us,
            messages_sent: ci.msgs_out as i64,
            messages_received: ci.msgs_in as i64,
            bytes_sent: ci.bytes_out as i64,
            bytes_received: ci.bytes_in as i64,
        };
        copy_reason(&mut out.reason_sent, &ci.reason_sent);
        copy_reason(&mut out.reason_received, &ci.reason_rcvd);
        // SAFETY: info is non-NULL and the caller promises `size` >= our
        // struct size writable bytes (checked above against our size).
        unsafe { info.write(out) };
        Ok(WS_OK)
    })
}

/// Connect a socket number again with the same URL and options (NodeMCU's
/// reusable client; Qore's `connect()` on a connected object).
///
/// A live connection is first closed with 1001 Going Away. With `async` = 0
/// this blocks like ws_open() and returns its result; otherwise it returns at
/// once and the outcome arrives as events (WS_EV_OPEN, or WS_EV_ERROR and
/// WS_EV_CLOSE). The socket number stays the same. Also cancels a pending
/// automatic reconnect and starts over.
///
/// Returns: WS_OK (0); WS_ERROR (-1); WS_TIMEOUT (-2) as ws_open().
/// Errors: WS_E_BAD_SOCKET and those of ws_open().
/// Threads: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ws_reconnect(socket: c_int, r#async: c_int) -> c_int {
    guard::call(|| {
        registry::get(socket)?.reconnect_user(r#async != 0)?;
        Ok(WS_OK)
    })
}

// ---- events ---------------------------------------------------------------------------

/// Create an event queue for single-threaded hosts (a Lua or CTRL
/// interpreter draining events on its own thread).
///
/// A socket opened with the option `"queue": Q` (ws_open or ws_open_async)
/// delivers everything as events into Q, in order per socket: WS_EV_OPEN,
/// messages in arrival order, pongs, WS_EV_ERROR, and a final WS_EV_CLOSE
/// after which nothing more comes for that socket (unless "autoReconnect"
/// schedules a WS_EV_RECONNECTING and a new WS_EV_OPEN). Such sockets are
/// read by the library's background thread: ws_read() on them fails with
/// WS_E_INVALID_ARGUMENT; ws_write(), ws_ping() and ws_close() work as usual.
/// Nothing is dropped when the host drains slowly: beyond 64 MiB of events
/// waiting (the memory they hold), or being delivered to a callback that
/// has not returned, the library stops reading those sockets and TCP
/// pushes back.
///
/// Returns: a queue number > 0; WS_ERROR (-1). Threads: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ws_queue_create() -> c_int {
    guard::call(events::create)
}

/// Destroy an event queue: waiting events are discarded, a thread blocked in
/// ws_next_event() on it returns WS_ERROR, and sockets still delivering to it
/// drop their events (close them first). Events lent by ws_next_event() are
/// freed. As with ws_queue_set_callback(NULL), when it returns no call of the
/// queue's callback is running or will start (unless called from inside that
/// callback).
///
/// Returns: WS_OK (0); WS_ERROR (-1, WS_E_BAD_SOCKET for an unknown queue).
#[unsafe(no_mangle)]
pub extern "C" fn ws_queue_destroy(queue: c_int) -> c_int {
    guard::call(|| {
        events::destroy(queue)?;
        Ok(WS_OK)
    })
}

pub(crate) fn event_to_c(ev: &Ev) -> ws_event {
    ws_event {
        r#type: ev.kind as c_int,
        socket: ev.socket,
        msg_type: ev.msg_type,
        code: ev.code,
        error: ev.error,
        closed_by: ev.closed_by as c_int,
        clean: ev.clean as c_int,
        data: ev.data.as_ptr().cast(),
        len: ev.len,
        rtt_us: ev.rtt_us,
        delay_ms: ev.delay_ms,
        time_us: ev.time_us.min(i64::MAX as u64) as i64,
    }
}

/// Wait for the next event on a queue.
///
/// `timeout_ms`: < 0 waits forever, 0 polls, a positive value is a deadline.
/// On WS_OK the event is written to `*event`; its `data` stays valid until
/// the calling thread's next ws_next_event() on this queue, or the queue's
/// destruction (each consuming thread has its own lent event: another
/// thread's call never frees it).
///
/// Returns: WS_OK (0); WS_TIMEOUT (-2, WS_E_TIMEOUT) when no event came;
/// WS_ERROR (-1): WS_E_BAD_SOCKET (unknown or destroyed queue),
/// WS_E_INVALID_ARGUMENT (event NULL, or the queue has a callback).
/// Threads: one consumer per queue is the intended use; several are safe
/// (each event goes to one of them).
#[unsafe(no_mangle)]
pub extern "C" fn ws_next_event(queue: c_int, event: *mut ws_event, timeout_ms: c_int) -> c_int {
    guard::call(|| {
        if event.is_null() {
            return Err(Error::arg("event is NULL"));
        }
        let q = events::get(queue)?;
        let got = q.next(timeout(timeout_ms), |ev| {
            // SAFETY: event checked non-NULL; the caller provides a ws_event.
            unsafe { event.write(event_to_c(ev)) };
        })?;
        if got {
            Ok(WS_OK)
        } else {
            Err(Error::new(Code::Timeout, format!("no event on queue {queue} within {timeout_ms} ms")))
        }
    })
}

/// Deliver a queue's events to a callback instead of ws_next_event().
///
/// `cb(event, user)` is called for each event, in order, on one library
/// thread ("wsclient-callbacks", the same for all queues), never from inside
/// a ws_* call of the program. It may call any ws_* function, including
/// ws_write() and ws_close() on the socket the event is about; while it runs,
/// later events wait. The event and its data are valid until it returns.
/// Events already waiting in the queue are delivered to the callback. NULL
/// `cb` switches back to ws_next_event(): events not yet handed to the
/// callback stay in the queue for it. `user` is passed back untouched.
///
/// Quiescence: when this function returns, no call of the previous callback
/// (with its `user`) is running or will start, so the host may free what
/// `user` points to. It waits for a call in progress to return. Called from
/// inside that callback (on the callback thread), it cannot wait for
/// itself: the running call is the caller's own, and no further call starts
/// after it returns. Do not call it while holding a lock that the callback
/// takes (the wait would never end, as with pthread_join). The byte limit
/// of ws_queue_create() counts events until their callback has returned.
///
/// Returns: WS_OK (0); WS_ERROR (-1): WS_E_BAD_SOCKET for an unknown or
/// destroyed queue, WS_E_INTERNAL when the callback thread cannot be
/// started (the events stay queued).
/// Threads: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ws_queue_set_callback(queue: c_int, cb: ws_callback, user: *mut c_void) -> c_int {
    guard::call(|| {
        let user = user as usize;
        let cb = cb.map(|f| -> events::Callback {
            Arc::new(move |ev: &Ev| {
                let c = event_to_c(ev);
                f(&c, user as *mut c_void)
            })
        });
        events::set_callback(queue, cb)?;
        Ok(WS_OK)
    })
}

// ---- TLS readback ---------------------------------------------------------------------

/// What a wss:// connection negotiated and the server's certificate
/// (ws_get_tls_info()). Every field is a NUL-terminated string, cut at a
/// character boundary when longer than its array.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct ws_tls_info {
    /// The protocol version: "TLSv1.2" or "TLSv1.3".
    pub version: [c_char; 16],
    /// The cipher suite, by OpenSSL's name: "TLS_AES_256_GCM_SHA384",
    /// "ECDHE-ECDSA-AES128-GCM-SHA256".
    pub cipher: [c_char; 64],
    /// SHA-256 of the server's certificate (DER) as "AB:CD:..." (95
    /// characters): what "pinnedSha256" accepts and `openssl x509
    /// -fingerprint -sha256` prints.
    pub cert_sha256: [c_char; 96],
    /// SHA-256 of its public key (SubjectPublicKeyInfo DER), in the same
    /// form: stays the same when the certificate is renewed with the same key.
    pub pubkey_sha256: [c_char; 96],
    /// Subject and issuer of the server's certificate, "CN=plc, O=Plant".
    pub subject: [c_char; 256],
    pub issuer: [c_char; 256],
    /// The classes "ignoreSslErrors" let through on this connection,
    /// comma-separated ("HostNameMismatch,CertificateExpired"); "" when the
    /// certificate passed verification as it is (or was pinned).
    pub ignored_errors: [c_char; 256],
}

fn copy_text<const N: usize>(dst: &mut [c_char; N], s: &str) {
    let mut n = s.len().min(N - 1);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    for (d, &c) in dst.iter_mut().zip(&s.as_bytes()[..n]) {
        *d = c as c_char;
    }
    dst[n] = 0;
}

/// Fill `*info` with what the socket's TLS connection negotiated (version,
/// cipher suite) and the server's certificate (SHA-256 fingerprints of the
/// certificate and its public key, subject, issuer), and the verification
/// problems "ignoreSslErrors" let through.
///
/// It describes the current connection; after the connection ended (and
/// until ws_close()) the last one; after a reconnect the new one. With the
/// native-tls backend (see ws_open()) `version` and `cipher` are "".
///
/// `size` must be `sizeof(ws_tls_info)` as the caller was compiled with; the
/// library writes at most that many bytes (later versions only append fields).
/// Returns: WS_OK (0); WS_ERROR (-1): WS_E_BAD_SOCKET, WS_E_NOT_OPEN (not
/// connected yet), WS_E_INVALID_ARGUMENT (info NULL, size too small for the
/// fields of this version's first release, or a ws:// socket, which has no
/// TLS). Does not block. Threads: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ws_get_tls_info(socket: c_int, info: *mut ws_tls_info, size: usize) -> c_int {
    guard::call(|| {
        if info.is_null() {
            return Err(Error::arg("info is NULL"));
        }
        if size < std::mem::size_of::<ws_tls_info>() {
            return Err(Error::arg(format!(
                "size {size} is smaller than this library's ws_tls_info ({} bytes)",
                std::mem::size_of::<ws_tls_info>()
            )));
        }
        let up = registry::get(socket)?.upgrade()?;
        let t = up.tls.as_ref().ok_or_else(|| Error::arg(format!("socket {socket} is a ws:// connection: no TLS")))?;
        let mut out = ws_tls_info {
            version: [0; 16],
            cipher: [0; 64],
            cert_sha256: [0; 96],
            pubkey_sha256: [0; 96],
            subject: [0; 256],
            issuer: [0; 256],
            ignored_errors: [0; 256],
        };
        copy_text(&mut out.version, &t.version);
        copy_text(&mut out.cipher, &t.cipher);
        copy_text(&mut out.cert_sha256, &crate::tls::TlsSummary::hex(&t.cert_sha256));
        copy_text(&mut out.pubkey_sha256, &crate::tls::TlsSummary::hex(&t.spki_sha256));
        copy_text(&mut out.subject, &t.subject);
        copy_text(&mut out.issuer, &t.issuer);
        copy_text(&mut out.ignored_errors, &t.ignored_names());
        // SAFETY: info is non-NULL and the caller promises `size` >= our
        // struct size writable bytes (checked above against our size).
        unsafe { info.write(out) };
        Ok(WS_OK)
    })
}

// ---- failed upgrade readback --------------------------------------------------------

/// The HTTP status of the upgrade response that made this thread's last
/// call fail: after ws_open(), ws_reconnect() (blocking) or a ws_read() that
/// reports a failed background connect returned WS_ERROR because the server
/// refused the upgrade (WS_E_UPGRADE_REJECTED, e.g. 401 or 404) or answered
/// it wrongly (WS_E_BAD_ACCEPT, WS_E_HANDSHAKE with a complete HTTP head).
/// Also the status of an HTTP proxy's refused CONNECT (WS_E_PROXY_REFUSED,
/// e.g. 403; WS_E_PROXY_AUTH, 407).
///
/// Returns: the status (100..999); 0 when the last call succeeded or failed
/// for another reason (no HTTP response: DNS, TCP, TLS, a timeout, ...).
/// Per thread, like ws_last_error(): set by the failing call, cleared by
/// every ws_* call on this thread other than ws_last_error(),
/// ws_last_error_code(), ws_last_http_status() and
/// ws_last_response_headers(), which leave it as it is.
/// Threads: any thread; does not block.
#[unsafe(no_mangle)]
pub extern "C" fn ws_last_http_status() -> c_int {
    error::last_http_status() as c_int
}

/// The header lines of that refused upgrade response, as "Name: value\r\n"
/// lines in the order the server sent them, repeated names included (as
/// ws_response_headers() for an open socket), e.g. to read WWW-Authenticate
/// after a 401 or Location after a redirect.
///
/// Returns: never NULL; "" when ws_last_http_status() is 0. The string is
/// owned by the library and stays valid until the next ws_* call on this
/// thread other than ws_last_error(), ws_last_error_code(),
/// ws_last_http_status() and ws_last_response_headers(), which leave it as
/// it is.
#[unsafe(no_mangle)]
pub extern "C" fn ws_last_response_headers() -> *const c_char {
    error::last_http_headers_ptr()
}

// ---- proxy readback -------------------------------------------------------------------

/// Whether and which proxy a connection went through (ws_get_proxy_info()).
/// Strings are NUL-terminated, cut at a character boundary when longer than
/// their array. The proxy password is never in it.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct ws_proxy_info {
    /// 1 when the connection goes through a proxy, 0 when it is direct.
    pub used: c_int,
    /// HTTP proxies: the status of the CONNECT answer (200); SOCKS5: 0.
    pub connect_status: c_int,
    /// The proxy's port.
    pub port: c_int,
    /// "http", "https", "socks5" or "socks5h"; "" when direct.
    pub kind: [c_char; 16],
    /// The proxy URL without the password: "http://user@proxy:3128".
    pub url: [c_char; 320],
    /// The proxy's host name or address (without brackets).
    pub host: [c_char; 256],
    /// Where it was set: "option", or the environment variable
    /// ("https_proxy", "ALL_PROXY", ...); "" when direct.
    pub source: [c_char; 32],
}

/// Fill `*info` with whether the socket's connection goes through a proxy,
/// which one (type, URL without the password, host, port), where it was set
/// (the "proxy" option or an environment variable) and the CONNECT status.
///
/// It describes the current connection; after the connection ended (and
/// until ws_close()) the last one; after a reconnect the new one.
///
/// `size` must be `sizeof(ws_proxy_info)` as the caller was compiled with;
/// the library writes at most that many bytes (later versions only append
/// fields).
/// Returns: WS_OK (0); WS_ERROR (-1): WS_E_BAD_SOCKET, WS_E_NOT_OPEN (not
/// connected yet), WS_E_INVALID_ARGUMENT (info NULL or size too small).
/// Does not block. Threads: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ws_get_proxy_info(socket: c_int, info: *mut ws_proxy_info, size: usize) -> c_int {
    guard::call(|| {
        if info.is_null() {
            return Err(Error::arg("info is NULL"));
        }
        if size < std::mem::size_of::<ws_proxy_info>() {
            return Err(Error::arg(format!(
                "size {size} is smaller than this library's ws_proxy_info ({} bytes)",
                std::mem::size_of::<ws_proxy_info>()
            )));
        }
        let up = registry::get(socket)?.upgrade()?;
        let mut out = ws_proxy_info {
            used: 0,
            connect_status: 0,
            port: 0,
            kind: [0; 16],
            url: [0; 320],
            host: [0; 256],
            source: [0; 32],
        };
        if let Some(p) = &up.proxy {
            out.used = 1;
            out.connect_status = p.status as c_int;
            out.port = p.port as c_int;
            copy_text(&mut out.kind, p.kind);
            copy_text(&mut out.url, &p.url);
            copy_text(&mut out.host, &p.host);
            copy_text(&mut out.source, p.source);
        }
        // SAFETY: info is non-NULL and the caller promises `size` >= our
        // struct size writable bytes (checked above against our size).
        unsafe { info.write(out) };
        Ok(WS_OK)
    })
}
