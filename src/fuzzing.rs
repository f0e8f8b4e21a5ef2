//! The fuzz harnesses: one function per parser that takes arbitrary bytes,
//! drives the parser and checks its invariants (panicking when one breaks).
//! The cargo-fuzz targets in `fuzz/` call these, and so does
//! `tests/fuzz_corpus.rs`, which replays every committed corpus file and
//! crash artifact on stable Rust: what the fuzzer found stays found.
//!
//! Invariants checked besides "never panics":
//! - frame reader: the events do not depend on how the bytes are split into
//!   reads; memory held follows the bytes fed (never a length a header
//!   announces); a message is at most maxMessageSize; text is UTF-8; a close
//!   code is one a peer may send; control payloads are at most 125 bytes;
//!   errors carry the close code RFC 6455 asks for (1002, 1007, 1009);
//!   with permessage-deflate negotiated (half of the inputs), memory
//!   follows the bytes fed plus what maxMessageSize allows to inflate, and
//!   RSV1 / corrupt data fail with WS_E_COMPRESSION (1002 / 1007);
//! - upgrade response: a complete head is within the buffer and the 64 KiB
//!   bound, parsing just the head gives the same result, readback lines
//!   match the headers, messages are single lines;
//! - options: an accepted mapping is within the documented ranges and can
//!   only produce a well-formed upgrade request; errors name the options;
//! - URL: an accepted URL yields a request line and Host header without
//!   spaces or control characters (no request injection);
//! - PEM/keys: the loaders of sslConfig and caCertificates never panic.
#![deny(unsafe_code)]

use crate::error::Code;
use crate::handshake::{self, MAX_RESPONSE_HEAD};
use crate::options::{self, MAX_MAX_MESSAGE_SIZE};
use crate::proto::{self, Event, Kind, Reader, GROW_CHUNK, READ_BUF};
use serde_json::Value;

/// What the reader produced, for comparing two chunkings of one input.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Msg(Kind, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
    Failed(Code, u16),
}

const MAX_SIZES: [usize; 8] = [1, 125, 126, 1000, 65_535, 65_536, 1 << 20, 64 << 20];

