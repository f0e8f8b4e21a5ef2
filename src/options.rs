//! Parses and validates the `ws_open` URL and options mapping before anything
//! touches the network, so that every argument error is a -1 with a message
//! naming the key ("argument error in options: ...").
#![deny(unsafe_code)]

use crate::error::{Code, Error, Result};
use serde_json::{Map, Value};
use std::time::Duration;

mod url;
pub(crate) use url::percent_decode;
use url::truncate;
pub use url::{base64, parse_url, HostKind, Scheme, Target};

/// Largest message accepted from the server unless `maxMessageSize` says
/// otherwise (documented in the header).
pub(crate) const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 << 20;
/// Range of `maxMessageSize`: a message must fit one buffer the host can
/// address and index (2 GiB, less on a 32-bit target, where isize bounds
/// every allocation).
pub(crate) const MIN_MAX_MESSAGE_SIZE: u64 = 1;
pub(crate) const MAX_MAX_MESSAGE_SIZE: u64 =
    if (isize::MAX as u64) < (1u64 << 31) { isize::MAX as u64 / 2 } else { 1u64 << 31 };
/// How long `ws_close` waits for the server's close frame and TCP close.
pub(crate) const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_millis(1000);
/// Bytes of queued outgoing frames above which `ws_write` waits for the kernel
/// to take some (one message larger than this is accepted on an empty queue).
pub(crate) const DEFAULT_SEND_BUFFER_LIMIT: usize = 4 << 20;
/// Keepalive defaults: ping after 30 s of silence, give up 10 s later.
pub(crate) const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(30);
pub(crate) const DEFAULT_PONG_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) const DEFAULT_RECONNECT_INITIAL: Duration = Duration::from_millis(500);
pub(crate) const DEFAULT_RECONNECT_MAX: Duration = Duration::from_secs(30);

/// Headers the library writes itself and the caller cannot replace: changing
/// them would break the upgrade or our validation of the response.
const MANAGED_HEADERS: &[&str] =
    &["upgrade", "connection", "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"];

/// Everything `ws_open` accepts in its options mapping, validated.
#[derive(Clone, Debug)]
pub struct Options {
    /// Extra upgrade request headers, in the caller's order; names validated,
    /// case-insensitively unique.
    pub headers: Vec<(String, String)>,
    /// Deadline for the whole connection attempt; None = unlimited (WinCC).
    pub timeout: Option<Duration>,
    pub subprotocols: Vec<String>,
    pub max_message_size: usize,
    /// Deadline for one `ws_write`/`ws_flush`; None = unlimited.
    pub send_timeout: Option<Duration>,
    pub close_timeout: Duration,
    pub send_buffer_limit: usize,
    pub tcp_nodelay: bool,
    /// TLS settings for wss:// (parsed by `tls::parse_option`).
    pub tls: crate::tls::TlsOptions,
    /// Keepalive: ping after this much silence from the server (None: off).
    pub ping_interval: Option<Duration>,
    /// Keepalive: fail when nothing arrives this long after our ping.
    pub pong_timeout: Duration,
    /// Event queue the socket delivers to (`ws_queue_create`), if any.
    pub queue: Option<i32>,
    /// Automatic reconnection with exponential backoff, if enabled.
    pub reconnect: Option<Reconnect>,
    /// Busy polling: how long a thread that waits for data from the server
    /// retries without sleeping first (zero: off, the default).
    pub busy_poll: Duration,
    /// "streamReceive": messages are read in pieces as they arrive
    /// (ws_read_part), never held whole.
    pub stream_receive: bool,
    /// "compression": permessage-deflate offered with these settings.
    pub compression: Option<crate::deflate::Config>,
    /// `"proxy"`, `"proxyFromEnvironment"`, `"noProxy"` and the TLS keys
    /// for an https:// proxy (see `proxy`).
    pub proxy: crate::proxy::ProxyOptions,
    /// `"happyEyeballsDelay"`: RFC 8305's Connection Attempt Delay.
    pub happy_eyeballs_delay: Duration,
    /// `"followRedirects"`: how many 301/302/307/308 answers to the upgrade
    /// are followed (0: none, the default).
    pub follow_redirects: u32,
}

