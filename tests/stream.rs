//! Issue "Streaming": messages sent and received in pieces through the C
//! ABI (ws_write_part, ws_read_part, WS_EV_MESSAGE_PART), with memory that
//! does not grow with the message: 1 GiB each way through a frame-by-frame
//! echo server while the process's RSS is sampled; UTF-8 split across
//! pieces both ways; control frames between fragments; the close while a
//! message is half sent; 0-byte pieces; the rules that keep whole-message
//! calls and pieces apart; limits in stream mode.

mod support;

use std::ffi::c_int;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

struct EchoProc {
    child: Child,
    port: u16,
}

impl Drop for EchoProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// wsclient-echo-server --frames: echoes frame by frame, never a whole message.
fn frame_echo() -> EchoProc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsclient-echo-server"))
        .arg("--frames")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start wsclient-echo-server --frames");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("LISTENING line");
    let port = line.trim().strip_prefix("LISTENING ").and_then(|p| p.parse().ok()).expect("LISTENING <port>");
    EchoProc { child, port }
}

fn write_part(s: c_int, data: &[u8], flags: c_int) -> c_int {
    ws_write_part(s, data.as_ptr().cast(), data.len(), flags)
}

/// One ws_read_part into a buffer of `cap`: (rc, part, bytes).
fn read_part(s: c_int, cap: usize, timeout_ms: c_int) -> (c_int, ws_part, Vec<u8>) {
    let mut buf = vec![0u8; cap];
    // SAFETY: all-zero is a valid ws_part
    let mut p: ws_part = unsafe { std::mem::zeroed() };
    let r = ws_read_part(s, buf.as_mut_ptr().cast(), cap, &mut p, timeout_ms);
    buf.truncate(if r == WS_OK { p.len } else { 0 });
    (r, p, buf)
}