/// Feeds `stream` to a reader in reads whose sizes come from `sizes`
/// (cycled; 0 means "as much as the reader offers"), returning what it saw.
/// Long on purpose: the fuzz harness's one loop checks every invariant of
/// the reader's contract as it goes; splitting it would hide which state
/// each check sees.
fn run_reader(
    max: usize,
    deflate: Option<&crate::deflate::Agreed>,
    leftover: &[u8],
    stream: &[u8],
    sizes: &[usize],
    swap: u8,
) -> Vec<Seen> {
    let mut r = Reader::new(max, leftover);
    r.set_inflater(deflate.map(|a| Box::new(crate::deflate::Inflater::new(a, Default::default()))));
    let mut seen = Vec::new();
    let mut spare = Vec::new();
    let mut pos = 0;
    let mut k = 0;
    loop {
        loop {
            match r.next_event() {
                Ok(None) => break,
                Ok(Some(Event::Message)) => {
                    let (kind, m) = r.message().expect("Event::Message without a message");
                    assert!(m.len() <= max, "message of {} bytes over maxMessageSize {max}", m.len());
                    if kind == Kind::Text {
                        assert!(std::str::from_utf8(m).is_ok(), "text message is not UTF-8");
                    }
                    seen.push(Seen::Msg(kind, m.to_vec()));
                    // the three ways conn.rs takes a message
                    match swap % 3 {
                        0 => r.consume_message(),
                        1 => {
                            let n = r.swap_message(&mut spare);
                            assert_eq!(n, seen_len(&seen));
                        }
                        _ => {
                            let mut fresh = Vec::new();
                            r.swap_message(&mut fresh);
                        }
                    }
                    assert!(r.message().is_none());
                }
                Ok(Some(ev)) => {
                    seen.push(match ev {
                        Event::Ping(p) => {
                            assert!(p.len() <= 125);
                            Seen::Ping(p)
                        }
                        Event::Pong(p) => {
                            assert!(p.len() <= 125);
                            Seen::Pong(p)
                        }
                        Event::Close(c) => {
                            if let Some((code, reason)) = &c {
                                assert!(proto::close_code_allowed(*code), "close code {code}");
                                assert!(reason.len() <= 123);
                            }
                            Seen::Close(c)
                        }
                        // stream mode only; this reader assembles messages
                        Event::Message | Event::Piece => unreachable!(),
                    });
                }
                Err(e) => {
                    let expect = match e.code {
                        Code::Protocol => 1002,
                        Code::InvalidUtf8 => 1007,
                        Code::MessageTooBig => 1009,
                        Code::Compression if deflate.is_some() || e.close == 1002 => e.close,
                        other => panic!("unexpected error code {other:?}: {}", e.msg),
                    };
                    assert_eq!(e.close, expect, "{}", e.msg);
                    assert!(!e.msg.contains(['\0', '\r', '\n']), "{}", e.msg);
                    seen.push(Seen::Failed(e.code, e.close));
                    return seen;
                }
            }
        }
        // memory follows the bytes fed, plus a constant
        let fed = leftover.len() + pos;
        // (inflated bytes: at most maxMessageSize + 1 in the message buffer,
        // the decompressor and its history)
        let inflated = if deflate.is_some() { max + 1 + crate::deflate::INFLATE_STATE + (32 << 10) } else { 0 };
        let bound = 2 * READ_BUF + GROW_CHUNK + 4 * fed + inflated;
        assert!(r.memory() <= bound, "reader holds {} bytes after {fed} bytes fed (bound {bound})", r.memory());
        if pos == stream.len() {
            return seen;
        }
        let t = r.read_target();
        assert!(!t.is_empty(), "read_target offered no room");
        let want = sizes[k % sizes.len()];
        k += 1;
        let n = if want == 0 { t.len() } else { want.min(t.len()) }.min(stream.len() - pos);
        t[..n].copy_from_slice(&stream[pos..pos + n]);
        r.commit(n);
        pos += n;
    }
}

fn seen_len(seen: &[Seen]) -> usize {
    match seen.last() {
        Some(Seen::Msg(_, m)) => m.len(),
        _ => 0,
    }
}

/// The frame reader on arbitrary bytes: data[0] picks maxMessageSize and how
/// messages are taken, data[1] the read sizes, data[2] how many bytes come
/// as the upgrade's leftover (low 4 bits) and, when its top bit is set,
/// permessage-deflate with window bits 8 + bits 4..6 (no context takeover
/// when that number is even); the rest is the stream from the server.
pub fn frame_reader(data: &[u8]) {
    if data.len() < 3 {
        return;
    }
    let max = MAX_SIZES[(data[0] & 7) as usize];
    let swap = data[0] >> 3;
    let body = &data[3..];
    let lead = (data[2] as usize & 0x0f).min(body.len());
    let deflate = (data[2] & 0x80 != 0).then(|| {
        let bits = 8 + ((data[2] >> 4) & 7);
        crate::deflate::Agreed {
            client_max_window_bits: bits,
            server_max_window_bits: bits,
            client_no_context_takeover: bits % 2 == 0,
            server_no_context_takeover: bits % 2 == 0,
            level: 6,
            mem_level: 8,
            threshold: 0,
        }
    });
    let deflate = deflate.as_ref();
    let (leftover, stream) = body.split_at(lead);
    // read sizes: 1..=16, or bigger, or "all", from a small generator
    let mut x = data[1] as u32 | 0x100;
    let sizes: Vec<usize> = (0..8)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            match (x >> 16) % 4 {
                0 => 0,
                1 => 1 + (x >> 20) as usize % 16,
                2 => 1 + (x >> 20) as usize % 300,
                _ => 1 + (x >> 20) as usize % 20_000,
            }
        })
        .collect();
    let chunked = run_reader(max, deflate, leftover, stream, &sizes, swap);
    let whole = run_reader(max, deflate, leftover, stream, &[0], swap.wrapping_add(1));
    assert_eq!(chunked, whole, "the events depend on how the bytes were split into reads");
    // one byte per read (a trickling server), on a prefix to keep runs fast
    let prefix = &stream[..stream.len().min(4096)];
    let bytewise = run_reader(max, deflate, leftover, prefix, &[1], swap.wrapping_add(2));
    let whole_prefix = run_reader(max, deflate, leftover, prefix, &[0], swap);
    assert_eq!(bytewise, whole_prefix, "byte-by-byte reads differ");
}

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn single_line(msg: &str) {
    assert!(!msg.contains(['\0', '\r', '\n']), "message is not one line: {msg:?}");
}