/// Bounds of `"happyEyeballsDelay"` (ms): RFC 8305 section 5 says at least
/// 10 ms; more than 10 s is no longer racing.
const HAPPY_EYEBALLS_MS: std::ops::RangeInclusive<u64> = 10..=10_000;
/// Upper bound of `"followRedirects"`.
const MAX_REDIRECTS: u64 = 20;

/// `"autoReconnect"` settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Reconnect {
    pub initial_delay: Duration,
    pub max_delay: Duration,
    /// 0: unlimited.
    pub max_attempts: u32,
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect { initial_delay: DEFAULT_RECONNECT_INITIAL, max_delay: DEFAULT_RECONNECT_MAX, max_attempts: 0 }
    }
}

impl Reconnect {
    /// Delay before attempt `n` (1-based): initialDelay * 2^(n-1), capped at
    /// maxDelay, times a random factor in [0.75, 1.25) (jitter, so that many
    /// clients do not reconnect in lockstep; successive delays still grow).
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self.initial_delay.as_secs_f64() * 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
        let capped = base.min(self.max_delay.as_secs_f64());
        let jitter = 0.75 + rand::random::<f64>() * 0.5;
        Duration::from_secs_f64(capped * jitter)
    }
}

/// Upper bound of `"busyPoll"` (µs): one second of spinning per wait.
const MAX_BUSY_POLL_US: u64 = 1_000_000;

impl Default for Options {
    fn default() -> Self {
        Options {
            headers: Vec::new(),
            timeout: None,
            subprotocols: Vec::new(),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            send_timeout: None,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
            send_buffer_limit: DEFAULT_SEND_BUFFER_LIMIT,
            tcp_nodelay: true,
            tls: Default::default(),
            ping_interval: Some(DEFAULT_PING_INTERVAL),
            pong_timeout: DEFAULT_PONG_TIMEOUT,
            queue: None,
            reconnect: None,
            busy_poll: Duration::ZERO,
            stream_receive: false,
            compression: None,
            proxy: Default::default(),
            happy_eyeballs_delay: crate::dial::DEFAULT_DELAY,
            follow_redirects: 0,
        }
    }
}

/// An options error; control characters that a value or key brought into
/// the message (also from the TLS loaders' messages) are escaped, so that
/// the message stays one printable line.
fn opt_err(msg: impl std::fmt::Display) -> Error {
    let msg = msg.to_string();
    Error::new(Code::InvalidOptions, format!("argument error in options: {}", truncate(&msg, msg.len())))
}

/// RFC 7230 `tchar`.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// RFC 7230 field-value: visible characters, spaces and tabs, obs-text; no
/// CR, LF, NUL or other controls (header injection).
fn is_field_value(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80)
}

fn millis(key: &str, v: &Value) -> Result<Duration> {
    match v.as_u64() {
        Some(ms) if ms >= 1 && ms <= i32::MAX as u64 => Ok(Duration::from_millis(ms)),
        _ => Err(opt_err(format!(
            "\"{key}\" must be a positive integer number of milliseconds (1..{}), got {}",
            i32::MAX,
            short(v)
        ))),
    }
}

fn size_in(key: &str, v: &Value, min: u64, max: u64) -> Result<usize> {
    match v.as_u64() {
        Some(n) if n >= min && n <= max => Ok(n as usize),
        _ => Err(opt_err(format!(
            "\"{key}\" must be an integer number of bytes from {min} to {max}{}, got {}",
            if max == 1 << 31 { " (2 GiB)" } else { "" },
            short(v)
        ))),
    }
}

fn size(key: &str, v: &Value) -> Result<usize> {
    match v.as_u64() {
        Some(n) if n >= 1 && n <= usize::MAX as u64 => Ok(n as usize),
        _ => Err(opt_err(format!("\"{key}\" must be a positive integer number of bytes, got {}", short(v)))),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        format!("{}...", truncate(&s, 60))
    } else {
        s
    }
}