/// Reads a whole message in pieces; checks offsets and types on the way.
fn read_message_in_parts(s: c_int, cap: usize, from: usize) -> (c_int, Vec<u8>) {
    let mut out = Vec::new();
    let mut ty = 0;
    loop {
        let (r, p, b) = read_part(s, cap, 5000);
        assert_eq!(r, WS_OK, "ws_read_part: {}", describe());
        assert_eq!(p.offset as usize, from + out.len(), "pieces come in order");
        assert!(ty == 0 || ty == p.r#type, "one type per message");
        ty = p.r#type;
        out.extend_from_slice(&b);
        if p.last == 1 {
            return (ty, out);
        }
    }
}

/// A server that hands each client frame back to the test (for checks of
/// what the client sent) until the client's close frame, answering pings.
/// It never stops earlier: a server that shut the connection after the first
/// message would race the client's later writes.
fn frames_seen(p: &mut Peer) -> Vec<Frame> {
    let mut seen = Vec::new();
    loop {
        match p.read_frame(secs(5)) {
            Ok(Some(f)) => {
                let close = f.opcode == OP_CLOSE;
                if f.opcode == OP_PING {
                    p.frame(true, OP_PONG, &f.payload);
                }
                seen.push(f);
                if close {
                    return seen;
                }
            }
            _ => return seen,
        }
    }
}

#[test]
fn pieces_go_out_as_fragments_with_utf8_split_across_them() {
    let _w = watchdog("pieces_go_out_as_fragments_with_utf8_split_across_them", secs(30));
    let srv = serve_ws(frames_seen);
    let s = open_ok(&srv.url("/"), Some(r#"{"pingInterval":0}"#));
    let text = "grüße 🌍".as_bytes();
    // split inside "ü" and inside the 4-byte emoji
    let (a, rest) = text.split_at(3);
    let (b, c) = rest.split_at(rest.len() - 2);
    assert_eq!(write_part(s, a, WS_TEXT | WS_CONT), WS_OK, "{}", describe());
    assert_eq!(ws_ping(s, b"between".as_ptr().cast(), 7), WS_OK, "a ping between fragments");
    assert_eq!(write_part(s, b, WS_CONT), WS_OK, "{}", describe());
    // a whole-message write while one is unfinished
    assert_eq!(write(s, b"x", WS_TEXT), WS_ERROR);
    assert_error(WS_E_MESSAGE_UNFINISHED, &["ws_write_part"]);
    // an invalid sequence is refused, nothing of it sent, the message stays open
    assert_eq!(write_part(s, &[0xff], WS_CONT), WS_ERROR);
    assert_error(WS_E_INVALID_ARGUMENT, &["not valid UTF-8"]);
    assert_eq!(write_part(s, b"", WS_BINARY | WS_CONT), WS_ERROR, "a later piece cannot change the type");
    assert_eq!(write_part(s, c, 0), WS_OK, "{}", describe());
    // a 0-byte final piece
    assert_eq!(write_part(s, b"0", WS_BINARY | WS_CONT), WS_OK);
    assert_eq!(write_part(s, b"", 0), WS_OK, "{}", describe());
    let _ = close(s);
    let frames = srv.join();
    let data: Vec<&Frame> = frames.iter().filter(|f| f.opcode != OP_PING).collect();
    assert_eq!(data.len(), 6, "two messages and the close: {frames:?}");
    assert_eq!(data[0].opcode, OP_TEXT);
    assert!(!data[0].fin);
    assert_eq!((data[1].opcode, data[1].fin), (OP_CONT, false));
    assert_eq!((data[2].opcode, data[2].fin), (OP_CONT, true));
    let joined: Vec<u8> = data[..3].iter().flat_map(|f| f.payload.clone()).collect();
    assert_eq!(joined, text);
    assert_eq!((data[3].opcode, data[3].fin, data[3].payload.as_slice()), (OP_BINARY, false, &b"0"[..]));
    assert_eq!((data[4].opcode, data[4].fin, data[4].payload.len()), (OP_CONT, true, 0));
    assert_eq!(data[5].opcode, OP_CLOSE);
    let ping = frames.iter().position(|f| f.opcode == OP_PING).expect("the ping");
    assert!(ping > 0 && ping < 3, "the ping went between the fragments: {frames:?}");
}

#[test]
fn the_end_of_a_message_needs_complete_utf8() {
    let _w = watchdog("the_end_of_a_message_needs_complete_utf8", secs(30));
    let srv = serve_ws(frames_seen);
    let s = open_ok(&srv.url("/"), Some(r#"{"pingInterval":0}"#));
    let e = "é".as_bytes();
    assert_eq!(write_part(s, &e[..1], WS_TEXT | WS_CONT), WS_OK);
    assert_eq!(write_part(s, b"", 0), WS_ERROR, "the message cannot end inside a code point");
    assert_error(WS_E_INVALID_ARGUMENT, &["UTF-8"]);
    assert_eq!(write_part(s, &e[1..], 0), WS_OK, "{}", describe());
    close_ok(s);
    let frames = srv.join();
    let payload: Vec<u8> = frames.iter().filter(|f| f.opcode <= OP_BINARY).flat_map(|f| f.payload.clone()).collect();
    assert_eq!(payload, e);
}

#[test]
fn received_text_pieces_are_valid_utf8_each_and_control_frames_go_between() {
    let _w = watchdog("received_text_pieces_are_valid_utf8_each_and_control_frames_go_between", secs(30));
    let text = "αβγ-😀-end".repeat(20_000).into_bytes();
    let t2 = text.clone();
    let srv = serve_ws(move |p| {
        use std::io::Write;
        // three fragments with a ping between; TCP writes of 1 byte for the
        // first 40 bytes so that code points arrive split
        let (a, b) = t2.split_at(37);
        let (b, c) = b.split_at(b.len() / 2);
        let f1 = encode(OP_TEXT, a, None);
        for byte in &f1 {
            p.stream.write_all(std::slice::from_ref(byte)).unwrap();
        }
        p.ping(b"mid");
        p.frame(false, OP_CONT, b);
        p.frame(true, OP_CONT, c);
        let pong = p.expect_frame(secs(5));
        assert_eq!((pong.opcode, pong.payload.as_slice()), (OP_PONG, &b"mid"[..]));
        let _ = p.read_until_close(secs(5));
    });
    let s = open_ok(&srv.url("/"), Some(r#"{"streamReceive":true,"pingInterval":0}"#));
    // whole-message reads are refused on a streaming socket
    assert!(matches!(read(s, 100), Got::Error(WS_E_INVALID_ARGUMENT)));
    let mut out = Vec::new();
    let mut pieces = 0;
    loop {
        let (r, p, b) = read_part(s, 1000, 5000);
        assert_eq!(r, WS_OK, "{}", describe());
        assert_eq!(p.r#type, WS_TEXT);
        assert!(std::str::from_utf8(&b).is_ok(), "piece {pieces} is valid UTF-8 on its own");
        out.extend_from_slice(&b);
        pieces += 1;
        if p.last == 1 {
            break;
        }
    }
    assert_eq!(out, text);
    assert!(pieces > 3, "{pieces} pieces");
    close_ok(s);
    srv.join();
}

#[test]
fn pieces_of_whole_messages_on_an_ordinary_socket() {
    let _w = watchdog("pieces_of_whole_messages_on_an_ordinary_socket", secs(30));
    let echo = echo_server();
    let s = open_ok(&echo.url(), None);
    let big = binary_payload(300_000, 3);
    write_ok(s, &big, WS_BINARY);
    write_ok(s, b"", WS_TEXT);
    write_ok(s, b"next", WS_TEXT);
    let (r, p, first) = read_part(s, 1000, 5000);
    assert_eq!((r, p.offset, p.last, p.r#type), (WS_OK, 0, 0, WS_BINARY));
    // half read: whole-message reads wait for the rest to be read in pieces
    assert!(matches!(read(s, 100), Got::Error(WS_E_MESSAGE_UNFINISHED)), "{}", describe());
    let (ty, mut rest) = read_message_in_parts(s, 70_000, first.len());
    assert_eq!(ty, WS_BINARY);
    let mut all = first;
    all.append(&mut rest);
    assert_eq!(all, big);
    // a 0-byte message: one 0-byte last piece
    let (r, p, b) = read_part(s, 10, 5000);
    assert_eq!((r, p.len, p.last, p.r#type, b.len()), (WS_OK, 0, 1, WS_TEXT, 0));
    // and back to whole messages
    assert_eq!(read_msg(s, 5000).1, b"next");
    close_ok(s);
}

#[test]
fn closing_while_a_message_is_half_sent() {
    let _w = watchdog("closing_while_a_message_is_half_sent", secs(30));
    let srv = serve_ws(frames_seen);
    let s = open_ok(&srv.url("/"), Some(r#"{"pingInterval":0}"#));
    assert_eq!(write_part(s, b"first half", WS_BINARY | WS_CONT), WS_OK);
    close_ok(s);
    assert_eq!(write_part(s, b"second half", 0), WS_ERROR);
    assert_error(WS_E_BAD_SOCKET, &[]);
    let frames = srv.join();
    assert_eq!((frames[0].opcode, frames[0].fin), (OP_BINARY, false));
    assert_eq!(frames[1].opcode, OP_CLOSE, "the close frame follows the current frame: {frames:?}");
}

#[test]
fn a_server_that_closes_while_we_stream_gives_a_clear_code() {
    let _w = watchdog("a_server_that_closes_while_we_stream_gives_a_clear_code", secs(30));
    let srv = serve_ws(|p| {
        let _ = p.read_frame(secs(5));
        p.close(1001, "going away");
        let _ = p.read_until_close(secs(5));
    });
    let s = open_ok(&srv.url("/"), Some(r#"{"pingInterval":0}"#));
    assert_eq!(write_part(s, b"a", WS_BINARY | WS_CONT), WS_OK);
    assert_eq!(read(s, 5000), Got::Closed);
    assert_eq!(write_part(s, b"b", 0), WS_ERROR);
    assert_error(WS_E_CLOSED, &["closed by the server (1001 going away)"]);
    close_ok(s);
    srv.join();
}

#[test]
fn stream_mode_limits_and_events() {
    let _w = watchdog("stream_mode_limits_and_events", secs(30));
    // maxMessageSize bounds the whole streamed message
    let srv = serve_ws(|p| {
        p.frame(false, OP_BINARY, &[1u8; 600]);
        p.frame(true, OP_CONT, &[2u8; 600]);
        p.read_until_close(secs(5)).0.and_then(|f| f.close_code())
    });
    let s = open_ok(&srv.url("/"), Some(r#"{"streamReceive":true,"maxMessageSize":1000,"pingInterval":0}"#));
    let (r, p, _) = read_part(s, 100_000, 5000);
    assert_eq!((r, p.len, p.last), (WS_OK, 600, 0), "{}", describe());
    let (r, _, _) = read_part(s, 100_000, 5000);
    assert_eq!(r, WS_ERROR);
    assert_error(WS_E_MESSAGE_TOO_BIG, &["maxMessageSize is 1000"]);
    close_ok(s);
    assert_eq!(srv.join().map(|c| c.0), Some(1009));
    // 0 (no limit) only in stream mode
    assert_eq!(open("ws://127.0.0.1:9/", Some(r#"{"maxMessageSize":0}"#)), WS_ERROR);
    assert_error(WS_E_INVALID_OPTIONS, &["streamReceive"]);
    // pieces as events
    let echo = frame_echo();
    let q = queue_create();
    let s = open_ok(
        &format!("ws://127.0.0.1:{}/", echo.port),
        Some(&format!(r#"{{"queue":{q},"streamReceive":true,"pingInterval":0}}"#)),
    );
    assert_eq!(expect_event(q, 3000).ty, WS_EV_OPEN);
    let big = binary_payload(1 << 20, 9);
    for (k, piece) in big.chunks(100_000).enumerate() {
        let flags = if k == 0 { WS_BINARY } else { 0 } | if (k + 1) * 100_000 < big.len() { WS_CONT } else { 0 };
        assert_eq!(write_part(s, piece, flags), WS_OK);
    }
    let mut got = Vec::new();
    let deadline = Instant::now() + secs(10);
    loop {
        assert!(Instant::now() < deadline, "pieces so far: {}", got.len());
        let e = expect_event(q, 5000);
        assert_eq!(e.ty, WS_EV_MESSAGE_PART, "{}", e.brief());
        assert_eq!((e.msg_type, e.rtt_us as usize), (WS_BINARY, got.len()));
        got.extend_from_slice(&e.data);
        if e.code == 1 {
            break;
        }
    }
    assert_eq!(got, big);
    close_ok(s);
    assert_eq!(ws_queue_destroy(q), WS_OK);
}

#[test]
fn invalid_utf8_in_a_streamed_text_message_fails_when_seen() {
    let _w = watchdog("invalid_utf8_in_a_streamed_text_message_fails_when_seen", secs(30));
    let srv = serve_ws(|p| {
        p.frame(false, OP_TEXT, b"fine so far ");
        p.frame(true, OP_CONT, &[b'x', 0xc0, 0x80]);
        p.read_until_close(secs(5)).0.and_then(|f| f.close_code())
    });
    let s = open_ok(&srv.url("/"), Some(r#"{"streamReceive":true,"pingInterval":0}"#));
    let (r, p, b) = read_part(s, 1000, 5000);
    assert_eq!((r, b.as_slice()), (WS_OK, &b"fine so far "[..]), "{}", describe());
    assert_eq!(p.last, 0);
    let (r, _, _) = read_part(s, 1000, 5000);
    assert_eq!(r, WS_ERROR);
    assert_error(WS_E_INVALID_UTF8, &[]);
    close_ok(s);
    assert_eq!(srv.join().map(|c| c.0), Some(1007));
}

#[test]
fn text_read_ahead_whole_comes_in_whole_code_points() {
    let _w = watchdog("text_read_ahead_whole_comes_in_whole_code_points", secs(30));
    let echo = echo_server();
    let s = open_ok(&echo.url(), Some(r#"{"pingInterval":0}"#));
    let text = "ü".repeat(1000);
    write_ok(s, text.as_bytes(), WS_TEXT);
    // the background thread reads the echo ahead, whole
    let deadline = Instant::now() + secs(10);
    while get_info(s).messages_received < 1 {
        assert!(Instant::now() < deadline, "the echo was not read ahead");
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut out = Vec::new();
    loop {
        let (r, p, b) = read_part(s, 5, 5000);
        assert_eq!(r, WS_OK, "{}", describe());
        assert!(std::str::from_utf8(&b).is_ok(), "a piece cut a code point: {b:?}");
        out.extend_from_slice(&b);
        if p.last == 1 {
            break;
        }
    }
    assert_eq!(out, text.as_bytes());
    close_ok(s);
}
