//! permessage-deflate (RFC 7692): the `"compression"` option, the offer we
//! send, strict validation of the server's answer, and the two codecs: the
//! [`Inflater`] the frame reader (`proto::Reader`) feeds compressed payload
//! through in bounded steps, and the [`Compressor`] the sending side uses.
//!
//! Memory is the design constraint (a SCADA client keeps thousands of mostly
//! idle connections): nothing is allocated before the first compressed
//! message in each direction; a compressor without context takeover is
//! borrowed from a small process-wide pool for one message and returned; an
//! idle connection (nothing compressed or inflated between two of the
//! background thread's sweeps, `reactor::TRIM_PERIOD` apart, independent of
//! keepalive) gives its compressor back (dropping context is always
//! allowed: the peer's decoder never requires a back-reference) and its
//! decompressor too, keeping only the bytes context takeover obliges it to
//! keep (the last 2^serverMaxWindowBits bytes received, 512 for 8 bits, or
//! fewer if fewer arrived), from which a later decompressor is primed.
//!
//! The codec is zlib-rs, driven through zlib's C API with the state mapped
//! from the system and unmapped on release (`zstream.rs` says why: through
//! malloc, released state stayed resident). Its compressor has a
//! fixed 128 KiB hash table (as zlib-ng) plus buffers sized by the window
//! (4 * 2^bits bytes) and memLevel (7 * 2^(memLevel+6) bytes); the
//! decompressor is ~47 KiB whatever the window (a 32 KiB window buffer,
//! written only as output arrives).
//!
//! Window bits 8: zlib (and zlib-rs, zlib-ng) cannot *compress* with a raw
//! 256-byte window (deflateInit2 refuses -8; Python's websockets refuses to
//! offer 8 for that reason). When the server limits our window to 8 we
//! compress with 9 bits, which is still correct for a peer that decodes with
//! a 256-byte window: deflate never emits a distance above MAX_DIST =
//! window size - MIN_LOOKAHEAD (262), i.e. 250 for a 512-byte window, so
//! every back-reference stays inside the last 256 bytes (checked by the unit
//! test `window_8_output_decodes_with_a_256_byte_window` for every level and
//! memLevel). For *reading*, the decoder is always given 9..=15 bits (as
//! flate2 and Python's zlib module allow), so a server window of 8 is read
//! with a 512-byte window. This is what lets Autobahn's
//! 13.3-13.6 (window 9 and 15, with and without context takeover) and a
//! server that insists on 8 bits work.
//!
//! A server that refers further back than its agreed window: zlib checks a
//! distance against the window only where it reaches before the output of
//! the current inflate call, so [`Inflater::step`] inflates at most one
//! window per call; a stream that needs more than twice the agreed window
//! (four times for 8 bits, read with 9) then fails with "invalid distance
//! too far back" (1007). Shorter overreach may resolve, depending on where
//! the calls split the output: the frame reader places every call by the
//! server's bytes alone (input up to fixed chunk boundaries of the frame,
//! output room of one window; `proto::Reader::inflate_frame`), so the
//! outcome is the same however the reads split the stream, and the history
//! kept over an idle release is the decoder's whole window, so it is the
//! same whether or not the connection was idle. zlib offers no exact check.
#![deny(unsafe_code)]

use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};

mod compressor;
mod inflater;
mod zstream;
pub use compressor::Compressor;
#[cfg(test)]
use inflater::History;
pub use inflater::Inflater;
pub(crate) use inflater::INFLATE_STATE;
pub(crate) use zstream::mapped_bytes;

/// The extension's name in Sec-WebSocket-Extensions.
pub(crate) const NAME: &str = "permessage-deflate";
/// The four bytes a sync flush ends with, removed from and re-appended to
/// every compressed message (RFC 7692 section 7.2.1 and 7.2.2).
pub(crate) const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// A message longer than this is compressed and queued in pieces (one frame
/// each), so that sendBufferLimit and sendTimeout hold while it is sent.
pub(crate) const PIECE: usize = 256 * 1024;

/// Defaults of `"compression": true`.
pub(crate) const DEFAULT_LEVEL: u8 = 6;
pub(crate) const DEFAULT_MEM_LEVEL: u8 = 5;

