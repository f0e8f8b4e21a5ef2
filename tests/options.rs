//! Options and upgrade details a copy-paste user relies on, through the C
//! API against real servers on 127.0.0.1:
//! - `"headers"` values may be arrays (one request line each);
//! - repeated response headers: ws_response_header() joins them (", ", and
//!   "\n" for Set-Cookie), ws_response_headers() has every line;
//! - options JSON with a duplicate key fails, naming the key;
//! - after a refused upgrade, ws_last_http_status() and
//!   ws_last_response_headers() tell the status and headers (per thread,
//!   cleared by the next call, kept by the error getters);
//! - clear messages for ws:// to a TLS port, HTTP/1.0 and bare-LF responses.

mod support;
mod tls_support;

use std::io::{Read, Write};
use std::time::Duration;
use support::*;

const T: Duration = Duration::from_secs(30);

fn last_status() -> i32 {
    ws_last_http_status()
}

fn last_headers() -> String {
    from_c(ws_last_response_headers()).expect("ws_last_response_headers never returns NULL")
}

#[test]
fn header_arrays_send_one_line_per_value() {
    let _w = watchdog("header_arrays_send_one_line_per_value", T);
    let srv = serve_ws(|p| {
        p.close(1000, "");
        p.request.clone()
    });
    let opts = r#"{"headers": {"Cookie": ["a=1", "b=2"], "X-One": "v", "Sec-WebSocket-Protocol": ["chat", "v2"]}}"#;
    let s = open(&srv.url("/"), Some(opts));
    // the server did not choose a subprotocol: fine, both were offered
    assert!(s > 0, "{}", describe());
    let req = srv.join();
    assert_eq!(req.all("cookie"), ["a=1", "b=2"], "{}", req.raw);
    assert!(req.raw.contains("Cookie: a=1\r\nCookie: b=2\r\n"), "{}", req.raw);
    assert_eq!(req.all("x-one"), ["v"]);
    assert_eq!(req.all("sec-websocket-protocol"), ["chat", "v2"]);
    close(s);
    // Host twice would be refused by any server: refused here
    assert_eq!(open("ws://127.0.0.1:1/", Some(r#"{"headers": {"Host": ["a", "b"]}}"#)), WS_ERROR);
    assert_error(WS_E_INVALID_OPTIONS, &["\"headers\": \"Host\" may be sent only once"]);
    assert_eq!(open("ws://127.0.0.1:1/", Some(r#"{"headers": {"Cookie": []}}"#)), WS_ERROR);
    assert_error(WS_E_INVALID_OPTIONS, &["\"Cookie\"", "non-empty array of strings"]);
}

#[test]
fn repeated_response_headers_are_all_returned() {
    let _w = watchdog("repeated_response_headers_are_all_returned", T);
    let extra = "Set-Cookie: a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT\r\nX-Rep: first\r\n\
                 Set-Cookie: b=2\r\nx-rep: second\r\nX-Single: only\r\n";
    let srv = serve_ws_extra(extra, |p| {
        let _ = p.read_until_close(Duration::from_secs(10));
    });
    let s = open_ok(&srv.url("/"), None);
    let h = |name: &str| from_c(ws_response_header(s, cs(name).as_ptr()));
    assert_eq!(h("X-REP").as_deref(), Some("first, second"));
    assert_eq!(h("x-single").as_deref(), Some("only"));
    assert_eq!(h("set-cookie").as_deref(), Some("a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT\nb=2"));
    assert_eq!(h("X-Absent"), None);
    assert_eq!(last_code(), WS_E_OK);
    let all = from_c(ws_response_headers(s)).unwrap();
    for line in [
        "Set-Cookie: a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT\r\n",
        "X-Rep: first\r\n",
        "Set-Cookie: b=2\r\n",
        "x-rep: second\r\n",
        "X-Single: only\r\n",
    ] {
        assert_eq!(all.matches(line).count(), 1, "{line:?} in {all:?}");
    }
    // in the order sent
    assert!(all.find("X-Rep: first").unwrap() < all.find("x-rep: second").unwrap());
    close_ok(s);
    srv.join();
}

#[test]
fn duplicate_option_keys_are_errors_naming_the_key() {
    let _w = watchdog("duplicate_option_keys_are_errors_naming_the_key", T);
    for (opts, needles) in [
        (r#"{"timeout": 1000, "timeout": 5}"#, &["duplicate key \"timeout\""][..]),
        (r#"{"headers": {"X-A": "1", "X-A": "2"}}"#, &["duplicate key \"X-A\" in \"headers\""]),
        (
            r#"{"autoReconnect": {"maxDelay": 10, "maxDelay": 20}}"#,
            &["duplicate key \"maxDelay\" in \"autoReconnect\""],
        ),
        (
            r#"{"sslConfig": {"privateKey": {"password": "a", "password": "b"}}}"#,
            &["duplicate key \"password\" in \"sslConfig\".\"privateKey\""],
        ),
    ] {
        assert_eq!(open("ws://127.0.0.1:1/", Some(opts)), WS_ERROR, "{opts}");
        let mut n = vec!["argument error in options: "];
        n.extend_from_slice(needles);
        assert_error(WS_E_INVALID_OPTIONS, &n);
    }
    // ws_open_async checks its options the same way
    let u = cs("ws://127.0.0.1:1/");
    let o = cs(r#"{"pingInterval": 0, "pingInterval": 0}"#);
    assert_eq!(ws_open_async(u.as_ptr(), o.as_ptr()), WS_ERROR);
    assert_error(WS_E_INVALID_OPTIONS, &["duplicate key \"pingInterval\""]);
}

#[test]
fn refused_upgrade_status_and_headers_are_readable_after_the_failure() {
    let _w = watchdog("refused_upgrade_status_and_headers_are_readable_after_the_failure", T);
    // nothing before any failure
    assert_eq!(last_status(), 0);
    assert_eq!(last_headers(), "");
    let srv = serve_response(
        "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"plc\"\r\nX-Rep: 1\r\nX-Rep: 2\r\n\
         Content-Length: 0\r\n\r\n"
            .into(),
        Duration::from_millis(500),
    );
    assert_eq!(open(&srv.url("/"), Some(r#"{"timeout": 5000}"#)), WS_ERROR);
    assert_error(WS_E_UPGRADE_REJECTED, &["HTTP 401 Unauthorized"]);
    assert_eq!(last_status(), 401);
    let h = last_headers();
    assert_eq!(h, "WWW-Authenticate: Basic realm=\"plc\"\r\nX-Rep: 1\r\nX-Rep: 2\r\nContent-Length: 0\r\n");
    // the getters leave each other (and the error) alone; the pointer stays
    let p = ws_last_response_headers();
    let _ = ws_last_error();
    let _ = ws_last_error_code();
    assert_eq!(last_status(), 401);
    assert_eq!(ws_last_response_headers(), p);
    assert_eq!(from_c(p).unwrap(), h);
    // per thread: another thread sees nothing
    std::thread::spawn(|| {
        assert_eq!(ws_last_http_status(), 0);
        assert_eq!(from_c(ws_last_response_headers()).unwrap(), "");
    })
    .join()
    .unwrap();
    srv.join();
    // the next call clears it, successful or failing without HTTP
    assert_eq!(ws_state(-5), WS_ERROR);
    assert_eq!(last_status(), 0);
    assert_eq!(last_headers(), "");

    // a 101 with a wrong accept key: status 101 and its headers
    let srv = serve_response(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: wrong\r\n\r\n"
            .into(),
        Duration::from_millis(500),
    );
    assert_eq!(open(&srv.url("/"), None), WS_ERROR);
    assert_error(WS_E_BAD_ACCEPT, &["bad Sec-WebSocket-Accept"]);
    assert_eq!(last_status(), 101);
    assert!(last_headers().contains("Sec-WebSocket-Accept: wrong\r\n"), "{}", last_headers());
    srv.join();

    // a failure without an HTTP response: 0 and ""
    assert_eq!(open(&format!("ws://127.0.0.1:{}/", refused_port()), None), WS_ERROR);
    assert_eq!(last_code(), WS_E_CONNECT);
    assert_eq!((last_status(), last_headers()), (0, String::new()));

    // a successful open clears it
    let srv = serve_response("HTTP/1.1 403 Forbidden\r\n\r\n".into(), Duration::from_millis(300));
    assert_eq!(open(&srv.url("/"), None), WS_ERROR);
    assert_eq!(last_status(), 403);
    srv.join();
    let ok = serve_ws(|p| {
        let _ = p.read_until_close(Duration::from_secs(10));
    });
    let s = open_ok(&ok.url("/"), None);
    assert_eq!((last_status(), last_headers()), (0, String::new()));
    close_ok(s);
    ok.join();
}

#[test]
fn a_failed_blocking_reconnect_tells_the_refusal() {
    let _w = watchdog("a_failed_blocking_reconnect_tells_the_refusal", T);
    let l = listener();
    let port = l.local_addr().unwrap().port();
    let srv = serve_tcp_on(l.try_clone().unwrap(), move |s| {
        let mut p = upgrade_peer(s);
        p.close(1000, "go away");
        let _ = p.wait_eof(Duration::from_secs(10));
        // the reconnect is refused
        let mut s2 = accept_one(&l);
        let _ = read_request(&mut s2);
        s2.write_all(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\n\r\n").unwrap();
        let mut sink = [0u8; 64];
        let _ = s2.read(&mut sink);
    });
    let s = open_ok(&format!("ws://127.0.0.1:{port}/"), None);
    assert_eq!(read(s, 5000), Got::Closed);
    assert_eq!(ws_reconnect(s, 0), WS_ERROR);
    assert_error(WS_E_UPGRADE_REJECTED, &["HTTP 503"]);
    assert_eq!(last_status(), 503);
    assert_eq!(last_headers(), "Retry-After: 30\r\n");
    close(s);
    srv.join();
}

#[test]
fn ws_to_a_tls_port_says_use_wss() {
    let _w = watchdog("ws_to_a_tls_port_says_use_wss", T);
    // a server that answers plain HTTP with a TLS alert record (as many TLS
    // stacks do: a protocol_version / unexpected_message alert)
    let srv = serve_tcp(|mut s| {
        let mut b = [0u8; 4096];
        let _ = s.read(&mut b);
        s.write_all(&[0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46]).unwrap();
        std::thread::sleep(Duration::from_millis(200));
    });
    assert_eq!(open(&srv.url("/"), Some(r#"{"timeout": 5000}"#)), WS_ERROR);
    assert_error(WS_E_HANDSHAKE, &["the server speaks TLS: use wss://"]);
    assert_eq!(last_status(), 0);
    srv.join();
    // a real TLS server (OpenSSL), which may close without a word
    let cert = tls_support::make(&tls_support::Spec::server("localhost"), None, None);
    let tls = tls_support::TlsServer::start(&cert, Default::default());
    assert_eq!(open(&format!("ws://127.0.0.1:{}/", tls.port), Some(r#"{"timeout": 5000}"#)), WS_ERROR);
    // reset (WS_E_CONNECT) or closed (WS_E_HANDSHAKE) without an answer
    let code = last_code();
    assert!(code == WS_E_CONNECT || code == WS_E_HANDSHAKE, "{}", describe());
    assert!(last_error().ends_with("if the port speaks TLS, use wss://)"), "{}", describe());
}

#[test]
fn http10_and_bare_lf_responses() {
    let _w = watchdog("http10_and_bare_lf_responses", T);
    // HTTP/1.0 101 cannot be an upgrade (RFC 6455 4.1 asks HTTP/1.1)
    let srv = serve_response(
        "HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
            .into(),
        Duration::from_millis(300),
    );
    assert_eq!(open(&srv.url("/"), None), WS_ERROR);
    assert_error(WS_E_HANDSHAKE, &["HTTP/1.0 101", "needs HTTP/1.1"]);
    assert_eq!(last_status(), 101);
    srv.join();
    // another HTTP/1.0 status is the rejection it is
    let srv = serve_response("HTTP/1.0 403 Forbidden\r\n\r\n".into(), Duration::from_millis(300));
    assert_eq!(open(&srv.url("/"), None), WS_ERROR);
    assert_error(WS_E_UPGRADE_REJECTED, &["HTTP/1.0 403 Forbidden"]);
    srv.join();
    // bare LF line ends are accepted (RFC 9112 2.2), and frames right after
    // the head are not lost
    let srv = serve_tcp(|mut s| {
        let (req, _) = read_request(&mut s);
        let head = response_101(&req, "X-Lf: yes\r\n").replace("\r\n", "\n");
        let mut out = head.into_bytes();
        out.extend(encode(0x81, b"hi", None));
        s.write_all(&out).unwrap();
        let mut p = Peer::new(s, req, Vec::new());
        let _ = p.read_until_close(Duration::from_secs(10));
    });
    let s = open_ok(&srv.url("/"), None);
    assert_eq!(from_c(ws_response_header(s, cs("x-lf").as_ptr())).as_deref(), Some("yes"));
    assert!(from_c(ws_response_headers(s)).unwrap().contains("X-Lf: yes\r\n"));
    assert_eq!(read_msg(s, 5000), (WS_TEXT, b"hi".to_vec()));
    close_ok(s);
    srv.join();
}

#[test]
fn a_read_that_reports_a_refused_background_connect_tells_the_refusal() {
    let _w = watchdog("a_read_that_reports_a_refused_background_connect_tells_the_refusal", T);
    let srv = serve_response("HTTP/1.1 404 Not Found\r\nX-Why: gone\r\n\r\n".into(), Duration::from_millis(500));
    let s = open_async_ok(&srv.url("/nope"), None);
    assert_eq!(last_status(), 0);
    assert!(matches!(read(s, 10_000), Got::Error(WS_E_UPGRADE_REJECTED)), "{}", describe());
    assert_eq!(last_status(), 404);
    assert_eq!(last_headers(), "X-Why: gone\r\n");
    close(s);
    srv.join();
}
