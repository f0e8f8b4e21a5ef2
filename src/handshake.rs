//! The HTTP upgrade (RFC 6455 section 4.1): the request we send and the
//! validation of the server's response. Validation is ours, not tungstenite's,
//! because tungstenite 0.30 rejects the legal `Connection: keep-alive, Upgrade`
//! and accepts an extension or subprotocol that was never offered.
#![deny(unsafe_code)]

use crate::error::{Code, Error, Result};
use crate::options::{Options, Target};

pub(crate) const USER_AGENT: &str = concat!("wsclient/", env!("CARGO_PKG_VERSION"));
/// Upper bound for the response head, so that a server that never ends its
/// headers cannot make us buffer without limit.
pub(crate) const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// Upper bound for the number of header lines in the response head.
pub(crate) const MAX_RESPONSE_HEADERS: usize = 256;

/// What the server answered, kept for readback after open.
#[derive(Clone, Debug, Default)]
pub struct Upgrade {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub subprotocol: Option<String>,
    /// wss://: what TLS negotiated and the server's certificate (filled in
    /// by `connect` after the upgrade).
    pub tls: Option<crate::tls::TlsSummary>,
    /// permessage-deflate as agreed, when offered and accepted.
    pub deflate: Option<crate::deflate::Agreed>,
    /// The proxy the connection went through, if any (filled in by
    /// `connect`; `ws_get_proxy_info`).
    pub proxy: Option<crate::proxy::Used>,
}

impl Upgrade {
    /// All values of header `name` (case-insensitive), in the order sent,
    /// joined with ", " as RFC 9110 section 5.3 allows; Set-Cookie, whose
    /// values contain commas (Expires dates) and which must not be combined
    /// (RFC 6265 section 3), is joined with "\n" instead.
    pub fn header(&self, name: &str) -> Option<String> {
        let vals: Vec<&str> =
            self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect();
        if vals.is_empty() {
            None
        } else if name.eq_ignore_ascii_case("set-cookie") {
            Some(vals.join("\n"))
        } else {
            Some(vals.join(", "))
        }
    }

    /// The header block as "Name: value\r\n" lines.
    pub fn raw_headers(&self) -> String {
        let mut s = String::new();
        for (n, v) in &self.headers {
            s.push_str(n);
            s.push_str(": ");
            s.push_str(v);
            s.push_str("\r\n");
        }
        s
    }
}

