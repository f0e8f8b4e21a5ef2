use std::ffi::{CStr, CString};
use std::net::TcpListener;
use std::ptr;
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

fn err() -> String {
    unsafe {
        CStr::from_ptr(ws_last_error())
            .to_string_lossy()
            .into_owned()
    }
}

#[test]
fn smoke() {
    let port = echo_server();
    let url = CString::new(format!("ws://127.0.0.1:{port}/")).unwrap();
    let s = ws_open(url.as_ptr(), ptr::null());
    assert!(s > 0, "{}", err());
    for n in [0usize, 5, 200, 70_000, 3 << 20] {
        let msg = vec![b'x'; n];
        assert_eq!(ws_write(s, msg.as_ptr().cast(), n, WS_TEXT), 0, "{}", err());
        let mut p: *const std::ffi::c_void = ptr::null();
        let mut len = 0usize;
        let mut ty = 0;
        assert_eq!(ws_read(s, &mut p, &mut len, &mut ty, 5000), 0, "{}", err());
        assert_eq!((len, ty), (n, WS_TEXT));
    }
    let mut p: *const std::ffi::c_void = ptr::null();
    let mut len = 0usize;
    assert_eq!(
        ws_read(s, &mut p, &mut len, ptr::null_mut(), 100),
        -2,
        "{}",
        err()
    );
    assert_eq!(ws_last_error_code(), WS_E_TIMEOUT);
    assert_eq!(ws_close(s, 0, ptr::null()), 0, "{}", err());
    assert_eq!(ws_close(s, 0, ptr::null()), -1);
    assert_eq!(ws_last_error_code(), WS_E_BAD_SOCKET);
    let bad = CString::new("ws://127.0.0.1:9/").unwrap();
    assert_eq!(ws_open(bad.as_ptr(), ptr::null()), -1);
    println!("{}", err());
}
