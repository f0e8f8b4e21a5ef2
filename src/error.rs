//! The internal error type, the stable `WS_E_*` codes and the thread-local
//! last error behind `ws_last_error()` / `ws_last_error_code()`.
#![deny(unsafe_code)]

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::fmt;
use std::io;
use std::sync::Arc;

/// Stable error codes. Append-only: a code is never renumbered or reused.
/// The C names and documentation live in `ffi/` (`WS_E_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Code {
    Ok = 0,
    InvalidArgument = 1,
    InvalidUrl = 2,
    UnsupportedScheme = 3,
    InvalidOptions = 4,
    Dns = 5,
    Connect = 6,
    Tls = 7,
    TlsVerify = 8,
    UpgradeRejected = 9,
    BadAccept = 10,
    Handshake = 11,
    Protocol = 12,
    InvalidUtf8 = 13,
    MessageTooBig = 14,
    Closed = 15,
    Timeout = 16,
    BadSocket = 17,
    TooManySockets = 18,
    Io = 19,
    BufferTooSmall = 20,
    Internal = 21,
    ConnectionLost = 22,
    Pending = 23,
    HealthCheck = 24,
    NotOpen = 25,
    ProxyConnect = 26,
    ProxyRefused = 27,
    ProxyAuth = 28,
    ProxyTls = 29,
    ProxyProtocol = 30,
    MessageUnfinished = 31,
    Compression = 32,
}

/// An error as the C caller sees it: a code, a message naming the stage and
/// the cause, and whether it is a timeout (-2) rather than an error (-1).
#[derive(Clone, Debug)]
pub struct Error {
    pub code: Code,
    pub msg: String,
    /// The upgrade response behind the error, when the server answered with
    /// a complete HTTP head that was refused or invalid (read back with
    /// `ws_last_http_status()` / `ws_last_response_headers()`).
    pub http: Option<Arc<HttpReply>>,
}

/// Status and header lines of an upgrade response that failed the open.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpReply {
    pub status: u16,
    /// "Name: value\r\n" lines in the order the server sent them.
    pub headers: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(code: Code, msg: impl Into<String>) -> Error {
        Error { code, msg: msg.into(), http: None }
    }

    /// The same error, carrying the upgrade response it is about.
    pub fn with_http(mut self, status: u16, headers: String) -> Error {
        self.http = Some(Arc::new(HttpReply { status, headers }));
        self
    }

    pub fn arg(msg: impl Into<String>) -> Error {
        Error::new(Code::InvalidArgument, msg)
    }

    /// Timeouts and queued-but-unsent writes are reported as -2, all else as -1.
    pub fn is_timeout(&self) -> bool {
        matches!(self.code, Code::Timeout | Code::Pending)
    }

    /// An `io::Error` met at `stage` ("connect 127.0.0.1:9", "read", ...),
    /// with a lower-case cause in the style of strerror.
    pub fn io(code: Code, stage: &str, e: &io::Error) -> Error {
        Error::new(code, format!("{stage}: {}", describe_io(e)))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

/// "connection refused" rather than "Connection refused (os error 111)".
pub fn describe_io(e: &io::Error) -> String {
    use io::ErrorKind as K;
    let s = match e.kind() {
        K::ConnectionRefused => "connection refused",
        K::ConnectionReset => "connection reset by peer",
        K::ConnectionAborted => "connection aborted",
        K::BrokenPipe => "broken pipe (connection closed by peer)",
        K::TimedOut => "timed out",
        K::HostUnreachable => "host unreachable",
        K::NetworkUnreachable => "network unreachable",
        K::AddrNotAvailable => "address not available",
        K::UnexpectedEof => "connection closed by peer",
        _ => {
            let mut s = e.to_string();
            if let Some(p) = s.find(" (os error") {
                s.truncate(p);
            }
            return lower_first(&s);
        }
    };
    s.to_string()
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) if f.is_ascii_uppercase() && !c.clone().next().is_some_and(|n| n.is_ascii_uppercase()) => {
            f.to_ascii_lowercase().to_string() + c.as_str()
        }
        _ => s.to_string(),
    }
}

struct LastError {
    code: Code,
    msg: CString,
    /// The refused upgrade of the failing call: status (0: none) and its
    /// header lines ("" when none).
    http_status: u16,
    http_headers: CString,
}

thread_local! {
    static LAST: RefCell<LastError> = RefCell::new(LastError {
        code: Code::Ok,
        msg: CString::default(),
        http_status: 0,
        http_headers: CString::default(),
    });
    static RESULT_STR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `e` as this thread's last error (with its upgrade response, if
/// any: else the readback is cleared).
pub fn set_last(e: &Error) {
    let msg = CString::new(e.msg.replace('\0', " ")).unwrap_or_default();
    let (status, headers) = match &e.http {
        Some(h) => (h.status, CString::new(h.headers.replace('\0', " ")).unwrap_or_default()),
        None => (0, CString::default()),
    };
    LAST.with(|l| {
        let mut l = l.borrow_mut();
        l.code = e.code;
        l.msg = msg;
        l.http_status = status;
        l.http_headers = headers;
    });
}

/// Clears this thread's last error (every export except the error getters does
/// this first). Keeps the allocation when there was no error.
pub fn clear_last() {
    LAST.with(|l| {
        let mut l = l.borrow_mut();
        if l.code != Code::Ok || !l.msg.as_bytes().is_empty() || l.http_status != 0 {
            l.code = Code::Ok;
            l.msg = CString::default();
            l.http_status = 0;
            l.http_headers = CString::default();
        }
    });
}

/// The HTTP status of the upgrade response behind this thread's last error;
/// 0 when there is none.
pub fn last_http_status() -> u16 {
    LAST.with(|l| l.borrow().http_status)
}

/// Pointer to the header lines of that response ("" when none); valid as
/// long as [`last_msg_ptr`]'s.
pub fn last_http_headers_ptr() -> *const c_char {
    LAST.with(|l| l.borrow().http_headers.as_ptr())
}

pub fn last_code() -> Code {
    LAST.with(|l| l.borrow().code)
}

/// Pointer to this thread's last error message; valid until the thread's next
/// call that sets or clears it (any export other than the two getters).
pub fn last_msg_ptr() -> *const c_char {
    LAST.with(|l| l.borrow().msg.as_ptr())
}

/// Stores a string result in thread-local storage and returns a pointer to it,
/// valid until the next string-returning call on this thread.
pub fn result_str(s: &str) -> *const c_char {
    let c = CString::new(s.replace('\0', " ")).unwrap_or_default();
    RESULT_STR.with(|r| {
        let mut r = r.borrow_mut();
        *r = c;
        r.as_ptr()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_messages_are_lower_case_without_os_error() {
        let e = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(describe_io(&e), "connection refused");
        let e = io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(describe_io(&e), "too many open files");
    }
}