/// The upgrade response parser on arbitrary bytes (data[0] picks the
/// subprotocols offered). A "{ACCEPT}" in the input becomes the right
/// Sec-WebSocket-Accept, so that the fuzzer reaches the checks after it.
pub fn upgrade_response(data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let offered: Vec<String> = match data[0] % 3 {
        0 => vec![],
        1 => vec!["chat".into()],
        _ => vec!["chat".into(), "v2.proto".into()],
    };
    // half of the inputs are read as answers to a permessage-deflate offer
    let compression = (data[0] & 4 != 0).then(crate::deflate::Config::default);
    let mut buf = data[1..].to_vec();
    let accept = tungstenite::handshake::derive_accept_key(KEY.as_bytes());
    while let Some(p) = buf.windows(8).position(|w| w == b"{ACCEPT}") {
        buf.splice(p..p + 8, accept.bytes());
    }
    let buf = &buf[..buf.len().min(MAX_RESPONSE_HEAD)];
    match handshake::parse_response(buf, KEY, &offered, compression.as_ref(), "fuzz:1") {
        Ok(None) => assert!(buf.len() < MAX_RESPONSE_HEAD),
        Ok(Some((n, up))) => {
            assert!(n <= buf.len());
            assert_eq!(up.status, 101);
            if let Some(p) = &up.subprotocol {
                assert!(offered.contains(p));
            }
            let raw = up.raw_headers();
            assert_eq!(raw.matches("\r\n").count(), up.headers.len(), "{raw:?}");
            for (name, _) in &up.headers {
                assert!(up.header(name).is_some());
            }
            // the head alone parses the same
            let (n2, up2) =
                handshake::parse_response(&buf[..n], KEY, &offered, compression.as_ref(), "fuzz:1").unwrap().unwrap();
            assert_eq!((n2, up2.headers), (n, up.headers));
        }
        Err(e) => {
            single_line(&e.msg);
            assert!(matches!(e.code, Code::Handshake | Code::UpgradeRejected | Code::BadAccept), "{:?}", e.code);
            if let Some(h) = &e.http {
                assert!((100..=999).contains(&h.status));
                assert!(h.headers.is_empty() || h.headers.ends_with("\r\n"));
            }
        }
    }
}

/// Paths the options target must not open: devices and kernel files can
/// block or never end (the loaders read whole files).
fn touches_special_files(v: &Value) -> bool {
    match v {
        Value::String(s) => ["/dev", "/proc", "/sys", "/run", "/var", "/tmp"].iter().any(|p| s.contains(p)),
        Value::Array(a) => a.iter().any(touches_special_files),
        Value::Object(m) => m.values().any(touches_special_files),
        _ => false,
    }
}

/// The options parser (with the TLS keys and the PEM/key loading behind
/// sslConfig) on arbitrary text; an accepted mapping must build a
/// well-formed upgrade request.
pub fn options(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(v) = options::parse_json(text) {
        if touches_special_files(&v) {
            return;
        }
    }
    match options::parse_options(Some(text)) {
        Ok(o) => {
            assert!(o.max_message_size >= 1 && o.max_message_size as u64 <= MAX_MAX_MESSAGE_SIZE);
            assert!(o.send_buffer_limit >= 1);
            for (n, v) in &o.headers {
                assert!(options::is_token(n), "header name {n:?}");
                assert!(!v.contains(['\r', '\n', '\0']), "header value {v:?}");
            }
            let t = options::parse_url("ws://fuzz.example:8080/p?q").unwrap();
            check_request(&handshake::build_request(&t, &o, KEY));
            let _ = handshake::offered_subprotocols(&o);
        }
        Err(e) => {
            assert_eq!(e.code, Code::InvalidOptions);
            assert!(e.msg.starts_with("argument error in options: "), "{}", e.msg);
            single_line(&e.msg);
        }
    }
}