/// Long on purpose: one match arm per documented key, in the order of the
/// header's option table, so a key and its validation read side by side.
/// Parses the options JSON text (NULL or "" means defaults).
pub fn parse_options(text: Option<&str>) -> Result<Options> {
    let mut o = Options::default();
    let text = match text {
        None => return finish_proxy(o),
        Some(t) if t.trim().is_empty() => return finish_proxy(o),
        Some(t) => t,
    };
    let v = parse_json(text)?;
    let Value::Object(map) = v else {
        return Err(opt_err(format!("expected a JSON object, got {}", short(&v))));
    };
    for (key, v) in &map {
        match key.as_str() {
            "headers" => o.headers = parse_headers(v)?,
            "timeout" => o.timeout = Some(millis(key, v)?),
            "subprotocols" => o.subprotocols = parse_subprotocols(v)?,
            // 0 (no limit) only with "streamReceive", checked below
            "maxMessageSize" => {
                o.max_message_size = match v.as_u64() {
                    Some(0) => 0,
                    _ => size_in(key, v, MIN_MAX_MESSAGE_SIZE, MAX_MAX_MESSAGE_SIZE)?,
                }
            }
            "streamReceive" => {
                o.stream_receive = v
                    .as_bool()
                    .ok_or_else(|| opt_err(format!("\"streamReceive\" must be true or false, got {}", short(v))))?
            }
            "sendTimeout" => o.send_timeout = Some(millis(key, v)?),
            "closeTimeout" => o.close_timeout = millis(key, v)?,
            "sendBufferLimit" => o.send_buffer_limit = size(key, v)?,
            "pingInterval" => {
                o.ping_interval = match v.as_u64() {
                    Some(0) => None,
                    _ => Some(millis(key, v).map_err(|_| {
                        opt_err(format!(
                            "\"pingInterval\" must be 0 (off) or a positive integer number of milliseconds, got {}",
                            short(v)
                        ))
                    })?),
                }
            }
            "pongTimeout" => o.pong_timeout = millis(key, v)?,
            "queue" => {
                o.queue =
                    Some(v.as_i64().filter(|q| *q > 0 && *q <= i32::MAX as i64).map(|q| q as i32).ok_or_else(|| {
                        opt_err(format!("\"queue\" must be a queue number from ws_queue_create(), got {}", short(v)))
                    })?)
            }
            "autoReconnect" => o.reconnect = parse_reconnect(v)?,
            "busyPoll" => {
                o.busy_poll =
                    Duration::from_micros(v.as_u64().filter(|us| *us <= MAX_BUSY_POLL_US).ok_or_else(|| {
                        opt_err(format!(
                            "\"busyPoll\" must be an integer number of microseconds (0..{MAX_BUSY_POLL_US}), got {}",
                            short(v)
                        ))
                    })?)
            }
            "compression" => o.compression = crate::deflate::parse_option(v).map_err(opt_err)?,
            "tcpNoDelay" => {
                o.tcp_nodelay = v
                    .as_bool()
                    .ok_or_else(|| opt_err(format!("\"tcpNoDelay\" must be true or false, got {}", short(v))))?
            }
            "happyEyeballsDelay" => {
                o.happy_eyeballs_delay =
                    Duration::from_millis(v.as_u64().filter(|ms| HAPPY_EYEBALLS_MS.contains(ms)).ok_or_else(|| {
                        opt_err(format!(
                            "\"happyEyeballsDelay\" must be an integer number of milliseconds ({}..{}), got {}",
                            HAPPY_EYEBALLS_MS.start(),
                            HAPPY_EYEBALLS_MS.end(),
                            short(v)
                        ))
                    })?)
            }
            "followRedirects" => {
                o.follow_redirects = v.as_u64().filter(|n| *n <= MAX_REDIRECTS).map(|n| n as u32).ok_or_else(|| {
                    opt_err(format!(
                        "\"followRedirects\" must be an integer number of redirects (0..{MAX_REDIRECTS}), got {}",
                        short(v)
                    ))
                })?
            }
            other => match crate::tls::parse_option(other, v, &mut o.tls) {
                Some(r) => r.map_err(|why| opt_err(format!("\"{other}\": {why}")))?,
                None => match crate::proxy::parse_option(other, v, &mut o.proxy) {
                    Some(r) => r.map_err(|why| opt_err(format!("\"{other}\": {why}")))?,
                    None => return Err(opt_err(format!("unknown key \"{}\"", truncate(other, 60)))),
                },
            },
        }
    }
    crate::tls::finish(&o.tls).map_err(opt_err)?;
    if o.max_message_size < MIN_MAX_MESSAGE_SIZE as usize && !o.stream_receive {
        return Err(opt_err(format!(
            "\"maxMessageSize\" must be an integer number of bytes from {MIN_MAX_MESSAGE_SIZE} to {MAX_MAX_MESSAGE_SIZE} (2 GiB), or 0 (no limit) with \"streamReceive\": true, got 0"
        )));
    }
    finish_proxy(o)
}

