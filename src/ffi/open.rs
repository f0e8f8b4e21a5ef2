//! Opening and reconnecting: ws_open, ws_open_async, ws_reconnect.

use super::*;

/// Parses and validates everything, then reserves a socket number.
fn new_socket(url: *const c_char, options: *const c_char) -> Result<(i32, Arc<Socket>)> {
    let url = req_str(url, "url")?;
    let opts_text = opt_str(options, "options")?;
    let target = options::parse_url(url)?;
    let mut opts = options::parse_options(opts_text)?;
    let redirects = opts.follow_redirects > 0;
    crate::proxy::read_environment(&mut opts.proxy, &target.scheme, redirects);
    let queue = opts
        .queue
        .map(|q| {
            events::get(q).map_err(|_| {
                Error::new(
                    Code::InvalidOptions,
                    format!("argument error in options: \"queue\": {q} is not an event queue from ws_queue_create()"),
                )
            })
        })
        .transpose()?;
    let reservation = registry::reserve()?;
    let sock = Socket::new(target, opts, queue);
    let id = registry::insert(reservation, sock.clone())?;
    Ok((id, sock))
}

// ---- opening ------------------------------------------------------------------------

/// Open a WebSocket connection (WinCC OA `webSocketOpen`).
///
/// `url`: `ws://host[:port][/path][?query]` or `wss://...`. The host is a name,
/// an IPv4 literal or a bracketed IPv6 literal (`ws://[::1]:8080/`); the port
/// defaults to 80 (ws) and 443 (wss); path and query are sent as given;
/// `user:password@` in the URL sends HTTP Basic authorization. A fragment
/// (`#...`), an empty host or port 0 is rejected.
///
/// `options`: NULL or "" for the defaults, or a JSON object (WinCC's options
/// mapping) with any of these keys:
/// - `"headers"`: object of header name -> value added to the upgrade
///   request. A value is a string (one line) or an array of strings (one
///   line each, in order: `{"Cookie": ["a=1", "b=2"]}` sends two Cookie
///   lines); Host, Authorization and User-Agent take one value only. A name
///   may appear once (case-insensitively). A header the library sends itself
///   (Host, User-Agent, Sec-WebSocket-Protocol, Authorization) is replaced,
///   never duplicated. Upgrade, Connection, Sec-WebSocket-Key, -Version and
///   -Extensions are managed by the library and rejected. Names must be HTTP
///   tokens; values must not contain CR, LF or other control characters.
/// - `"timeout"`: milliseconds (1..2147483647) for the whole connection
///   attempt: DNS, TCP connect (Happy Eyeballs), the proxy and its tunnel,
///   TLS, upgrade and redirects. Absent: no limit (as in WinCC). Expiry
///   returns WS_TIMEOUT.
/// - `"happyEyeballsDelay"`: milliseconds (10..10000, default 250) between
///   connection attempts to the addresses of a name (RFC 8305: families
///   interleaved; an attempt that fails starts the next at once; the first
///   connection wins, the others are closed).
/// - `"followRedirects"`: how many 301/302/307/308 answers to the upgrade
///   are followed (0..20, default 0): same scheme or ws:// to wss:// only,
///   never wss:// to ws://; the URL's credentials and an "Authorization"
///   header are not sent to another host or port.
/// - `"proxy"`: `"http://[user:pass@]host[:port]"` (CONNECT, also for ws://;
///   default port 1080), `"https://..."` (TLS to the proxy; default port
///   443), `"socks5://..."` (the client resolves the server's name) or
///   `"socks5h://..."` (the proxy resolves it); user and password
///   percent-decoded (Basic, or RFC 1929 for SOCKS5). `""` or false: direct,
///   whatever the environment says. Absent: the environment, read at this
///   call as curl reads it: wss_proxy, https_proxy (ws:// : ws_proxy,
///   http_proxy), all_proxy, their upper-case forms except HTTP_PROXY
///   (never read: curl's rule for CGI-like hosts), and no_proxy (names,
///   domain suffixes, addresses, CIDR ranges, `*`).
///   `"proxyFromEnvironment"`: false ignores the environment. `"noProxy"`:
///   a no_proxy-style list for an explicit `"proxy"`. TLS to an https://
///   proxy takes the TLS keys below with the prefix `proxy`
///   (`"proxyCaCertificates"`, `"proxyIgnoreSslErrors"`, ...), never the
///   server's. Which proxy was used: ws_get_proxy_info().
/// - `"subprotocols"`: array of protocol names offered in
///   Sec-WebSocket-Protocol; the server's choice is read with ws_subprotocol().
/// - `"maxMessageSize"`: largest message accepted from the server, in bytes,
///   1..2147483648 (2 GiB; default 67108864 = 64 MiB); outside that range
///   WS_E_INVALID_OPTIONS. A larger message fails ws_read with
///   WS_E_MESSAGE_TOO_BIG and closes the connection with 1009. Memory for a
///   message grows with the bytes that actually arrive (each step at most
///   doubles what was received, at least 256 KiB), never with the length a
///   frame header announces.
/// - `"sendTimeout"`: milliseconds one ws_write or ws_flush may wait for the
///   network (default: no limit); see WS_E_TIMEOUT and WS_E_PENDING.
/// - `"closeTimeout"`: milliseconds ws_close waits for the server's close
///   frame and TCP close (default 1000).
/// - `"sendBufferLimit"`: bytes of queued outgoing data above which ws_write
///   waits for the network before queueing more (default 4194304 = 4 MiB; one
///   larger message is still accepted when nothing is queued).
/// - `"tcpNoDelay"`: true (default) or false: TCP_NODELAY.
/// - `"pingInterval"`: milliseconds of silence from the server after which the
///   library sends a keepalive ping (default 30000; 0 turns keepalive off).
/// - `"pongTimeout"`: milliseconds after that ping within which something must
///   arrive from the server (default 10000); else the connection fails with
///   WS_E_HEALTH_CHECK, also while the program is not reading.
/// - `"queue"`: an event queue from ws_queue_create(): the socket then
///   delivers everything as events (see ws_queue_create()). A number that is
///   not a live queue is an options error.
/// - `"autoReconnect"`: true, or an object `{"initialDelay": ms (default 500),
///   "maxDelay": ms (default 30000), "maxAttempts": n (default 0 = no
///   limit)}`: when the connection is lost (anything but ws_close), connect
///   again with the same socket number after initialDelay * 2^(n-1), capped
///   at maxDelay, times a random factor in [0.75, 1.25) (jitter). Each
///   attempt is announced by a WS_EV_RECONNECTING event. A blocking ws_read()
///   in progress when the connection drops returns its end; later reads wait
///   for the new connection.
/// - `"busyPoll"`: microseconds (0..1000000; default 0 = off) that a thread
///   waiting for data from the server keeps retrying without sleeping before
///   it sleeps in the kernel: in ws_read(), ws_read_into(), ws_close() and
///   while a connection attempt (ws_open(), ws_open_async(), a reconnect)
///   waits for the upgrade response. Data that arrives within
///   that time is taken without a sleep and wake-up, which on virtual machines
///   and power-saving CPUs can be most of a loopback or LAN round trip
///   (BENCHMARKS.md: 2.9x the round trips per second on a 2-core VM), at the
///   price of one CPU kept busy for up to that long per wait (the thread
///   yields between attempts, so other threads ready on that CPU still run
///   first). Timeouts still hold: the spin never outlasts them. Sockets with
///   a "queue" are read by the background thread, which never spins; the TLS
///   handshake does not spin.
/// - `"compression"`: permessage-deflate (RFC 7692). false (default: not
///   offered, no compression state at all), true (offered with the
///   defaults below), or an object `{"clientMaxWindowBits": 8..15, true
///   (default: offered without a value, the server may limit it) or false
///   (not offered), "serverMaxWindowBits": 8..15 (default: not offered),
///   "clientNoContextTakeover": bool, "serverNoContextTakeover": bool
///   (default false), "level": 0..9 (default 6), "memLevel": 1..9 (default
///   5), "threshold": bytes (messages shorter than this are sent
///   uncompressed; default 0)}`. A value out of range or an unknown key is
///   WS_E_INVALID_OPTIONS naming it. A server that declines leaves the
///   connection uncompressed; an answer with a parameter we did not offer,
///   a duplicate or an out-of-range value fails the handshake with
///   WS_E_HANDSHAKE. The agreed parameters: ws_get_info(). maxMessageSize
///   applies to the inflated bytes, checked while inflating in bounded
///   steps. A window of 8 bits is compressed with 9 (deflate's distances
///   then stay within 256 bytes) and read with 9 (zlib reads no 8-bit raw
///   window). Bad compressed input: WS_E_COMPRESSION. Memory: nothing is
///   allocated before the first compressed message each way; a compressor
///   (~270 KiB with the defaults) or decompressor (~47 KiB) not used for 1
///   to 2 s is released, whatever "pingInterval" is, keeping only the
///   bytes the server's context takeover needs (its last
///   2^serverMaxWindowBits bytes, at most 32 KiB); the next message
///   uses codecs from a process-wide pool and gives them back at its end
///   (a second message before the next sweep gets the connection's own).
///   Released state is unmapped, so it leaves the process at once. A
///   socket whose thread is blocked in ws_read keeps its decompressor
///   until the read returns.
///
/// `wss://` verifies the server certificate against the system trust store
/// and the host name or IP address of the URL, and sends SNI. The whole
/// policy below is decided inside the one TLS handshake (OpenSSL's verify
/// callback sees every problem of the chain the server sent): there is never
/// a second connection, and a server that fails verification is refused
/// before the client certificate is sent. TLS keys (ignored for `ws://`):
/// - `"ignoreSslErrors"` (WinCC): `false` (default) verifies everything;
///   `true`, `""` or `[]` accepts any certificate; a list of class names
///   accepts a certificate whose only problems are of those classes, and
///   any other problem still fails (WS_E_TLS_VERIFY). A string is read as
///   a comma-separated list. Classes (Qt's QSslError names, as in WinCC's
///   netGet "sslErrors"): HostNameMismatch, CertificateExpired,
///   CertificateNotYetValid, SelfSignedCertificate,
///   SelfSignedCertificateInChain, UnableToGetLocalIssuerCertificate,
///   UnableToGetIssuerCertificate, UnableToVerifyFirstCertificate,
///   CertificateUntrusted, CertificateRejected, CertificateRevoked,
///   InvalidCaCertificate, InvalidPurpose, PathLengthExceeded,
///   CertificateSignatureFailed, UnableToDecryptCertificateSignature,
///   UnableToDecodeIssuerPublicKey, InvalidNotBeforeField,
///   InvalidNotAfterField, SubjectIssuerMismatch,
///   AuthorityIssuerSerialNumberMismatch, the OCSP classes
///   (OcspNoResponseFound, OcspMalformedRequest, OcspMalformedResponse,
///   OcspInternalError, OcspTryLater, OcspSigRequred, OcspUnauthorized,
///   OcspResponseCannotBeTrusted, OcspResponseCertIdUnknown,
///   OcspResponseExpired, OcspStatusUnknown), and UnspecifiedError (any
///   other verification error, e.g. an RSA key under 2048 bits or a SHA-1
///   signature, too weak for OpenSSL's security level, or a missing or
///   expired CRL). CertificateBlacklisted and NoPeerCertificate are
///   accepted but never occur. Untrusted roots are
///   SelfSignedCertificate(InChain) or UnableToGetLocalIssuerCertificate, as
///   with Qt on OpenSSL; CertificateUntrusted is OpenSSL's "certificate not
///   trusted" only. An unknown name is WS_E_INVALID_OPTIONS. OpenSSL goes on
///   checking the chain after an ignored problem (signatures, dates, names
///   of every certificate), so ignoring one class never lets another
///   problem through; ignoring an untrusted root accepts whoever holds it.
/// - `"sslConfig"` (WinCC): the client certificate, `{"localCertificate":
///   PEM, "privateKey": {"key": PEM, "algorithm": "RSA" or "EC",
///   "password": "..."}}`. The certificate may be followed by CA
///   certificates of its chain. `"localCertificateFile"` and `"keyFile"`
///   name PEM files instead. Keys may be PKCS#1, SEC1, PKCS#8, encrypted
///   PKCS#8 or legacy encrypted PEM ("password" needed); "algorithm" is
///   optional. Or a PKCS#12 file (.p12/.pfx) with certificate, key and CA
///   certificates: `{"pkcs12File": path, "password": "..."}`, or
///   `{"pkcs12": base64 text, "password": "..."}`. DSA keys are
///   unsupported. A wrong password, a key that does not match the
///   certificate, another algorithm than "algorithm", or a PKCS#12 file
///   where PEM is expected (and the reverse) is WS_E_INVALID_OPTIONS naming
///   the key.
/// - `"caCertificates"`: PEM text with CA certificates (or a list of such
///   texts) trusted besides the system store; `"caCertificatesFile"`: a PEM
///   file path or a list of paths. `"caCertificatesOnly"`: true trusts only
///   these CAs (needs one of the two keys).
/// - `"pinnedSha256"`: the SHA-256 of the server's certificate (DER) or of
///   its public key (SubjectPublicKeyInfo DER), 64 hex digits with optional
///   colons, or a list. The server is accepted if and only if one matches;
///   nothing else (issuer, dates, name) is checked. Not combinable with
///   "ignoreSslErrors", "caCertificates", "crlFile" or "ocspStapling".
/// - `"crlFile"`: a PEM file with one or more CRLs (or a list of files),
///   read by ws_open(). Every certificate of the chain is then checked and
///   needs a CRL from its issuer in these files (a missing or expired CRL is
///   UnspecifiedError); a revoked one is CertificateRevoked.
/// - `"ocspStapling"`: `"check"` asks the server for a stapled OCSP response
///   and verifies it (signed by the issuing CA or a responder it authorised,
///   about this certificate, within its validity); "revoked" is
///   CertificateRevoked, other problems are the Ocsp* classes. `"require"`
///   also refuses a server that staples none (OcspNoResponseFound).
///   "crlFile" and "ocspStapling" are not combinable with "ignoreSslErrors":
///   true.
/// - `"tlsMinVersion"`: `"1.2"` (default) or `"1.3"`; `"tlsMaxVersion"`:
///   `"1.2"` or `"1.3"` (default: the highest both sides support). What was
///   negotiated is read with ws_get_tls_info().
///
/// Backends: on Linux (and other Unix except macOS) the library drives
/// OpenSSL itself and everything above works. Where it uses native-tls (the
/// platform's TLS library: Windows, macOS, or a Linux build with the cargo
/// feature `native-tls-backend`) only its switches exist: "ignoreSslErrors"
/// can be true or ["HostNameMismatch"]; "crlFile", "ocspStapling", other
/// classes, and "pinnedSha256" with a client certificate are
/// WS_E_INVALID_OPTIONS; a refused certificate is WS_E_TLS_VERIFY without a
/// class; ws_get_tls_info() has no version or cipher.
///
/// A certificate verification failure (WS_E_TLS_VERIFY) names every problem
/// by class and ends with the certificate and its SHA-256, to pin a device
/// on first use: "TLS handshake with 192.168.0.10:443: CertificateExpired
/// (notAfter 2024-01-31 00:00:00 UTC); not in ignoreSslErrors
/// [HostNameMismatch]; server certificate "CN=plc" issued by "CN=Plant CA",
/// SHA-256 AB:CD:...". Other TLS failures are WS_E_TLS with OpenSSL's reason
/// and a hint, e.g. "TLS handshake with 10.0.0.5:443: wrong version number
/// (the server did not answer with TLS: is this a plain ws:// port?)",
/// including alerts right after the handshake ("... TLS: tlsv13 alert
/// certificate required").
///
/// Returns: a socket number > 0 (never 0, never one still in use or recently
/// closed); WS_ERROR (-1); WS_TIMEOUT (-2) when `"timeout"` expired.
///
/// Errors (ws_last_error_code()): WS_E_INVALID_ARGUMENT (url NULL or not
/// UTF-8), WS_E_INVALID_URL, WS_E_UNSUPPORTED_SCHEME, WS_E_INVALID_OPTIONS,
/// WS_E_TOO_MANY_SOCKETS, WS_E_DNS, WS_E_CONNECT, WS_E_TLS, WS_E_TLS_VERIFY,
/// WS_E_UPGRADE_REJECTED, WS_E_BAD_ACCEPT, WS_E_HANDSHAKE, WS_E_TIMEOUT,
/// WS_E_PROXY_CONNECT, WS_E_PROXY_REFUSED, WS_E_PROXY_AUTH, WS_E_PROXY_TLS,
/// WS_E_PROXY_PROTOCOL. The
/// message names the stage and the peer, e.g. "connect 127.0.0.1:9:
/// connection refused" or "upgrade rejected by 127.0.0.1:8080: HTTP 401
/// Unauthorized".
///
/// Blocking: until connected, failed, or the timeout.
/// Threads: any thread; opens on several threads run in parallel.
/// Ownership: both strings are copied; release the socket with ws_close().
#[unsafe(no_mangle)]
pub extern "C" fn ws_open(url: *const c_char, options: *const c_char) -> c_int {
    guard::call(|| {
        let (id, sock) = new_socket(url, options)?;
        if let Err(e) = sock.open_blocking() {
            let _ = registry::remove(id);
            return Err(e);
        }
        Ok(id)
    })
}

