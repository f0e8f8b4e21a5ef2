//! TLS for `wss://` on native-tls: system trust store, certificate and host
//! name verification, SNI. The handshake is driven on a non-blocking socket
//! under the connection deadline.
#![deny(unsafe_code)]

use crate::error::{Code, Error, Result};
use crate::options::{Options, Target};
use crate::sys;
use native_tls::{HandshakeError, TlsConnector, TlsStream};
use once_cell::sync::OnceCell;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Building a connector loads the system trust store (milliseconds), so the
/// default one is built once and shared; native-tls connectors are Sync.
fn default_connector() -> Result<TlsConnector> {
    static DEFAULT: OnceCell<TlsConnector> = OnceCell::new();
    DEFAULT
        .get_or_try_init(|| TlsConnector::builder().build())
        .cloned()
        .map_err(|e| Error::new(Code::Tls, format!("TLS set-up: {e}")))
}

/// TLS settings from the `ws_open` options (certificate options: issue 3).
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {}

/// Parses one TLS key of the options mapping. None: not a TLS key. Err: a
/// description of what is wrong with the value (the caller adds the key).
pub fn parse_option(
    _key: &str,
    _value: &serde_json::Value,
    _tls: &mut TlsOptions,
) -> Option<std::result::Result<(), String>> {
    None
}

fn connector_for(_opts: &Options) -> Result<TlsConnector> {
    default_connector()
}

/// Longest single wait inside the handshake: native-tls does not say whether
/// OpenSSL wants to read or to write, so we wait for input and retry at least
/// this often in case it wanted to write.
const HANDSHAKE_SLICE: Duration = Duration::from_millis(50);

pub fn handshake(
    tcp: TcpStream,
    target: &Target,
    opts: &Options,
    deadline: Option<Instant>,
) -> Result<TlsStream<TcpStream>> {
    let connector = connector_for(opts)?;
    let fd = tcp.as_raw_fd();
    let peer = target.peer();
    let mut r = connector.connect(&target.tls_domain(), tcp);
    loop {
        match r {
            Ok(s) => return Ok(s),
            Err(HandshakeError::Failure(e)) => return Err(classify(&peer, &e)),
            Err(HandshakeError::WouldBlock(mid)) => {
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    return Err(Error::new(Code::Timeout, format!("timeout during TLS handshake with {peer}")));
                }
                let slice = now + HANDSHAKE_SLICE;
                let until = Some(deadline.map_or(slice, |d| d.min(slice)));
                sys::poll_fd(fd, sys::POLLIN, until)
                    .map_err(|e| Error::io(Code::Tls, &format!("TLS handshake with {peer}"), &e))?;
                r = mid.handshake();
            }
        }
    }
}

/// Turns a native-tls error into a message naming the stage, the peer and
/// the cause; verification failures get their own code.
fn classify(peer: &str, e: &native_tls::Error) -> Error {
    let text = e.to_string();
    let verify = text.contains("certificate verify failed") || text.contains("CERTIFICATE_VERIFY_FAILED");
    // OpenSSL's text looks like "error:0A000086:SSL routines:...:certificate
    // verify failed:../ssl/statem/statem_clnt.c:1889: (self-signed certificate)"
    let detail = text.rsplit_once(": (").map(|(_, d)| d.trim_end_matches(')').to_string());
    let cause = match (&detail, verify) {
        (Some(d), true) => format!("certificate verify failed ({d})"),
        (None, true) => "certificate verify failed".to_string(),
        _ => text.clone(),
    };
    Error::new(if verify { Code::TlsVerify } else { Code::Tls }, format!("TLS handshake with {peer}: {cause}"))
}