/// Reads the proxy environment (when "proxy" was not given) on this, the
/// `ws_open` thread.
fn finish_proxy(mut o: Options) -> Result<Options> {
    crate::proxy::finish(&mut o.proxy).map_err(opt_err)?;
    Ok(o)
}

/// Parses JSON text into a Value, refusing a key that appears twice in one
/// object at any depth (serde_json's own Value silently keeps the last).
pub fn parse_json(text: &str) -> Result<Value> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_str(text);
    let v = Strict { path: &Path::Root }.deserialize(&mut de).and_then(|v| de.end().map(|_| v)).map_err(|e| {
        if e.classify() == serde_json::error::Category::Data {
            opt_err(e) // our duplicate-key message, with serde_json's position
        } else {
            opt_err(format!("invalid JSON: {e}"))
        }
    })?;
    Ok(v)
}

/// Where a value sits in the options, for the duplicate-key message.
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(p, k) => {
                if !matches!(p, Path::Root) {
                    write!(f, "{p}.")?;
                }
                write!(f, "\"{}\"", truncate(k, 60))
            }
            Path::Index(p, i) => write!(f, "{p}[{i}]"),
        }
    }
}

struct Strict<'a> {
    path: &'a Path<'a>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> std::result::Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_u64<E>(self, n: u64) -> std::result::Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_f64<E>(self, n: f64) -> std::result::Result<Value, E> {
        Ok(serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, s: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> std::result::Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict { path: &Path::Index(self.path, out.len()) })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if out.contains_key(&k) {
                let at = match self.path {
                    Path::Root => String::new(),
                    p => format!(" in {p}"),
                };
                return Err(serde::de::Error::custom(format!(
                    "duplicate key \"{}\"{at} (each key may appear once)",
                    truncate(&k, 60)
                )));
            }
            let v = map.next_value_seed(Strict { path: &Path::Key(self.path, &k) })?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

fn parse_reconnect(v: &Value) -> Result<Option<Reconnect>> {
    match v {
        Value::Bool(false) => Ok(None),
        Value::Bool(true) => Ok(Some(Reconnect::default())),
        Value::Object(m) => {
            let mut r = Reconnect::default();
            for (k, v) in m {
                match k.as_str() {
                    "initialDelay" => r.initial_delay = millis("autoReconnect.initialDelay", v)?,
                    "maxDelay" => r.max_delay = millis("autoReconnect.maxDelay", v)?,
                    "maxAttempts" => {
                        r.max_attempts =
                            v.as_u64().filter(|n| *n <= u32::MAX as u64).map(|n| n as u32).ok_or_else(|| {
                                opt_err(format!(
                                "\"autoReconnect.maxAttempts\" must be a non-negative integer (0: unlimited), got {}",
                                short(v)
                            ))
                            })?
                    }
                    other => {
                        return Err(opt_err(format!("\"autoReconnect\": unknown key \"{}\"", truncate(other, 60))))
                    }
                }
            }
            if r.max_delay < r.initial_delay {
                r.max_delay = r.initial_delay;
            }
            Ok(Some(r))
        }
        _ => Err(opt_err(format!("\"autoReconnect\" must be true, false or an object, got {}", short(v)))),
    }
}

fn parse_headers(v: &Value) -> Result<Vec<(String, String)>> {
    let Value::Object(m) = v else {
        return Err(opt_err(format!(
            "\"headers\" must be an object of name: value (a string, or an array of strings for repeated lines), got {}",
            short(v)
        )));
    };
    headers_from_map(m)
}

fn headers_from_map(m: &Map<String, Value>) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(m.len());
    for (name, value) in m {
        if !is_token(name) {
            return Err(opt_err(format!("\"headers\": invalid header name {}", Value::from(name.as_str()))));
        }
        let lname = name.to_ascii_lowercase();
        if MANAGED_HEADERS.contains(&lname.as_str()) {
            return Err(opt_err(format!("\"headers\": \"{name}\" is managed by the library and cannot be set")));
        }
        // a string is one line; an array of strings is one line each, in order
        let values: Vec<&String> = match value {
            Value::String(s) => vec![s],
            Value::Array(a) if !a.is_empty() => {
                let mut vs = Vec::with_capacity(a.len());
                for v in a {
                    let Value::String(s) = v else {
                        return Err(opt_err(format!(
                            "\"headers\": the values of \"{name}\" must be strings, got {}",
                            short(v)
                        )));
                    };
                    vs.push(s);
                }
                vs
            }
            _ => {
                return Err(opt_err(format!(
                    "\"headers\": value of \"{name}\" must be a string or a non-empty array of strings, got {}",
                    short(value)
                )))
            }
        };
        if values.len() > 1 && SINGLE_HEADERS.contains(&lname.as_str()) {
            return Err(opt_err(format!("\"headers\": \"{name}\" may be sent only once, got {} values", values.len())));
        }
        if out.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            return Err(opt_err(format!("\"headers\": \"{name}\" given twice")));
        }
        for value in values {
            if !is_field_value(value) {
                return Err(opt_err(format!(
                    "\"headers\": value of \"{name}\" contains CR, LF or another control character"
                )));
            }
            out.push((name.clone(), value.trim_matches([' ', '\t']).to_string()));
        }
    }
    Ok(out)
}