/// The subprotocols we offer: the "subprotocols" option, or what the caller
/// put in a Sec-WebSocket-Protocol header (which replaces ours).
pub fn offered_subprotocols(opts: &Options) -> Vec<String> {
    let mut given = opts.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-protocol")).peekable();
    if given.peek().is_none() {
        return opts.subprotocols.clone();
    }
    // one header or several lines (an array value): all are offered
    given.flat_map(|(_, v)| v.split(',')).map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// Builds the upgrade request. Caller headers replace ours of the same name.
pub fn build_request(target: &Target, opts: &Options, key: &str) -> Vec<u8> {
    let has = |name: &str| opts.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let mut r = String::with_capacity(256);
    r.push_str("GET ");
    r.push_str(&target.resource);
    r.push_str(" HTTP/1.1\r\n");
    if !has("host") {
        r.push_str("Host: ");
        r.push_str(&target.host_header);
        r.push_str("\r\n");
    }
    r.push_str("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ");
    r.push_str(key);
    r.push_str("\r\nSec-WebSocket-Version: 13\r\n");
    if !opts.subprotocols.is_empty() && !has("sec-websocket-protocol") {
        r.push_str("Sec-WebSocket-Protocol: ");
        r.push_str(&opts.subprotocols.join(", "));
        r.push_str("\r\n");
    }
    if let Some(auth) = &target.basic_auth {
        if !has("authorization") {
            r.push_str("Authorization: ");
            r.push_str(auth);
            r.push_str("\r\n");
        }
    }
    if let Some(c) = &opts.compression {
        r.push_str("Sec-WebSocket-Extensions: ");
        r.push_str(&crate::deflate::offer(c));
        r.push_str("\r\n");
    }
    if !has("user-agent") {
        r.push_str("User-Agent: ");
        r.push_str(USER_AGENT);
        r.push_str("\r\n");
    }
    for (n, v) in &opts.headers {
        r.push_str(n);
        r.push_str(": ");
        r.push_str(v);
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    r.into_bytes()
}

fn hs_err(code: Code, peer: &str, why: impl std::fmt::Display) -> Error {
    Error::new(code, format!("upgrade with {peer}: {why}"))
}

/// Parses the response head in `buf`. Ok(None): incomplete. Ok(Some(n, u)):
/// the head is `buf[..n]` and validated; bytes after it are WebSocket frames.
///
/// Line ends may be CRLF or a bare LF (RFC 9112 section 2.2 lets a recipient
/// accept LF alone; embedded servers send it). The status line must be
/// HTTP/1.1: RFC 6455 section 4.1 requires an HTTP/1.1 101 and HTTP/1.0 has no
/// protocol upgrade, so an HTTP/1.0 101 fails; another HTTP/1.0 status is
/// still reported as the rejection it is. An error after a complete head
/// carries its status and header lines ([`Error::http`]). `compression`:
/// what we offered of permessage-deflate (None: no extension offered, so an
/// answer naming one fails).
/// Long on purpose: it reads as the checklist of RFC 6455 section 4.1 (status
/// line, then each required header in the RFC's order), each check with its
/// own message; split up, the order of the checks would be harder to audit.
pub fn parse_response(
    buf: &[u8],
    key: &str,
    offered: &[String],
    compression: Option<&crate::deflate::Config>,
    peer: &str,
) -> Result<Option<(usize, Upgrade)>> {
    if buf.len() >= 2 && matches!(buf[0], 0x15 | 0x16) && buf[1] == 0x03 {
        // a TLS record (alert or handshake, version 3.x) where HTTP belongs
        return Err(hs_err(
            Code::Handshake,
            peer,
            "the server answered with TLS, not HTTP: the server speaks TLS: use wss://",
        ));
    }
    if buf.len() == 1 && matches!(buf[0], 0x15 | 0x16) {
        return Ok(None); // the second byte tells TLS from garbage
    }
    // uninitialised slots: parsing does not first zero 256 of them (8 KiB)
    let mut headers = [const { std::mem::MaybeUninit::<httparse::Header>::uninit() }; MAX_RESPONSE_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let n = match httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut resp, buf, &mut headers) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() >= MAX_RESPONSE_HEAD {
                return Err(hs_err(
                    Code::Handshake,
                    peer,
                    format!("response head larger than {MAX_RESPONSE_HEAD} bytes (no end of the headers)"),
                ));
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(hs_err(
                Code::Handshake,
                peer,
                format!("response with more than {MAX_RESPONSE_HEADERS} header lines"),
            ));
        }
        Err(e) => {
            let first_line = String::from_utf8_lossy(buf.split(|&b| b == b'\n').next().unwrap_or(b""));
            let shown: String =
                first_line.trim_end().chars().take(80).map(|c| if c.is_control() { '?' } else { c }).collect();
            return Err(hs_err(Code::Handshake, peer, format!("malformed HTTP response ({e}): \"{shown}\"")));
        }
    };
    let status = resp.code.unwrap_or(0);
    if status < 100 {
        // three digits, but not a status (RFC 9110 section 15: 100..599)
        return Err(hs_err(Code::Handshake, peer, format!("malformed HTTP response (status {status:03})")));
    }
    let http10 = resp.version == Some(0);
    let reason = resp.reason.unwrap_or("").to_string();
    let hdrs: Vec<(String, String)> = resp
        .headers
        .iter()
        .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).trim().to_string()))
        .collect();
    let mut up = Upgrade { status, reason, headers: hdrs, subprotocol: None, tls: None, deflate: None, proxy: None };
    let fail = |up: &Upgrade, code: Code, why: String| -> Error {
        hs_err(code, peer, why).with_http(up.status, up.raw_headers())
    };
    if status != 101 {
        let reason = if up.reason.is_empty() { canonical_reason(status) } else { up.reason.as_str() };
        let version = if http10 { "HTTP/1.0" } else { "HTTP" };
        let mut msg = format!("upgrade rejected by {peer}: {version} {status} {reason}").trim_end().to_string();
        // The body often says why (nginx: "400 No required SSL certificate
        // was sent"); only what already arrived with the head is shown.
        if let Some(why) = body_excerpt(&buf[n..]) {
            msg.push_str(&format!(" (\"{why}\")"));
            if why.to_ascii_lowercase().contains("https port") {
                // nginx: "The plain HTTP request was sent to HTTPS port"
                msg.push_str(": the server speaks TLS: use wss://");
            }
        }
        return Err(Error::new(Code::UpgradeRejected, msg).with_http(up.status, up.raw_headers()));
    }
    if http10 {
        return Err(fail(
            &up,
            Code::Handshake,
            "the server answered HTTP/1.0 101; a WebSocket upgrade needs HTTP/1.1 (RFC 6455 section 4.1)".into(),
        ));
    }
    let has_token = |up: &Upgrade, name: &str, tok: &str| {
        up.header(name).is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(tok)))
    };
    if !has_token(&up, "upgrade", "websocket") {
        let got = up.header("upgrade").unwrap_or_default();
        return Err(fail(&up, Code::Handshake, format!("101 response without \"Upgrade: websocket\" (got {got:?})")));
    }
    if !has_token(&up, "connection", "upgrade") {
        let got = up.header("connection").unwrap_or_default();
        return Err(fail(&up, Code::Handshake, format!("101 response without \"Connection: Upgrade\" (got {got:?})")));
    }
    let want = tungstenite::handshake::derive_accept_key(key.as_bytes());
    match up.header("sec-websocket-accept") {
        Some(got) if got == want => {}
        Some(got) => {
            return Err(fail(&up, Code::BadAccept, format!("bad Sec-WebSocket-Accept \"{got}\" (expected \"{want}\")")))
        }
        None => return Err(fail(&up, Code::BadAccept, "missing Sec-WebSocket-Accept".into())),
    }
    if let Some(ext) = up.header("sec-websocket-extensions") {
        if !ext.trim().is_empty() {
            let Some(c) = compression else {
                return Err(fail(
                    &up,
                    Code::Handshake,
                    format!("server selected extension \"{ext}\" that was not offered"),
                ));
            };
            match crate::deflate::negotiate(c, &ext) {
                Ok(a) => up.deflate = Some(a),
                Err(why) => {
                    let shown: String = ext.chars().take(200).collect();
                    return Err(fail(
                        &up,
                        Code::Handshake,
                        format!(
                            "bad permessage-deflate answer \"{shown}\" (offered \"{}\"): {why}",
                            crate::deflate::offer(c)
                        ),
                    ));
                }
            }
        }
    }
    if let Some(p) = up.header("sec-websocket-protocol") {
        let p = p.trim().to_string();
        if offered.is_empty() {
            return Err(fail(
                &up,
                Code::Handshake,
                format!("server selected subprotocol \"{p}\" but none was offered"),
            ));
        }
        if !offered.contains(&p) {
            return Err(fail(
                &up,
                Code::Handshake,
                format!("server selected subprotocol \"{p}\" that was not offered ({})", offered.join(", ")),
            ));
        }
        up.subprotocol = Some(p);
    }
    Ok(Some((n, up)))
}