/// How we offer `client_max_window_bits`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientBits {
    /// Not offered (the server must not limit our window).
    No,
    /// Offered without a value: the server may limit our window.
    Any,
    /// Offered with this value (8..=15): our window is at most this.
    Bits(u8),
}

/// The `"compression"` option, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub client_max_window_bits: ClientBits,
    /// `server_max_window_bits` requested (8..=15), if any.
    pub server_max_window_bits: Option<u8>,
    pub client_no_context_takeover: bool,
    pub server_no_context_takeover: bool,
    /// zlib compression level 0..=9.
    pub level: u8,
    /// Messages shorter than this many bytes are sent uncompressed.
    pub threshold: usize,
    /// zlib memLevel 1..=9.
    pub mem_level: u8,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            client_max_window_bits: ClientBits::Any,
            server_max_window_bits: None,
            client_no_context_takeover: false,
            server_no_context_takeover: false,
            level: DEFAULT_LEVEL,
            threshold: 0,
            mem_level: DEFAULT_MEM_LEVEL,
        }
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        let mut end = 60;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s
    }
}

fn int_in(key: &str, v: &Value, lo: u64, hi: u64) -> Result<u64, String> {
    v.as_u64()
        .filter(|n| (lo..=hi).contains(n))
        .ok_or_else(|| format!("\"compression.{key}\" must be an integer from {lo} to {hi}, got {}", short(v)))
}

fn boolean(key: &str, v: &Value) -> Result<bool, String> {
    v.as_bool().ok_or_else(|| format!("\"compression.{key}\" must be true or false, got {}", short(v)))
}

/// Parses the `"compression"` value: `false` (off), `true` (defaults) or an
/// object of the parameters. The error names the key.
pub fn parse_option(v: &Value) -> Result<Option<Config>, String> {
    match v {
        Value::Bool(false) => Ok(None),
        Value::Bool(true) => Ok(Some(Config::default())),
        Value::Object(m) => {
            let mut c = Config::default();
            for (k, v) in m {
                match k.as_str() {
                    "clientMaxWindowBits" => {
                        c.client_max_window_bits = match v {
                            Value::Bool(true) => ClientBits::Any,
                            Value::Bool(false) => ClientBits::No,
                            _ => ClientBits::Bits(int_in(k, v, 8, 15).map_err(|_| {
                                format!(
                                    "\"compression.clientMaxWindowBits\" must be an integer from 8 to 15, true or false, got {}",
                                    short(v)
                                )
                            })? as u8),
                        }
                    }
                    "serverMaxWindowBits" => c.server_max_window_bits = Some(int_in(k, v, 8, 15)? as u8),
                    "clientNoContextTakeover" => c.client_no_context_takeover = boolean(k, v)?,
                    "serverNoContextTakeover" => c.server_no_context_takeover = boolean(k, v)?,
                    "level" => c.level = int_in(k, v, 0, 9)? as u8,
                    "memLevel" => c.mem_level = int_in(k, v, 1, 9)? as u8,
                    "threshold" => {
                        c.threshold = v.as_u64().filter(|n| *n <= u32::MAX as u64).ok_or_else(|| {
                            format!(
                                "\"compression.threshold\" must be a non-negative integer number of bytes, got {}",
                                short(v)
                            )
                        })? as usize
                    }
                    other => {
                        let mut name: String = other.chars().take(60).collect();
                        name = name.escape_default().to_string();
                        return Err(format!("\"compression\": unknown key \"{name}\""));
                    }
                }
            }
            Ok(Some(c))
        }
        _ => Err(format!("\"compression\" must be true, false or an object, got {}", short(v))),
    }
}

/// The Sec-WebSocket-Extensions value we offer (RFC 7692 section 7.1).
pub fn offer(c: &Config) -> String {
    let mut s = String::from(NAME);
    match c.client_max_window_bits {
        ClientBits::No => {}
        ClientBits::Any => s.push_str("; client_max_window_bits"),
        ClientBits::Bits(b) => s.push_str(&format!("; client_max_window_bits={b}")),
    }
    if let Some(b) = c.server_max_window_bits {
        s.push_str(&format!("; server_max_window_bits={b}"));
    }
    if c.client_no_context_takeover {
        s.push_str("; client_no_context_takeover");
    }
    if c.server_no_context_takeover {
        s.push_str("; server_no_context_takeover");
    }
    s
}

