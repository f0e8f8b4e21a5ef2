use std::ffi::{CStr, CString};
use std::net::TcpListener;
use std::ptr;
use std::time::{Duration, Instant};
use wsclient::*;

fn echo_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let s = s.unwrap();
            std::thread::spawn(move || {
                let mut ws = tungstenite::accept(s).unwrap();
                loop {
                    match ws.read() {
                        Ok(m) if m.is_text() || m.is_binary() => ws.send(m).unwrap(),
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
            });
        }
    });
    port
}

/// Upgrades then says nothing, answers nothing (a dead peer).
fn silent_after_upgrade() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let s = s.unwrap();
            std::thread::spawn(move || {
                let _ws = tungstenite::accept(s).unwrap();
                std::thread::sleep(Duration::from_secs(30));
            });
        }
    });
    port
}

fn err() -> String {
    unsafe { CStr::from_ptr(ws_last_error()).to_string_lossy().into_owned() }
}

fn ev_zero() -> ws_event {
    unsafe { std::mem::zeroed() }
}

#[test]
fn events_flow() {
    let port = echo_server();
    let q = ws_queue_create();
    assert!(q > 0);
    let url = CString::new(format!("ws://127.0.0.1:{port}/")).unwrap();
    let opts = CString::new(format!("{{\"queue\":{q}}}")).unwrap();
    let s = ws_open_async(url.as_ptr(), opts.as_ptr());
    assert!(s > 0, "{}", err());
    let mut ev = ev_zero();
    assert_eq!(ws_next_event(q, &mut ev, 5000), 0, "{}", err());
    assert_eq!((ev.r#type, ev.socket, ev.code), (WS_EV_OPEN, s, 101));
    assert_eq!(ws_state(s), WS_STATE_OPEN);
    for i in 0..1000 {
        let m = format!("m{i}");
        assert_eq!(ws_write(s, m.as_ptr().cast(), m.len(), WS_TEXT | WS_MORE), 0);
    }
    assert_eq!(ws_flush(s, 5000), 0);
    for i in 0..1000 {
        assert_eq!(ws_next_event(q, &mut ev, 5000), 0, "{}", err());
        assert_eq!(ev.r#type, WS_EV_MESSAGE);
        let d = unsafe { std::slice::from_raw_parts(ev.data as *const u8, ev.len) };
        assert_eq!(d, format!("m{i}").as_bytes());
    }
    assert_eq!(ws_ping(s, b"hi".as_ptr().cast(), 2), 0);
    assert_eq!(ws_next_event(q, &mut ev, 5000), 0);
    assert_eq!(ev.r#type, WS_EV_PONG);
    assert!(ev.rtt_us >= 0);
    assert_eq!(ws_close(s, 0, ptr::null()), 0);
    assert_eq!(ws_next_event(q, &mut ev, 5000), 0);
    assert_eq!((ev.r#type, ev.closed_by), (WS_EV_CLOSE, WS_BY_CLIENT), "{}", ev.code);
    assert_eq!(ws_next_event(q, &mut ev, 200), -2);
}

#[test]
fn keepalive_detects_dead_server_blocking_read() {
    let port = silent_after_upgrade();
    let url = CString::new(format!("ws://127.0.0.1:{port}/")).unwrap();
    let opts = CString::new("{\"pingInterval\":300,\"pongTimeout\":300}").unwrap();
    let s = ws_open(url.as_ptr(), opts.as_ptr());
    assert!(s > 0, "{}", err());
    let t = Instant::now();
    let mut p: *const std::ffi::c_void = ptr::null();
    let mut len = 0usize;
    let r = ws_read(s, &mut p, &mut len, ptr::null_mut(), -1);
    let el = t.elapsed();
    assert_eq!(r, -1, "{}", err());
    assert_eq!(ws_last_error_code(), WS_E_HEALTH_CHECK, "{}", err());
    println!("{} after {:?}", err(), el);
    assert!(el >= Duration::from_millis(550) && el < Duration::from_millis(1500), "{el:?}");
    assert_eq!(ws_close(s, 0, ptr::null()), 0);
}

#[test]
fn keepalive_detects_dead_server_events() {
    let port = silent_after_upgrade();
    let q = ws_queue_create();
    let url = CString::new(format!("ws://127.0.0.1:{port}/")).unwrap();
    let opts = CString::new(format!("{{\"queue\":{q},\"pingInterval\":300,\"pongTimeout\":300}}")).unwrap();
    let s = ws_open(url.as_ptr(), opts.as_ptr());
    assert!(s > 0, "{}", err());
    let t = Instant::now();
    let mut ev = ev_zero();
    assert_eq!(ws_next_event(q, &mut ev, 5000), 0);
    assert_eq!(ev.r#type, WS_EV_OPEN);
    assert_eq!(ws_next_event(q, &mut ev, 5000), 0);
    assert_eq!((ev.r#type, ev.code), (WS_EV_ERROR, WS_E_HEALTH_CHECK));
    let el = t.elapsed();
    assert!(el >= Duration::from_millis(550) && el < Duration::from_millis(1500), "{el:?}");
    assert_eq!(ws_next_event(q, &mut ev, 5000), 0);
    assert_eq!((ev.r#type, ev.code, ev.closed_by), (WS_EV_CLOSE, 1006, WS_BY_ERROR));
    assert_eq!(ws_close(s, 0, ptr::null()), 0);
    assert_eq!(ws_next_event(q, &mut ev, 200), -2);
}