/// A request head: lines of visible text ended by CRLF, one empty line at
/// the end, every header line "Name: value".
fn check_request(req: &[u8]) {
    let s = std::str::from_utf8(req).expect("request is UTF-8");
    assert!(s.ends_with("\r\n\r\n"), "{s:?}");
    let body = &s[..s.len() - 4];
    let mut lines = body.split("\r\n");
    let first = lines.next().unwrap();
    let parts: Vec<&str> = first.split(' ').collect();
    assert!(parts.len() == 3 && parts[0] == "GET" && parts[2] == "HTTP/1.1", "request line {first:?}");
    assert!(parts[1].starts_with('/'), "{first:?}");
    for l in lines {
        assert!(!l.is_empty(), "empty line inside the head: {s:?}");
        assert!(!l.contains(['\r', '\n', '\0']), "{l:?}");
        let (n, _) = l.split_once(": ").unwrap_or_else(|| panic!("header line {l:?}"));
        assert!(options::is_token(n), "{l:?}");
    }
    let hosts = s.to_ascii_lowercase().matches("\r\nhost:").count();
    assert_eq!(hosts, 1, "{s:?}");
}

/// The URL parser on arbitrary text: an accepted URL gives a request line
/// and Host header without spaces or control characters.
pub fn url(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match options::parse_url(text) {
        Ok(t) => {
            assert!(t.port != 0);
            assert!(t.resource.starts_with('/'), "{:?}", t.resource);
            for (what, s) in [("resource", &t.resource), ("host header", &t.host_header)] {
                assert!(!s.is_empty());
                assert!(!s.bytes().any(|b| b <= b' ' || b == 0x7f), "{what} {s:?} from {text:?}");
            }
            if let Some(a) = &t.basic_auth {
                assert!(a.starts_with("Basic ") && !a.contains(['\r', '\n']));
            }
            let _ = t.peer();
            let _ = t.tls_domain();
            check_request(&handshake::build_request(&t, &options::Options::default(), KEY));
        }
        Err(e) => {
            assert!(matches!(e.code, Code::InvalidUrl | Code::UnsupportedScheme), "{:?}", e.code);
            single_line(&e.msg);
        }
    }
}

/// The PEM and key loaders on arbitrary bytes: data is split at the first
/// two NUL bytes into certificate text, key text and password; the pieces
/// go to "sslConfig" (certificate + key, with and without password) and
/// "caCertificates".
pub fn pem(data: &[u8]) {
    let mut parts = data.splitn(3, |&b| b == 0);
    let cert = String::from_utf8_lossy(parts.next().unwrap_or(b"")).into_owned();
    let key = String::from_utf8_lossy(parts.next().unwrap_or(b"")).into_owned();
    let password = parts.next().map(|p| String::from_utf8_lossy(p).into_owned());
    let mut pk = serde_json::Map::new();
    pk.insert("key".into(), Value::String(key.clone()));
    if let Some(p) = &password {
        pk.insert("password".into(), Value::String(p.clone()));
    }
    let mut cfg = serde_json::Map::new();
    cfg.insert("localCertificate".into(), Value::String(cert.clone()));
    cfg.insert("privateKey".into(), Value::Object(pk));
    let _ = crate::tls::identity::parse_ssl_config(&Value::Object(cfg));
    // a key given as the plain string form of "privateKey"
    let mut cfg = serde_json::Map::new();
    cfg.insert("localCertificate".into(), Value::String(cert.clone()));
    cfg.insert("privateKey".into(), Value::String(key));
    let _ = crate::tls::identity::parse_ssl_config(&Value::Object(cfg));
    let _ = crate::tls::config::parse_cas(&Value::String(cert), false, "caCertificates");
}