/// What both sides agreed to, plus our own compressor settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Agreed {
    /// Our window (the server decodes with it), 8..=15.
    pub client_max_window_bits: u8,
    /// The server's window (we decode with it), 8..=15.
    pub server_max_window_bits: u8,
    pub client_no_context_takeover: bool,
    pub server_no_context_takeover: bool,
    pub level: u8,
    pub mem_level: u8,
    pub threshold: usize,
}

/// Splits a header value at `sep` outside quoted strings.
fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let (mut out, mut from, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            out.push(&s[from..i]);
            from = i + 1;
        }
    }
    out.push(&s[from..]);
    out
}

/// A parameter value: a token, or a quoted-string whose unescaped content
/// must be a token (RFC 6455 section 9.1).
fn param_value(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let v = if let Some(inner) = raw.strip_prefix('"') {
        let inner = inner.strip_suffix('"').ok_or_else(|| format!("unterminated quoted value {raw}"))?;
        let mut out = String::new();
        let mut esc = false;
        for c in inner.chars() {
            if esc {
                out.push(c);
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else {
                out.push(c);
            }
        }
        out
    } else {
        raw.to_string()
    };
    if !crate::options::is_token(&v) {
        return Err(format!("invalid parameter value {raw:?}"));
    }
    Ok(v)
}

/// A window-bits value: a decimal 8..=15 without leading zeros.
fn bits_value(name: &str, v: &str) -> Result<u8, String> {
    match v.parse::<u8>() {
        Ok(b) if (8..=15).contains(&b) && !v.starts_with('0') => Ok(b),
        _ => Err(format!("{name}={v} is out of range (8..15)")),
    }
}

/// Validates the server's Sec-WebSocket-Extensions answer against our offer
/// (RFC 7692 section 7.1): exactly one permessage-deflate element, only
/// parameters we offered or the server may add, none twice, values in range.
/// Err: what is wrong, for the handshake error message.
pub fn negotiate(c: &Config, header: &str) -> Result<Agreed, String> {
    let elements: Vec<&str> =
        split_unquoted(header, ',').into_iter().map(str::trim).filter(|e| !e.is_empty()).collect();
    if elements.len() != 1 {
        return Err(format!("{} extensions selected, only {NAME} was offered", elements.len()));
    }
    let mut parts = split_unquoted(elements[0], ';').into_iter().map(str::trim);
    let name = parts.next().unwrap_or("");
    if !name.eq_ignore_ascii_case(NAME) {
        return Err(format!("extension \"{name}\" was not offered (only {NAME})"));
    }
    let mut seen: Vec<String> = Vec::new();
    let mut a = Agreed {
        client_max_window_bits: match c.client_max_window_bits {
            ClientBits::Bits(b) => b,
            _ => 15,
        },
        server_max_window_bits: 15,
        client_no_context_takeover: c.client_no_context_takeover,
        server_no_context_takeover: false,
        level: c.level,
        mem_level: c.mem_level,
        threshold: c.threshold,
    };
    let mut server_bits_given = false;
    for p in parts {
        if p.is_empty() {
            return Err("empty parameter".into());
        }
        let (k, v) = match p.split_once('=') {
            Some((k, v)) => (k.trim(), Some(param_value(v)?)),
            None => (p, None),
        };
        let key = k.to_ascii_lowercase();
        if seen.contains(&key) {
            return Err(format!("parameter {k} given twice"));
        }
        seen.push(key.clone());
        let no_value = |v: &Option<String>| match v {
            Some(v) => Err(format!("{k} takes no value, got {k}={v}")),
            None => Ok(()),
        };
        match key.as_str() {
            "server_no_context_takeover" => {
                no_value(&v)?;
                a.server_no_context_takeover = true;
            }
            "client_no_context_takeover" => {
                // the server may ask for it whether or not we offered it
                no_value(&v)?;
                a.client_no_context_takeover = true;
            }
            "server_max_window_bits" => {
                let v = v.ok_or_else(|| format!("{k} needs a value"))?;
                let b = bits_value(k, &v)?;
                if let Some(limit) = c.server_max_window_bits {
                    if b > limit {
                        return Err(format!("{k}={b} is larger than the {limit} offered"));
                    }
                }
                a.server_max_window_bits = b;
                server_bits_given = true;
            }
            "client_max_window_bits" => {
                let v = v.ok_or_else(|| format!("{k} needs a value in a response"))?;
                let b = bits_value(k, &v)?;
                match c.client_max_window_bits {
                    ClientBits::No => return Err(format!("{k}={b} but client_max_window_bits was not offered")),
                    ClientBits::Bits(limit) if b > limit => {
                        return Err(format!("{k}={b} is larger than the {limit} offered"))
                    }
                    _ => a.client_max_window_bits = b,
                }
            }
            _ => return Err(format!("unknown parameter {k}")),
        }
    }
    if c.server_max_window_bits.is_some() && !server_bits_given {
        return Err("server_max_window_bits was offered but the answer does not include it".into());
    }
    if c.server_no_context_takeover && !a.server_no_context_takeover {
        return Err("server_no_context_takeover was offered but the answer does not include it".into());
    }
    Ok(a)
}

/// Compressed and uncompressed payload bytes, for `ws_get_info` (the
/// wire side: data frame payloads as sent and received).
#[derive(Default, Debug)]
pub struct Stats {
    pub wire_in: AtomicU64,
    pub wire_out: AtomicU64,
}

/// Adds to a counter only one thread updates at a time (the holder of the
/// receiving side or of the compressor).
pub fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn cfg(json: &str) -> Config {
        parse_option(&serde_json::from_str(json).unwrap()).unwrap().unwrap()
    }

    #[test]
    fn options_and_offers() {
        assert_eq!(parse_option(&Value::Bool(false)).unwrap(), None);
        let d = cfg("true");
        assert_eq!(offer(&d), "permessage-deflate; client_max_window_bits");
        let c = cfg(r#"{"clientMaxWindowBits":10,"serverMaxWindowBits":9,"clientNoContextTakeover":true,
                "serverNoContextTakeover":true,"level":1,"threshold":64,"memLevel":9}"#);
        assert_eq!(
            offer(&c),
            "permessage-deflate; client_max_window_bits=10; server_max_window_bits=9; client_no_context_takeover; server_no_context_takeover"
        );
        assert_eq!((c.level, c.threshold, c.mem_level), (1, 64, 9));
        assert_eq!(offer(&cfg(r#"{"clientMaxWindowBits":false}"#)), "permessage-deflate");
        for (bad, needle) in [
            ("1", "must be true, false or an object"),
            (r#"{"clientMaxWindowBits":16}"#, "clientMaxWindowBits\" must be an integer from 8 to 15, true or false"),
            (r#"{"clientMaxWindowBits":7}"#, "from 8 to 15"),
            (r#"{"serverMaxWindowBits":true}"#, "serverMaxWindowBits\" must be an integer from 8 to 15"),
            (r#"{"serverMaxWindowBits":16}"#, "from 8 to 15, got 16"),
            (r#"{"level":10}"#, "compression.level\" must be an integer from 0 to 9, got 10"),
            (r#"{"memLevel":0}"#, "compression.memLevel\" must be an integer from 1 to 9, got 0"),
            (r#"{"threshold":-1}"#, "compression.threshold"),
            (r#"{"clientNoContextTakeover":1}"#, "must be true or false"),
            (r#"{"window":1}"#, "unknown key \"window\""),
        ] {
            let e = parse_option(&serde_json::from_str(bad).unwrap()).unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn negotiation_follows_rfc7692_section_7() {
        let d = Config::default();
        let a = negotiate(&d, "permessage-deflate").unwrap();
        assert_eq!((a.client_max_window_bits, a.server_max_window_bits), (15, 15));
        assert!(!a.client_no_context_takeover && !a.server_no_context_takeover);
        let a = negotiate(
            &d,
            "Permessage-Deflate ; client_max_window_bits=\"9\"; server_max_window_bits=10; client_no_context_takeover; server_no_context_takeover",
        )
        .unwrap();
        assert_eq!((a.client_max_window_bits, a.server_max_window_bits), (9, 10));
        assert!(a.client_no_context_takeover && a.server_no_context_takeover);
        // we limited our own window: an absent answer keeps our limit
        let c = cfg(r#"{"clientMaxWindowBits":12,"serverMaxWindowBits":11,"serverNoContextTakeover":true}"#);
        let a = negotiate(&c, "permessage-deflate; server_max_window_bits=11; server_no_context_takeover").unwrap();
        assert_eq!((a.client_max_window_bits, a.server_max_window_bits), (12, 11));
        let a = negotiate(
            &c,
            "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8; server_no_context_takeover",
        )
        .unwrap();
        assert_eq!((a.client_max_window_bits, a.server_max_window_bits), (8, 8));
        for (c, h, needle) in [
            (&d, "permessage-deflate, permessage-deflate", "2 extensions selected"),
            (&d, "x-webkit-deflate-frame", "\"x-webkit-deflate-frame\" was not offered"),
            (&d, "permessage-deflate; server_max_window_bits=16", "out of range"),
            (&d, "permessage-deflate; server_max_window_bits=7", "out of range"),
            (&d, "permessage-deflate; server_max_window_bits=010", "out of range"),
            (&d, "permessage-deflate; server_max_window_bits", "needs a value"),
            (&d, "permessage-deflate; client_max_window_bits", "needs a value"),
            (&d, "permessage-deflate; client_max_window_bits=x", "out of range"),
            (&d, "permessage-deflate; server_no_context_takeover; server_no_context_takeover", "given twice"),
            (&d, "permessage-deflate; server_no_context_takeover=1", "takes no value"),
            (&d, "permessage-deflate; client_no_context_takeover=\"\"", "invalid parameter value"),
            (&d, "permessage-deflate; foo=1", "unknown parameter foo"),
            (&d, "permessage-deflate;", "empty parameter"),
            (
                &cfg(r#"{"clientMaxWindowBits":false}"#),
                "permessage-deflate; client_max_window_bits=10",
                "was not offered",
            ),
            (
                &c,
                "permessage-deflate; server_max_window_bits=12; server_no_context_takeover",
                "larger than the 11 offered",
            ),
            (&c, "permessage-deflate; server_no_context_takeover", "does not include it"),
            (&c, "permessage-deflate; server_max_window_bits=11", "server_no_context_takeover was offered"),
            (
                &c,
                "permessage-deflate; server_max_window_bits=11; server_no_context_takeover; client_max_window_bits=13",
                "larger than the 12 offered",
            ),
        ] {
            let e = negotiate(c, h).unwrap_err();
            assert!(e.contains(needle), "{h}: {e}");
        }
    }

    fn agreed(cbits: u8, sbits: u8, cnct: bool, snct: bool, level: u8, mem: u8) -> Agreed {
        Agreed {
            client_max_window_bits: cbits,
            server_max_window_bits: sbits,
            client_no_context_takeover: cnct,
            server_no_context_takeover: snct,
            level,
            mem_level: mem,
            threshold: 0,
        }
    }

    /// Inflates one message the way the reader does: payload + TAIL.
    fn inflate_msg(i: &mut Inflater, payload: &[u8]) -> Result<Vec<u8>, String> {
        let mut input = payload.to_vec();
        input.extend_from_slice(&TAIL);
        let mut out = Vec::new();
        let mut at = 0;
        loop {
            let mut chunk = vec![0u8; 100_000];
            let s = i.step(&input[at..], &mut chunk).map_err(|e| e.why)?;
            at += s.consumed;
            out.extend_from_slice(&chunk[..s.produced]);
            if s.ended || (at == input.len() && !s.full) {
                break;
            }
        }
        i.end_message();
        Ok(out)
    }

    fn messages() -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = Vec::new();
        v.push(Vec::new());
        v.push(b"a".to_vec());
        for n in [100usize, 5000, 70_000, 300_000] {
            v.push((0..n).map(|i| b"{\"tag\":\"line1.temp\",\"v\":21.5}"[i % 29] ^ (i / 977) as u8).collect());
        }
        v.push((0..50_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect()); // incompressible
        v
    }

    #[test]
    fn roundtrip_every_parameter_combination() {
        for bits in [8u8, 9, 12, 15] {
            for nct in [false, true] {
                for (level, mem) in [(0u8, 1u8), (1, 5), (6, 8), (9, 9)] {
                    let a = agreed(bits, bits, nct, nct, level, mem);
                    let mut c = Compressor::new(&a, Arc::default());
                    let mut i = Inflater::new(&a, Arc::default());
                    for m in messages().iter().chain(messages().iter()) {
                        let mut out = Vec::new();
                        // in pieces, as the sending side does for big ones
                        let pieces: Vec<&[u8]> =
                            if m.is_empty() { vec![&m[..]] } else { m.chunks(PIECE / 4).collect() };
                        for (k, p) in pieces.iter().enumerate() {
                            c.compress(p, k + 1 == pieces.len(), false, &mut out).unwrap_or_else(|e| {
                                panic!("bits {bits} nct {nct} level {level} mem {mem} len {} piece {k}: {e}", m.len())
                            });
                        }
                        let back = inflate_msg(&mut i, &out).unwrap();
                        assert!(back == *m, "bits {bits} nct {nct} level {level}: {} bytes", m.len());
                        if nct {
                            assert!(!c.holds_state(), "released between messages");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn window_8_output_decodes_with_a_256_byte_window() {
        // compressed with zlib-rs at 9 bits for an agreed 8: every distance
        // must be at most 256, which zlib-rs's own raw 8-bit decoder checks
        let data: Vec<u8> =
            (0..200_000usize).map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789"[(i * i / 7 + i / 300) % 36]).collect();
        for level in 0..=9u8 {
            for mem in [1u8, 5, 9] {
                let a = agreed(8, 8, false, false, level, mem);
                let mut c = Compressor::new(&a, Arc::default());
                let mut wire = Vec::new();
                for m in data.chunks(7000) {
                    c.compress(m, true, false, &mut wire).unwrap();
                    wire.extend_from_slice(&TAIL);
                }
                let mut z = zlib_rs::Inflate::new(false, 8);
                let mut out = vec![0u8; data.len() + 16];
                z.decompress(&wire, &mut out, zlib_rs::InflateFlush::SyncFlush)
                    .unwrap_or_else(|e| panic!("level {level} mem {mem}: {e:?}"));
                assert_eq!(&out[..data.len()], &data[..], "level {level} mem {mem}");
            }
        }
    }

    #[test]
    fn a_stream_needing_a_larger_window_fails() {
        // compressed with a 32 KiB window, back-references ~20 KiB away
        let block: Vec<u8> = (0..20_000u32).map(|i| (i.wrapping_mul(2654435761) >> 11) as u8).collect();
        let data = [block.clone(), block].concat();
        let big = agreed(15, 15, false, false, 6, 8);
        let mut c = Compressor::new(&big, Arc::default());
        let mut out = Vec::new();
        c.compress(&data, true, false, &mut out).unwrap();
        let mut i = Inflater::new(&agreed(15, 10, false, false, 6, 8), Arc::default());
        let e = inflate_msg(&mut i, &out).unwrap_err();
        assert!(e.contains("larger window than the agreed server_max_window_bits=10"), "{e}");
        let mut i = Inflater::new(&big, Arc::default());
        assert_eq!(inflate_msg(&mut i, &out).unwrap(), data);
    }

    #[test]
    fn context_survives_an_idle_release_on_both_sides() {
        let a = agreed(15, 15, false, false, 6, 5);
        let mut c = Compressor::new(&a, Arc::default());
        let mut i = Inflater::new(&a, Arc::default());
        let m = b"{\"tag\":\"plant.line7.motor3.current\",\"value\":12.25,\"quality\":\"good\"}".repeat(3);
        let mut sizes = Vec::new();
        for round in 0..6 {
            let mut out = Vec::new();
            c.compress(&m, true, false, &mut out).unwrap();
            sizes.push(out.len());
            assert_eq!(inflate_msg(&mut i, &out).unwrap(), m);
            if round == 2 {
                // idle twice: the first call only clears the "used" mark
                c.trim();
                i.trim();
                assert!(c.holds_state());
                c.trim();
                i.trim();
                assert!(!c.holds_state() && i.z.is_none());
                assert!(i.memory() <= m.len() * 4, "history only: {}", i.memory());
            }
        }
        // the first message after a release (and the first of all) is
        // compressed by a pooled compressor given back at its end, so the
        // second one also starts without context; from the third on the
        // connection's own compressor refers back. The decoder (pooled for
        // the first message, then its own, primed from the history) reads
        // every one.
        assert!(sizes[1] == sizes[0] && sizes[2] < sizes[0], "{sizes:?}");
        assert!(sizes[3] == sizes[0] && sizes[4] == sizes[0] && sizes[5] == sizes[2], "{sizes:?}");
    }

    /// A connection that sends and receives one message per idle period (a
    /// tag stream every few seconds) holds no codec between its messages and
    /// creates none per message: both come from the pools and go back.
    #[test]
    fn sparse_messages_use_pooled_codecs_and_create_none() {
        // settings no other test uses, so that no parallel test takes from
        // these pools
        let a = agreed(11, 11, false, false, 3, 7);
        let mut c = Compressor::new(&a, Arc::default());
        let mut i = Inflater::new(&a, Arc::default());
        let m = b"{\"tag\":\"plant.line7.valve2.position\",\"value\":41.5}".repeat(4);
        let mut mapped = Vec::new();
        for _ in 0..4 {
            let mut out = Vec::new();
            c.compress(&m, true, false, &mut out).unwrap();
            assert_eq!(inflate_msg(&mut i, &out).unwrap(), m);
            assert!(!c.holds_state() && i.z.is_none(), "nothing held after a sparse message");
            mapped.push(zstream::mapped_here());
            // the connection stays idle past two sweeps
            for _ in 0..2 {
                c.trim();
                i.trim();
            }
        }
        #[cfg(unix)]
        assert!(mapped[0] > 0, "the first message created the codecs: {mapped:?}");
        assert!(mapped.iter().all(|&m| m == mapped[0]), "no codec created after the first: {mapped:?}");
        // a second message within the same period: the connection's own
        // compressor and decoder, kept for the context
        for _ in 0..2 {
            let mut out = Vec::new();
            c.compress(&m, true, false, &mut out).unwrap();
            assert_eq!(inflate_msg(&mut i, &out).unwrap(), m);
        }
        assert!(c.holds_state() && i.z.is_some(), "a busy connection keeps its codecs");
    }

    #[test]
    fn history_keeps_the_last_bytes_in_order() {
        let mut h = History { cap: 10, ..History::default() };
        h.push(b"abc");
        assert_eq!(h.contiguous(), b"abc");
        h.push(b"defghij");
        assert_eq!(h.contiguous(), b"abcdefghij");
        h.push(b"klm");
        assert_eq!(h.contiguous(), b"defghijklm");
        h.push(b"0123456789abc");
        assert_eq!(h.contiguous(), b"3456789abc");
        h.push(b"XY");
        assert_eq!(h.contiguous(), b"56789abcXY");
        assert!(h.buf.capacity() <= 10);
    }

    #[test]
    fn a_final_block_ends_the_message_and_context_carries_on() {
        // a server that ends each message with BFINAL (RFC 7692 7.2.3.3):
        // the next message refers back to the previous one
        let m1 = b"hello hello hello websocket world".to_vec();
        let m2 = b"websocket world hello".to_vec();
        let mut z = zlib_rs::Deflate::new(6, false, 15);
        let mut w1 = vec![0u8; 200];
        z.compress(&m1, &mut w1, zlib_rs::DeflateFlush::Finish).unwrap();
        w1.truncate(z.total_out() as usize);
        // message 2 with m1 as the dictionary (context takeover)
        let mut z2 = zlib_rs::Deflate::new(6, false, 15);
        z2.set_dictionary(&m1).unwrap();
        let mut w2 = vec![0u8; 200];
        z2.compress(&m2, &mut w2, zlib_rs::DeflateFlush::Finish).unwrap();
        w2.truncate(z2.total_out() as usize);
        let a = agreed(15, 15, false, false, 6, 8);
        let mut i = Inflater::new(&a, Arc::default());
        assert_eq!(inflate_msg(&mut i, &w1).unwrap(), m1);
        assert_eq!(inflate_msg(&mut i, &w2).unwrap(), m2);
    }
}