/// Request headers that HTTP allows once only (RFC 9110, RFC 9112 3.2): a
/// server must refuse a request with two Host lines, and the library sends
/// its own one of each of these when the caller gives none.
const SINGLE_HEADERS: &[&str] = &["host", "authorization", "user-agent", "content-length"];

fn parse_subprotocols(v: &Value) -> Result<Vec<String>> {
    let Value::Array(a) = v else {
        return Err(opt_err(format!("\"subprotocols\" must be an array of strings, got {}", short(v))));
    };
    let mut out: Vec<String> = Vec::with_capacity(a.len());
    for p in a {
        let Value::String(s) = p else {
            return Err(opt_err(format!("\"subprotocols\": entries must be strings, got {}", short(p))));
        };
        if !is_token(s) {
            return Err(opt_err(format!(
                "\"subprotocols\": {} is not a valid protocol name (an HTTP token)",
                Value::from(s.as_str())
            )));
        }
        if out.contains(s) {
            return Err(opt_err(format!("\"subprotocols\": \"{s}\" given twice")));
        }
        out.push(s.clone());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = parse_url("ws://example.com/chat?x=1").unwrap();
        assert_eq!((t.port, t.resource.as_str(), t.host_header.as_str()), (80, "/chat?x=1", "example.com"));
        let t = parse_url("wss://[::1]:8443").unwrap();
        assert_eq!((t.port, t.resource.as_str(), t.host_header.as_str()), (8443, "/", "[::1]:8443"));
        assert_eq!(t.peer(), "[::1]:8443");
        assert_eq!(parse_url("WSS://127.0.0.1/").unwrap().port, 443);
        for bad in
            ["", "ws://", "ws:///x", "ws://:80/", "ws://h:0/", "ws://h:65536/", "ws://h/#f", "ws:h", "ws://[::1/"]
        {
            let e = parse_url(bad).unwrap_err();
            assert_eq!(e.code, Code::InvalidUrl, "{bad}: {}", e.msg);
        }
        assert_eq!(parse_url("http://h/").unwrap_err().code, Code::UnsupportedScheme);
        // fuzz/seeds/url/crash-crlf-in-message: the message stays one line
        let e = parse_url("ws://h\t+\r\nX: y").unwrap_err();
        assert!(e.msg.starts_with("invalid URL \"ws://h\\t+\\r\\nX: y\""), "{}", e.msg);
        // fuzz/seeds/options/crash-newline-in-pin: also in the TLS keys' messages
        let e = parse_options(Some(r#"{"pinnedSha256": "AB\nCD"}"#)).unwrap_err();
        assert!(e.msg.contains("\"AB\\nCD\" is not a SHA-256"), "{}", e.msg);
        let e = parse_options(Some(r#"{"a\nb\u0000": 1}"#)).unwrap_err();
        assert!(e.msg.ends_with("unknown key \"a\\nb\\u{0}\""), "{}", e.msg);
        let t = parse_url("ws://us%40r:p%3Ass@h/").unwrap();
        assert_eq!(t.basic_auth.as_deref(), Some(format!("Basic {}", base64(b"us@r:p:ss")).as_str()));
    }

    #[test]
    fn base64_known() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn options() {
        let o =
            parse_options(Some(r#"{"headers":{"User-Agent":"x","X-A":"1"},"timeout":500,"subprotocols":["a","b"]}"#))
                .unwrap();
        assert_eq!(o.headers[0], ("User-Agent".into(), "x".into()));
        assert_eq!(o.timeout, Some(Duration::from_millis(500)));
        assert_eq!(parse_options(Some(r#"{"maxMessageSize":2147483648}"#)).unwrap().max_message_size, 1 << 31);
        // the same key in different objects is fine; escapes name the same key
        assert!(parse_options(Some(r#"{"autoReconnect":{"maxDelay":5},"headers":{"maxDelay":"x"}}"#)).is_ok());
        let e = parse_options(Some(r#"{"timeout":1,"\u0074imeout":2}"#)).unwrap_err();
        assert!(e.msg.contains("duplicate key \"timeout\""), "{}", e.msg);
        for (bad, needle) in [
            ("{", "invalid JSON"),
            ("[]", "expected a JSON object"),
            (r#"{"nope":1}"#, "unknown key \"nope\""),
            (r#"{"timeout":"1"}"#, "\"timeout\""),
            (r#"{"timeout":0}"#, "\"timeout\""),
            (r#"{"headers":{"A":"x\r\nB: y"}}"#, "CR, LF"),
            (r#"{"headers":{"A B":"x"}}"#, "invalid header name"),
            (r#"{"headers":{"Upgrade":"x"}}"#, "managed"),
            (r#"{"headers":{"a":"1","A":"2"}}"#, "twice"),
            (r#"{"subprotocols":["a b"]}"#, "not a valid protocol name"),
            (r#"{"maxMessageSize":-1}"#, "maxMessageSize"),
            (
                r#"{"maxMessageSize":0}"#,
                "from 1 to 2147483648 (2 GiB), or 0 (no limit) with \"streamReceive\": true, got 0",
            ),
            (r#"{"maxMessageSize":35184372088832}"#, "from 1 to 2147483648 (2 GiB), got 35184372088832"),
            (r#"{"timeout":1,"timeout":2}"#, "duplicate key \"timeout\""),
            (r#"{"headers":{"A":"1","A":"2"}}"#, "duplicate key \"A\" in \"headers\""),
            (r#"{"sslConfig":{"privateKey":{"key":"k","key":"j"}}}"#, "in \"sslConfig\".\"privateKey\""),
            (r#"{"subprotocols":[{"a":1,"a":2}]}"#, "in \"subprotocols\"[0]"),
            (r#"{"timeout":1}x"#, "invalid JSON: trailing characters"),
            (r#"{"headers":{"Cookie":[]}}"#, "non-empty array"),
            (r#"{"headers":{"Cookie":["a",1]}}"#, "must be strings"),
            (r#"{"headers":{"Cookie":["a","b\r\nX: y"]}}"#, "CR, LF"),
            (r#"{"headers":{"Host":["a","b"]}}"#, "only once"),
            (r#"{"compression":{"level":12}}"#, "\"compression.level\" must be an integer from 0 to 9, got 12"),
            (r#"{"compression":"yes"}"#, "\"compression\" must be true, false or an object"),
        ] {
            let e = parse_options(Some(bad)).unwrap_err();
            assert_eq!(e.code, Code::InvalidOptions);
            assert!(e.msg.starts_with("argument error in options: "), "{}", e.msg);
            assert!(e.msg.contains(needle), "{bad}: {}", e.msg);
        }
    }
}