/// A short explanation from an error response body: an HTML page's
/// <title>, else the first non-empty line; printable, at most 120 chars.
fn body_excerpt(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    let lower = text.to_ascii_lowercase();
    let line = match (lower.find("<title>"), lower.find("</title>")) {
        (Some(a), Some(b)) if b > a + 7 => text[a + 7..b].to_string(),
        _ => text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('<'))?.to_string(),
    };
    let clean: String = line.trim().chars().filter(|c| !c.is_control()).take(120).collect();
    (!clean.is_empty()).then_some(clean)
}

fn canonical_reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        426 => "Upgrade Required",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{parse_options, parse_url};

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    fn resp(extra: &str) -> String {
        format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n{extra}\r\n")
    }

    #[test]
    fn request_replaces_headers() {
        let t = parse_url("ws://h:81/p?q").unwrap();
        let o =
            parse_options(Some(r#"{"headers":{"user-agent":"me","Host":"other"},"subprotocols":["a","b"]}"#)).unwrap();
        let r = String::from_utf8(build_request(&t, &o, KEY)).unwrap();
        assert!(r.starts_with("GET /p?q HTTP/1.1\r\n"));
        assert_eq!(r.matches("ost:").count(), 1, "{r}");
        assert_eq!(r.to_ascii_lowercase().matches("user-agent").count(), 1);
        assert!(r.contains("user-agent: me\r\n") && r.contains("Host: other\r\n"));
        assert!(r.contains("Sec-WebSocket-Protocol: a, b\r\n"));
        assert!(r.ends_with("\r\n\r\n"));
    }

    #[test]
    fn responses() {
        let ok = parse_response(resp("").as_bytes(), KEY, &[], None, "p").unwrap().unwrap();
        assert_eq!(ok.1.status, 101);
        assert!(parse_response(&resp("").as_bytes()[..20], KEY, &[], None, "p").unwrap().is_none());
        let offered = vec!["chat".to_string()];
        let up = parse_response(resp("Sec-WebSocket-Protocol: chat\r\n").as_bytes(), KEY, &offered, None, "p")
            .unwrap()
            .unwrap();
        assert_eq!(up.1.subprotocol.as_deref(), Some("chat"));
        for (r, code) in [
            (resp("Sec-WebSocket-Protocol: other\r\n"), Code::Handshake),
            (resp("Sec-WebSocket-Extensions: permessage-deflate\r\n"), Code::Handshake),
            (resp("").replace(ACCEPT, "AAAA"), Code::BadAccept),
            (resp("").replace("Upgrade: websocket", "Upgrade: h2c"), Code::Handshake),
            ("HTTP/1.1 401 Unauthorized\r\n\r\n".to_string(), Code::UpgradeRejected),
            ("garbage\r\n\r\n".to_string(), Code::Handshake),
        ] {
            let e = parse_response(r.as_bytes(), KEY, &offered, None, "p").unwrap_err();
            assert_eq!(e.code, code, "{r}: {}", e.msg);
        }
        // fuzz/seeds/upgrade_response/crash-status-000: not a status
        let e = parse_response(b"HTTP/1.1 000 Bad Request\r\n\r\n", KEY, &[], None, "p").unwrap_err();
        assert_eq!((e.code, e.msg.as_str()), (Code::Handshake, "upgrade with p: malformed HTTP response (status 000)"));
        assert!(e.http.is_none());
        let e = parse_response(b"HTTP/1.1 404 \r\n\r\n", KEY, &[], None, "127.0.0.1:1").unwrap_err();
        assert_eq!(e.msg, "upgrade rejected by 127.0.0.1:1: HTTP 404 Not Found");
        let r =
            b"HTTP/1.1 400 Bad Request\r\n\r\n<html>\r\n<head><title>400 No required SSL certificate was sent</title>";
        let e = parse_response(r, KEY, &[], None, "p").unwrap_err();
        assert_eq!(e.msg, "upgrade rejected by p: HTTP 400 Bad Request (\"400 No required SSL certificate was sent\")");
        assert_eq!(e.http.as_deref().map(|h| h.status), Some(400));
    }

    #[test]
    fn permessage_deflate_offer_and_answer() {
        let t = parse_url("ws://h/").unwrap();
        let o = parse_options(Some(r#"{"compression":{"serverMaxWindowBits":10}}"#)).unwrap();
        let r = String::from_utf8(build_request(&t, &o, KEY)).unwrap();
        assert!(
            r.contains(
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits; server_max_window_bits=10\r\n"
            ),
            "{r}"
        );
        let none = String::from_utf8(build_request(&t, &parse_options(None).unwrap(), KEY)).unwrap();
        assert!(!none.to_ascii_lowercase().contains("extensions"), "{none}");
        let c = o.compression.as_ref();
        let ok = resp(
            "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=9; client_max_window_bits=11\r\n",
        );
        let (_, up) = parse_response(ok.as_bytes(), KEY, &[], c, "p").unwrap().unwrap();
        let a = up.deflate.unwrap();
        assert_eq!((a.client_max_window_bits, a.server_max_window_bits), (11, 9));
        // declined: no header, no compression
        let (_, up) = parse_response(resp("").as_bytes(), KEY, &[], c, "p").unwrap().unwrap();
        assert!(up.deflate.is_none());
        // an answer that breaks the rules fails the handshake, naming why
        let bad = resp("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=11\r\n");
        let e = parse_response(bad.as_bytes(), KEY, &[], c, "p").unwrap_err();
        assert_eq!(e.code, Code::Handshake);
        assert!(
            e.msg.contains("bad permessage-deflate answer") && e.msg.contains("larger than the 10 offered"),
            "{}",
            e.msg
        );
        assert_eq!(e.http.as_deref().map(|h| h.status), Some(101));
        // split over two header lines, it is two extensions
        let two =
            resp("Sec-WebSocket-Extensions: permessage-deflate\r\nSec-WebSocket-Extensions: permessage-deflate\r\n");
        assert!(parse_response(two.as_bytes(), KEY, &[], c, "p").unwrap_err().msg.contains("2 extensions"));
    }

    #[test]
    fn repeated_headers_are_all_kept() {
        let r =
            resp("Set-Cookie: a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT\r\nX-A: 1\r\nSet-Cookie: b=2\r\nx-a: 2\r\n");
        let (_, up) = parse_response(r.as_bytes(), KEY, &[], None, "p").unwrap().unwrap();
        assert_eq!(up.header("X-A").as_deref(), Some("1, 2"));
        assert_eq!(up.header("set-cookie").as_deref(), Some("a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT\nb=2"));
        assert_eq!(up.raw_headers().matches("Set-Cookie: ").count(), 2);
        assert!(up.raw_headers().contains("X-A: 1\r\n") && up.raw_headers().contains("x-a: 2\r\n"));
    }

    #[test]
    fn line_ends_versions_and_tls() {
        // bare LF is accepted (RFC 9112 section 2.2), readback uses CRLF
        let lf = resp("").replace("\r\n", "\n");
        let (n, up) = parse_response(lf.as_bytes(), KEY, &[], None, "p").unwrap().unwrap();
        assert_eq!(n, lf.len());
        assert!(up.raw_headers().ends_with("\r\n") && !up.raw_headers().contains("\n\n"));
        // HTTP/1.0 101 is refused; HTTP/1.0 403 is the rejection it is
        let e = parse_response(resp("").replace("HTTP/1.1", "HTTP/1.0").as_bytes(), KEY, &[], None, "p").unwrap_err();
        assert_eq!(e.code, Code::Handshake);
        assert!(e.msg.contains("HTTP/1.0 101") && e.msg.contains("needs HTTP/1.1"), "{}", e.msg);
        assert_eq!(e.http.as_deref().map(|h| h.status), Some(101));
        let e = parse_response(b"HTTP/1.0 403 Forbidden\r\n\r\n", KEY, &[], None, "p").unwrap_err();
        assert_eq!((e.code, e.msg.as_str()), (Code::UpgradeRejected, "upgrade rejected by p: HTTP/1.0 403 Forbidden"));
        // a TLS alert / handshake record, even as its first two bytes
        for rec in [&[0x15u8, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46][..], &[0x16, 0x03], &[0x15, 0x03, 0x03]] {
            let e = parse_response(rec, KEY, &[], None, "p").unwrap_err();
            assert!(e.msg.contains("the server speaks TLS: use wss://"), "{}", e.msg);
            assert!(e.http.is_none());
        }
        assert!(parse_response(&[0x16], KEY, &[], None, "p").unwrap().is_none());
        assert!(parse_response(&[0x16, 0x04], KEY, &[], None, "p").unwrap_err().msg.contains("malformed"));
        // nginx's answer to plain HTTP on a TLS port
        let r = b"HTTP/1.1 400 Bad Request\r\n\r\n<html><head><title>400 The plain HTTP request was sent to HTTPS port</title>";
        assert!(parse_response(r, KEY, &[], None, "p").unwrap_err().msg.ends_with("use wss://"));
    }

    #[test]
    fn head_bounds() {
        let mut r = "HTTP/1.1 101 Switching Protocols\r\nX: ".to_string();
        r.push_str(&"a".repeat(MAX_RESPONSE_HEAD));
        let e = parse_response(r.as_bytes(), KEY, &[], None, "p").unwrap_err();
        assert!(e.msg.contains("larger than 65536 bytes"), "{}", e.msg);
        let many = (0..=MAX_RESPONSE_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect::<String>();
        let e = parse_response(resp(&many).as_bytes(), KEY, &[], None, "p").unwrap_err();
        assert!(e.msg.contains("more than 256 header lines"), "{}", e.msg);
    }

    #[test]
    fn array_headers_send_one_line_each() {
        let t = parse_url("ws://h/").unwrap();
        let o = parse_options(Some(r#"{"headers":{"Cookie":["a=1","b=2"],"Sec-WebSocket-Protocol":["x","y, z"]}}"#))
            .unwrap();
        let r = String::from_utf8(build_request(&t, &o, KEY)).unwrap();
        assert!(r.contains("Cookie: a=1\r\nCookie: b=2\r\n"), "{r}");
        assert_eq!(offered_subprotocols(&o), ["x", "y", "z"]);
    }
}
