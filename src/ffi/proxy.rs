//! Proxy readback: ws_get_proxy_info.

use super::tls::copy_text;
use super::*;

/// Whether and which proxy a connection went through (ws_get_proxy_info()).
/// Strings are NUL-terminated, cut at a character boundary when longer than
/// their array. The proxy password is never in it.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct ws_proxy_info {
    /// 1 when the connection goes through a proxy, 0 when it is direct.
    pub used: c_int,
    /// HTTP proxies: the status of the CONNECT answer (200); SOCKS5: 0.
    pub connect_status: c_int,
    /// The proxy's port.
    pub port: c_int,
    /// "http", "https", "socks5" or "socks5h"; "" when direct.
    pub kind: [c_char; 16],
    /// The proxy URL without the password: "http://user@proxy:3128".
    pub url: [c_char; 320],
    /// The proxy's host name or address (without brackets).
    pub host: [c_char; 256],
    /// Where it was set: "option", or the environment variable
    /// ("https_proxy", "ALL_PROXY", ...); "" when direct.
    pub source: [c_char; 32],
}

/// Fill `*info` with whether the socket's connection goes through a proxy,
/// which one (type, URL without the password, host, port), where it was set
/// (the "proxy" option or an environment variable) and the CONNECT status.
///
/// It describes the current connection; after the connection ended (and
/// until ws_close()) the last one; after a reconnect the new one.
///
/// `size` must be `sizeof(ws_proxy_info)` as the caller was compiled with;
/// the library writes at most that many bytes (later versions only append
/// fields).
/// Returns: WS_OK (0); WS_ERROR (-1): WS_E_BAD_SOCKET, WS_E_NOT_OPEN (not
/// connected yet), WS_E_INVALID_ARGUMENT (info NULL or size too small).
/// Does not block. Threads: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ws_get_proxy_info(socket: c_int, info: *mut ws_proxy_info, size: usize) -> c_int {
    guard::call(|| {
        if info.is_null() {
            return Err(Error::arg("info is NULL"));
        }
        if size < std::mem::size_of::<ws_proxy_info>() {
            return Err(Error::arg(format!(
                "size {size} is smaller than this library's ws_proxy_info ({} bytes)",
                std::mem::size_of::<ws_proxy_info>()
            )));
        }
        let up = registry::get(socket)?.upgrade()?;
        let mut out = ws_proxy_info {
            used: 0,
            connect_status: 0,
            port: 0,
            kind: [0; 16],
            url: [0; 320],
            host: [0; 256],
            source: [0; 32],
        };
        if let Some(p) = &up.proxy {
            out.used = 1;
            out.connect_status = p.status as c_int;
            out.port = p.port as c_int;
            copy_text(&mut out.kind, p.kind);
            copy_text(&mut out.url, &p.url);
            copy_text(&mut out.host, &p.host);
            copy_text(&mut out.source, p.source);
        }
        // SAFETY: info is non-NULL and the caller promises `size` >= our
        // struct size writable bytes (checked above against our size).
        unsafe { info.write(out) };
        Ok(WS_OK)
    })
}