/// Open a WebSocket connection in the background (NodeMCU `connect`, Q-SYS
/// `Connect`).
///
/// Takes the same `url` and `options` as ws_open() and checks them at once
/// (a bad URL or option returns WS_ERROR here), then returns a socket number
/// immediately while DNS, TCP, TLS and the upgrade run on a library thread.
/// The outcome is reported as events when the socket has a "queue" (or
/// callback): WS_EV_OPEN, or WS_EV_ERROR followed by WS_EV_CLOSE (or
/// WS_EV_RECONNECTING with "autoReconnect"). Meanwhile ws_state() is
/// WS_STATE_CONNECTING, ws_write() fails with WS_E_NOT_OPEN and ws_read()
/// waits (within its timeout) for the connection; after a failure ws_read()
/// returns WS_ERROR with the cause.
///
/// Returns: a socket number > 0; WS_ERROR (-1).
/// Errors: as ws_open() for the arguments, and WS_E_TOO_MANY_SOCKETS.
/// Blocking: no. Threads: any thread. Release the number with ws_close(),
/// also after a failed attempt.
#[unsafe(no_mangle)]
pub extern "C" fn ws_open_async(url: *const c_char, options: *const c_char) -> c_int {
    guard::call(|| {
        let (id, sock) = new_socket(url, options)?;
        if let Err(e) = sock.open_async() {
            let _ = registry::remove(id);
            return Err(e);
        }
        Ok(id)
    })
}

/// Connect a socket number again with the same URL and options (NodeMCU's
/// reusable client; Qore's `connect()` on a connected object).
///
/// A live connection is first closed with 1001 Going Away. With `async` = 0
/// this blocks like ws_open() and returns its result; otherwise it returns at
/// once and the outcome arrives as events (WS_EV_OPEN, or WS_EV_ERROR and
/// WS_EV_CLOSE). The socket number stays the same. Also cancels a pending
/// automatic reconnect and starts over.
///
/// Returns: WS_OK (0); WS_ERROR (-1); WS_TIMEOUT (-2) as ws_open().
/// Errors: WS_E_BAD_SOCKET and those of ws_open().
/// Threads: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ws_reconnect(socket: c_int, r#async: c_int) -> c_int {
    guard::call(|| {
        registry::get(socket)?.reconnect_user(r#async != 0)?;
        Ok(WS_OK)
    })
}
