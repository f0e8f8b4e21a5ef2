//! Proxies, Happy Eyeballs and connection attempts that never wait behind
//! each other, through the C API against real components on 127.0.0.1:
//! squid (HTTP CONNECT with and without basic_ncsa_auth, a deny rule for
//! the 403, an https_port for TLS to the proxy) and microsocks (SOCKS5 with
//! and without RFC 1929 user/password; its log shows whether it was given a
//! name or an address). tests/proxy/ensure-proxies.sh installs them; a test
//! whose component is missing prints why and returns.
//!
//! The environment rules (curl's) are tested in child processes of this
//! test binary (`env_child`), each with its own environment, so that no
//! test changes the environment of another.

mod support;
mod tls_support;

use serde_json::{json, Value};
use std::ffi::c_int;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use support::*;
use tls_support::*;

const LIMIT: Duration = Duration::from_secs(120);
const USER: &str = "plant";
const PASS: &str = "s3cr%t:pw";
const PASS_ENC: &str = "s3cr%25t%3Apw";
/// squid refuses CONNECT to this port (deny rule): the 403 case.
const DENIED_PORT: u16 = 9;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits (bounded) until something accepts on `port`.
fn wait_listening(port: u16, what: &str, log: &Path) {
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        if TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_millis(200)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50)); // polling a child process's start-up, not synchronising threads
    }
    panic!("{what} did not start listening on {port}: {}", std::fs::read_to_string(log).unwrap_or_default());
}

struct Proc {
    child: Child,
    _dir: TempDir,
    dir: PathBuf,
    log: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

// ---- the servers ---------------------------------------------------------------------

/// The CA of the WebSocket server, and another for the https:// proxy.
struct Pki {
    server_ca: Cert,
    server: Cert,
    proxy_ca: Cert,
    proxy: Cert,
}

fn pki() -> &'static Pki {
    static P: OnceLock<Pki> = OnceLock::new();
    P.get_or_init(|| {
        let server_ca = make(&Spec::ca("wsclient server CA"), None, None);
        let server = make(&Spec::server("ws server"), None, Some(&server_ca));
        let proxy_ca = make(&Spec::ca("wsclient proxy CA"), None, None);
        let proxy = make(&Spec::server("https proxy"), None, Some(&proxy_ca));
        Pki { server_ca, server, proxy_ca, proxy }
    })
}

struct Squid {
    open: u16,
    auth: u16,
    tls: u16,
    proc: Proc,
}

static SQUID_PID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn kill_squid() {
    let pid = SQUID_PID.swap(0, std::sync::atomic::Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: signals the squid child this binary started.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
    }
}

/// One squid for the whole binary: an open port, a port with Basic auth
/// (basic_ncsa_auth), an https_port, and a deny rule for DENIED_PORT.
fn squid() -> Option<&'static Squid> {
    static S: OnceLock<Option<Squid>> = OnceLock::new();
    S.get_or_init(|| {
        let bin = Path::new("/usr/sbin/squid");
        let helper = Path::new("/usr/lib/squid/basic_ncsa_auth");
        if !bin.exists() || !helper.exists() {
            println!("SKIP: squid or basic_ncsa_auth not installed (sh tests/proxy/ensure-proxies.sh)");
            return None;
        }
        let dir = TempDir::new("squid");
        let d = dir.0.clone();
        // squid drops to the "proxy" user when started as root
        let _ = Command::new("chmod").arg("0777").arg(&d).status();
        let hash = Command::new("openssl").args(["passwd", "-apr1", PASS]).output().expect("openssl passwd");
        let hash = String::from_utf8_lossy(&hash.stdout).trim().to_string();
        std::fs::write(d.join("passwd"), format!("{USER}:{hash}\n")).unwrap();
        let p = pki();
        std::fs::write(d.join("cert.pem"), p.proxy.pem()).unwrap();
        std::fs::write(d.join("key.pem"), p.proxy.key_pkcs8()).unwrap();
        for f in ["passwd", "cert.pem", "key.pem"] {
            let _ = Command::new("chmod").arg("0644").arg(d.join(f)).status();
        }
        let (open, auth, tls) = (free_port(), free_port(), free_port());
        let conf = format!(
            "http_port 127.0.0.1:{open} name=open\n\
             http_port 127.0.0.1:{auth} name=auth\n\
             https_port 127.0.0.1:{tls} name=tls tls-cert={d}/cert.pem tls-key={d}/key.pem\n\
             pid_filename {d}/squid.pid\n\
             cache_log {d}/cache.log\n\
             access_log {d}/access.log\n\
             coredump_dir {d}\n\
             cache deny all\n\
             shutdown_lifetime 0 seconds\n\
             dns_nameservers 127.0.0.1\n\
             auth_param basic program {helper} {d}/passwd\n\
             auth_param basic realm wsclient-test\n\
             acl open_port myportname open tls\n\
             acl auth_port myportname auth\n\
             acl denied port {DENIED_PORT}\n\
             acl authed proxy_auth REQUIRED\n\
             http_access deny denied\n\
             http_access allow open_port\n\
             http_access allow auth_port authed\n\
             http_access deny all\n",
            d = d.display(),
            helper = helper.display(),
        );
        std::fs::write(d.join("squid.conf"), conf).unwrap();
        let log = d.join("cache.log");
        let child = Command::new(bin)
            .args(["-N", "-f"])
            .arg(d.join("squid.conf"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("stderr.log")).unwrap())
            .spawn()
            .expect("start squid");
        // a static is never dropped: end squid when this test binary exits
        SQUID_PID.store(child.id() as i32, std::sync::atomic::Ordering::SeqCst);
        // SAFETY: registers a plain extern "C" function once.
        unsafe { libc::atexit(kill_squid) };
        let proc = Proc { child, dir: d.clone(), log, _dir: dir };
        for port in [open, auth, tls] {
            wait_listening(port, "squid", &d.join("stderr.log"));
        }
        println!("squid: open {open}, auth {auth}, https {tls} ({})", d.display());
        Some(Squid { open, auth, tls, proc })
    })
    .as_ref()
}

impl Squid {
    fn access_log(&self) -> String {
        std::fs::read_to_string(self.proc.dir.join("access.log")).unwrap_or_default()
    }

    /// Waits (bounded) for `needle` in the access log (squid writes it
    /// when the tunnel ends).
    fn logged(&self, needle: &str) -> bool {
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if self.access_log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50)); // squid flushes its log on its own schedule
        }
        false
    }
}

/// A microsocks on its own port; `auth`: with user/password.
fn microsocks(auth: bool) -> Option<Proc> {
    let Some(bin) = ["/usr/bin/microsocks", "/usr/local/bin/microsocks"].into_iter().find(|p| Path::new(p).exists())
    else {
        println!("SKIP: microsocks not installed (sh tests/proxy/ensure-proxies.sh)");
        return None;
    };
    let dir = TempDir::new("socks");
    let log = dir.0.join("microsocks.log");
    let port = free_port();
    let mut cmd = Command::new(bin);
    cmd.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
    if auth {
        cmd.args(["-u", USER, "-P", PASS]);
    }
    let f = std::fs::File::create(&log).unwrap();
    let child = cmd.stdout(f.try_clone().unwrap()).stderr(f).spawn().expect("start microsocks");
    let p = Proc { child, dir: dir.0.clone(), log, _dir: dir };
    wait_listening(port, "microsocks", &p.log);
    std::fs::write(p.dir.join("port"), port.to_string()).unwrap();
    Some(p)
}

fn socks_port(p: &Proc) -> u16 {
    std::fs::read_to_string(p.dir.join("port")).unwrap().parse().unwrap()
}

fn tls_echo() -> &'static TlsServer {
    static T: OnceLock<TlsServer> = OnceLock::new();
    T.get_or_init(|| TlsServer::start(&pki().server, ServerOpts::default()))
}

fn ws_echo() -> &'static EchoServer {
    static E: OnceLock<EchoServer> = OnceLock::new();
    E.get_or_init(echo_server)
}

// ---- helpers -------------------------------------------------------------------------

/// ws_open, an echo round trip, the proxy info, ws_close.
fn echo_via(url: &str, options: &Value) -> Result<ProxyInfo, (c_int, String, c_int)> {
    let s = open(url, Some(&options.to_string()));
    if s < 0 {
        let status = ws_last_http_status();
        return Err((last_code(), last_error(), status));
    }
    write_ok(s, b"through the proxy", WS_TEXT);
    let (t, d) = read_msg(s, 10_000);
    assert_eq!((t, d.as_slice()), (WS_TEXT, &b"through the proxy"[..]), "{url}");
    let info = proxy_info(s);
    close_ok(s);
    Ok(info)
}

#[track_caller]
fn ok_via(url: &str, options: &Value) -> ProxyInfo {
    match echo_via(url, options) {
        Ok(i) => i,
        Err((c, m, _)) => panic!("ws_open({url}, {options}) failed: {} {m}", error_name(c)),
    }
}

#[track_caller]
fn fails_via(url: &str, options: &Value, code: c_int, needles: &[&str]) -> (String, c_int) {
    match echo_via(url, options) {
        Ok(_) => panic!("ws_open({url}, {options}) should fail with {}", error_name(code)),
        Err((c, m, status)) => {
            assert_eq!(error_name(c), error_name(code), "{m}");
            for n in needles {
                assert!(m.contains(n), "\"{m}\" lacks \"{n}\"");
            }
            assert!(!m.contains(PASS) && !m.contains(PASS_ENC), "the password leaked into \"{m}\"");
            println!("{} {m}", error_name(c));
            (m, status)
        }
    }
}

#[derive(Debug, Default)]
struct ProxyInfo {
    used: bool,
    status: c_int,
    port: c_int,
    kind: String,
    url: String,
    host: String,
    source: String,
}

fn text(a: &[std::ffi::c_char]) -> String {
    let b: Vec<u8> = a.iter().take_while(|c| **c != 0).map(|c| *c as u8).collect();
    String::from_utf8(b).unwrap()
}

fn proxy_info(s: c_int) -> ProxyInfo {
    let mut i = std::mem::MaybeUninit::<ws_proxy_info>::zeroed();
    assert_eq!(ws_get_proxy_info(s, i.as_mut_ptr(), std::mem::size_of::<ws_proxy_info>()), WS_OK, "{}", describe());
    // SAFETY: written by ws_get_proxy_info (WS_OK)
    let i = unsafe { i.assume_init() };
    ProxyInfo {
        used: i.used == 1,
        status: i.connect_status,
        port: i.port,
        kind: text(&i.kind),
        url: text(&i.url),
        host: text(&i.host),
        source: text(&i.source),
    }
}

fn wss_url() -> String {
    format!("wss://localhost:{}/", tls_echo().port)
}

fn server_trust() -> Value {
    json!(pki().server_ca.pem())
}

/// A TCP port with nothing listening.
fn dead_port() -> u16 {
    free_port()
}

// ---- squid ---------------------------------------------------------------------------

#[test]
fn squid_ws_and_wss_through_connect() {
    let _w = watchdog("squid_ws_and_wss_through_connect", LIMIT);
    let Some(sq) = squid() else { return };
    let proxy = format!("http://127.0.0.1:{}", sq.open);
    let i = ok_via(&ws_echo().url(), &json!({"proxy": proxy, "timeout": 10000}));
    assert!(i.used && i.kind == "http" && i.status == 200 && i.source == "option", "{i:?}");
    assert_eq!((i.host.as_str(), i.port, i.url.as_str()), ("127.0.0.1", sq.open as c_int, proxy.as_str()));
    // ws:// goes through CONNECT too, never an absolute-URI GET
    assert!(sq.logged(&format!("CONNECT 127.0.0.1:{}", ws_echo().port)), "{}", sq.access_log());
    assert!(!sq.access_log().contains("GET ws://"), "{}", sq.access_log());
    let i = ok_via(&wss_url(), &json!({"proxy": proxy, "caCertificates": server_trust(), "timeout": 10000}));
    assert!(i.used && i.status == 200);
    assert!(sq.logged(&format!("CONNECT localhost:{}", tls_echo().port)), "{}", sq.access_log());
    // a direct connection says so
    let s = open_ok(&ws_echo().url(), Some(r#"{"proxy": ""}"#));
    let i = proxy_info(s);
    assert!(!i.used && i.kind.is_empty() && i.source.is_empty(), "{i:?}");
    close_ok(s);
}

#[test]
fn squid_basic_auth() {
    let _w = watchdog("squid_basic_auth", LIMIT);
    let Some(sq) = squid() else { return };
    let url = ws_echo().url();
    let good = format!("http://{USER}:{PASS_ENC}@127.0.0.1:{}", sq.auth);
    let i = ok_via(&url, &json!({"proxy": good, "timeout": 10000}));
    assert_eq!(i.url, format!("http://{USER}@127.0.0.1:{}", sq.auth), "no password in the info");
    ok_via(&wss_url(), &json!({"proxy": good, "caCertificates": server_trust(), "timeout": 10000}));
    let (_, status) = fails_via(
        &url,
        &json!({"proxy": format!("http://127.0.0.1:{}", sq.auth), "timeout": 10000}),
        WS_E_PROXY_AUTH,
        &["proxy authentication required", "HTTP 407", "Basic realm=\"wsclient-test\""],
    );
    assert_eq!(status, 407, "the CONNECT status reads like an upgrade status");
    let (_, status) = fails_via(
        &url,
        &json!({"proxy": format!("http://{USER}:wrong@127.0.0.1:{}", sq.auth), "timeout": 10000}),
        WS_E_PROXY_AUTH,
        &["proxy authentication failed", "rejected the user name or password", "HTTP 407"],
    );
    assert_eq!(status, 407);
    assert_eq!(ws_last_error_code(), WS_E_PROXY_AUTH);
}

#[test]
fn squid_deny_rule_is_403() {
    let _w = watchdog("squid_deny_rule_is_403", LIMIT);
    let Some(sq) = squid() else { return };
    let (m, status) = fails_via(
        &format!("ws://127.0.0.1:{DENIED_PORT}/"),
        &json!({"proxy": format!("http://127.0.0.1:{}", sq.open), "timeout": 10000}),
        WS_E_PROXY_REFUSED,
        &["refused CONNECT to 127.0.0.1:9: HTTP 403 Forbidden", "ERR_ACCESS_DENIED"],
    );
    assert_eq!(status, 403, "{m}");
    let hdrs = from_c(ws_last_response_headers()).unwrap_or_default();
    assert!(hdrs.contains("X-Squid-Error"), "{hdrs}");
}

#[test]
fn https_proxy_tls_inside_tls() {
    let _w = watchdog("https_proxy_tls_inside_tls", LIMIT);
    let Some(sq) = squid() else { return };
    let proxy = format!("https://localhost:{}", sq.tls);
    let p = pki();
    let both = json!({"proxy": proxy, "proxyCaCertificates": p.proxy_ca.pem(),
                      "caCertificates": server_trust(), "timeout": 10000});
    let i = ok_via(&ws_echo().url(), &both);
    assert!(i.used && i.kind == "https" && i.status == 200, "{i:?}");
    // wss:// through an https:// proxy: the server's TLS inside the proxy's
    let i = ok_via(&wss_url(), &both);
    assert!(i.used && i.kind == "https");
    // the server's CA is never used for the proxy
    fails_via(
        &wss_url(),
        &json!({"proxy": proxy, "caCertificates": p.proxy_ca.pem(), "timeout": 10000}),
        WS_E_PROXY_TLS,
        &["TLS to proxy https://localhost:", "UnableToGetLocalIssuerCertificate"],
    );
    // and the proxy's settings never for the server
    fails_via(
        &wss_url(),
        &json!({"proxy": proxy, "proxyCaCertificates": p.proxy_ca.pem(), "timeout": 10000}),
        WS_E_TLS_VERIFY,
        &[&format!("TLS handshake with localhost:{}", tls_echo().port)],
    );
    // the proxy's own ignore switch
    ok_via(&ws_echo().url(), &json!({"proxy": proxy, "proxyIgnoreSslErrors": true, "timeout": 10000}));
}

#[test]
fn proxy_down_and_silent_proxy_timeout() {
    let _w = watchdog("proxy_down_and_silent_proxy_timeout", LIMIT);
    let url = ws_echo().url();
    for scheme in ["http", "https", "socks5", "socks5h"] {
        let port = dead_port();
        fails_via(
            &url,
            &json!({"proxy": format!("{scheme}://{USER}:{PASS_ENC}@127.0.0.1:{port}"), "timeout": 5000}),
            WS_E_PROXY_CONNECT,
            &[&format!("proxy {scheme}://{USER}@127.0.0.1:{port} unreachable"), "connection refused"],
        );
    }
    fails_via(
        &url,
        &json!({"proxy": "http://no-such-proxy.invalid:3128", "timeout": 10000}),
        WS_E_PROXY_CONNECT,
        &["unreachable: DNS lookup of no-such-proxy.invalid failed"],
    );
    // a proxy that accepts and never answers: the timeout covers the
    // tunnel and gives -2
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    for (scheme, stage) in [("http", "during the CONNECT to"), ("socks5h", "during the SOCKS5 handshake")] {
        let o = json!({"proxy": format!("{scheme}://127.0.0.1:{port}"), "timeout": 400}).to_string();
        let (s, took) = timed(|| open(&url, Some(&o)));
        assert_eq!(s, WS_TIMEOUT, "{}", describe());
        assert_error(WS_E_TIMEOUT, &["timeout after 400 ms", stage]);
        assert_between(took, 380, 3000, "silent proxy");
    }
    drop(silent);
}

// ---- SOCKS5 --------------------------------------------------------------------------

#[test]
fn socks5_and_socks5h_through_microsocks() {
    let _w = watchdog("socks5_and_socks5h_through_microsocks", LIMIT);
    let Some(ms) = microsocks(false) else { return };
    let port = socks_port(&ms);
    let name_url = format!("ws://localhost:{}/", ws_echo().port);
    let i = ok_via(&name_url, &json!({"proxy": format!("socks5://127.0.0.1:{port}"), "timeout": 10000}));
    assert!(i.used && i.kind == "socks5" && i.status == 0, "{i:?}");
    let i = ok_via(&name_url, &json!({"proxy": format!("socks5h://127.0.0.1:{port}"), "timeout": 10000}));
    assert_eq!(i.kind, "socks5h");
    ok_via(
        &wss_url(),
        &json!({"proxy": format!("socks5h://127.0.0.1:{port}"), "caCertificates": server_trust(), "timeout": 10000}),
    );
    // socks5: the proxy got an address; socks5h: the name
    let log = ms.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("connected to")).collect();
    assert!(lines.len() >= 3, "{log}");
    assert!(
        lines[0].contains(&format!("connected to 127.0.0.1:{}", ws_echo().port)),
        "socks5 sends the address: {log}"
    );
    assert!(lines[1].contains(&format!("connected to localhost:{}", ws_echo().port)), "socks5h sends the name: {log}");
    // a SOCKS5 reply code by name
    fails_via(
        &format!("ws://127.0.0.1:{}/", dead_port()),
        &json!({"proxy": format!("socks5://127.0.0.1:{port}"), "timeout": 10000}),
        WS_E_PROXY_REFUSED,
        &["SOCKS5 reply 5 (connection refused)"],
    );
    // the proxy wants no password: offering one is fine
    ok_via(&name_url, &json!({"proxy": format!("socks5://{USER}:{PASS_ENC}@127.0.0.1:{port}"), "timeout": 10000}));
}

#[test]
fn socks5_user_password() {
    let _w = watchdog("socks5_user_password", LIMIT);
    let Some(ms) = microsocks(true) else { return };
    let port = socks_port(&ms);
    let url = ws_echo().url();
    let i = ok_via(&url, &json!({"proxy": format!("socks5h://{USER}:{PASS_ENC}@127.0.0.1:{port}"), "timeout": 10000}));
    assert_eq!(i.url, format!("socks5h://{USER}@127.0.0.1:{port}"));
    fails_via(
        &url,
        &json!({"proxy": format!("socks5://{USER}:nope@127.0.0.1:{port}"), "timeout": 10000}),
        WS_E_PROXY_AUTH,
        &["proxy authentication failed", "rejected the user name or password"],
    );
    fails_via(
        &url,
        &json!({"proxy": format!("socks5://127.0.0.1:{port}"), "timeout": 10000}),
        WS_E_PROXY_AUTH,
        &["proxy authentication required"],
    );
}

// ---- the environment (child processes) -------------------------------------------

/// Runs `env_child` in a child process with `mode` and the environment
/// `vars` (nothing else proxy-related is inherited).
fn run_child(mode: &str, vars: &[(&str, String)]) {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["env_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"]);
    for k in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "ws_proxy",
        "WS_PROXY",
        "wss_proxy",
        "WSS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
        "REQUEST_METHOD",
    ] {
        c.env_remove(k);
    }
    c.env("WSCLIENT_PROXY_CHILD", mode);
    // the child trusts the parent's server (its own pki() would be new)
    c.env("WSCLIENT_PROXY_CHILD_CA", pki().server_ca.pem());
    for (k, v) in vars {
        c.env(k, v);
    }
    let out = c.output().expect("run child");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("CHILD OK"), "child {mode} {vars:?} failed:\n{text}");
}

#[test]
fn environment_rules_like_curl() {
    let _w = watchdog("environment_rules_like_curl", LIMIT);
    let Some(sq) = squid() else { return };
    let Some(ms) = microsocks(false) else { return };
    let http = format!("http://127.0.0.1:{}", sq.open);
    let socks = format!("socks5h://127.0.0.1:{}", socks_port(&ms));
    let dead = format!("http://127.0.0.1:{}", dead_port());
    let ws = ws_echo().url();
    let wss = wss_url();
    let e = |k: &str, v: &String| (k.to_string(), v.clone());
    let cases: Vec<(String, Vec<(String, String)>)> = vec![
        (format!("via|{ws}|http|http_proxy"), vec![e("http_proxy", &http)]),
        (format!("via|{wss}|http|https_proxy"), vec![e("https_proxy", &http)]),
        (format!("via|{wss}|http|HTTPS_PROXY"), vec![e("HTTPS_PROXY", &http)]),
        (format!("via|{wss}|socks5h|wss_proxy"), vec![e("wss_proxy", &socks), e("https_proxy", &dead)]),
        (format!("via|{ws}|socks5h|ws_proxy"), vec![e("ws_proxy", &socks), e("http_proxy", &dead)]),
        (format!("via|{ws}|socks5h|ALL_PROXY"), vec![e("ALL_PROXY", &socks)]),
        (format!("via|{ws}|http|http_proxy"), vec![e("http_proxy", &http), e("HTTPS_PROXY", &dead)]),
        // curl's rule: HTTP_PROXY in upper case is never read (CGI)
        (format!("direct|{ws}"), vec![e("HTTP_PROXY", &dead), e("REQUEST_METHOD", &"GET".into())]),
        // lower case wins
        (format!("via|{wss}|socks5h|https_proxy"), vec![e("https_proxy", &socks), e("HTTPS_PROXY", &dead)]),
        // no_proxy: match (address, CIDR, name) and miss
        (format!("direct|{ws}"), vec![e("http_proxy", &dead), e("no_proxy", &"127.0.0.1".into())]),
        (format!("direct|{ws}"), vec![e("http_proxy", &dead), e("NO_PROXY", &"10.0.0.0/8, 127.0.0.0/8".into())]),
        (format!("direct|{wss}"), vec![e("https_proxy", &dead), e("no_proxy", &".localhost".into())]),
        (format!("direct|{wss}"), vec![e("https_proxy", &dead), e("no_proxy", &"*".into())]),
        (
            format!("via|{ws}|http|http_proxy"),
            vec![e("http_proxy", &http), e("no_proxy", &"10.0.0.0/8,example.com".into())],
        ),
        // option vs environment
        (format!("option|{ws}|{socks}"), vec![e("http_proxy", &dead), e("all_proxy", &dead)]),
        (format!("off|{ws}"), vec![e("http_proxy", &dead)]),
        (format!("noenv|{ws}"), vec![e("http_proxy", &dead)]),
        (format!("false|{ws}"), vec![e("http_proxy", &dead)]),
        (format!("badenv|{ws}"), vec![e("http_proxy", &"gopher://u:pw@h".into())]),
    ];
    for (mode, vars) in cases {
        let vars: Vec<(&str, String)> = vars.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        run_child(&mode, &vars);
    }
}

/// The child side of `environment_rules_like_curl` (run only by it, in a
/// child process with `--ignored`).
#[test]
#[ignore = "run by environment_rules_like_curl in a child process"]
fn env_child() {
    let mode = std::env::var("WSCLIENT_PROXY_CHILD").expect("WSCLIENT_PROXY_CHILD: run by environment_rules_like_curl");
    let _w = watchdog("env_child", Duration::from_secs(60));
    let parts: Vec<&str> = mode.split('|').collect();
    let url = parts[1];
    let ca = std::env::var("WSCLIENT_PROXY_CHILD_CA").expect("the parent's CA");
    let mut o = json!({"timeout": 10000, "caCertificates": ca});
    match parts[0] {
        "via" => {
            let i = ok_via(url, &o);
            assert!(i.used, "{mode}: expected a proxy, went direct");
            assert_eq!((i.kind.as_str(), i.source.as_str()), (parts[2], parts[3]), "{mode}: {i:?}");
        }
        "direct" => {
            let i = ok_via(url, &o);
            assert!(!i.used, "{mode}: expected direct, went through {i:?}");
        }
        "option" => {
            o["proxy"] = json!(parts[2]);
            let i = ok_via(url, &o);
            assert_eq!(i.source, "option", "{i:?}");
        }
        "off" | "false" => {
            o["proxy"] = if parts[0] == "off" { json!("") } else { json!(false) };
            assert!(!ok_via(url, &o).used);
        }
        "noenv" => {
            o["proxyFromEnvironment"] = json!(false);
            assert!(!ok_via(url, &o).used);
        }
        "badenv" => {
            let (m, _) = fails_via(url, &o, WS_E_INVALID_OPTIONS, &["environment variable http_proxy"]);
            assert!(!m.contains(":pw@"), "{m}");
        }
        other => panic!("unknown mode {other}"),
    }
    println!("CHILD OK {mode}");
}

// ---- Happy Eyeballs --------------------------------------------------------------------

/// Makes a TCP port silent: an iptables DROP rule where this runs as root
/// and iptables works, else a listener whose backlog is full and that never
/// accepts (further SYNs are dropped). Undone on drop.
struct Blackhole {
    rule: Option<(&'static str, String, u16)>,
    _listener: Option<(socket2::Socket, TcpStream)>,
    how: String,
}

impl Blackhole {
    fn new(addr: SocketAddr) -> Blackhole {
        let tool = if addr.is_ipv6() { "ip6tables" } else { "iptables" };
        let dst = addr.ip().to_string();
        let port = addr.port();
        let rule = |op: &str| {
            Command::new(tool)
                .args([op, "INPUT", "-p", "tcp", "-d", &dst, "--dport", &port.to_string(), "-j", "DROP"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if rule("-I") {
            return Blackhole { rule: Some((tool, dst, port)), _listener: None, how: format!("{tool} DROP rule") };
        }
        let domain = if addr.is_ipv6() { socket2::Domain::IPV6 } else { socket2::Domain::IPV4 };
        let l = socket2::Socket::new(domain, socket2::Type::STREAM, None).unwrap();
        if addr.is_ipv6() {
            l.set_only_v6(true).unwrap();
        }
        l.bind(&addr.into()).unwrap();
        l.listen(0).unwrap();
        // backlog 0 holds one established connection; then SYNs are dropped
        let filler = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        Blackhole { rule: None, _listener: Some((l, filler)), how: "a listener with a full backlog".into() }
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        if let Some((tool, dst, port)) = &self.rule {
            let _ = Command::new(tool)
                .args(["-D", "INPUT", "-p", "tcp", "-d", dst, "--dport", &port.to_string(), "-j", "DROP"])
                .status();
        }
    }
}

/// A name that resolves to both ::1 and 127.0.0.1: an /etc/hosts entry
/// where this runs as root, else the library's test resolver.
fn dual_stack_name() -> (&'static str, String) {
    const NAME: &str = "wsclient-dual.test";
    let resolves_both = || {
        let v: Vec<SocketAddr> = (NAME, 1).to_socket_addrs().map(|i| i.collect()).unwrap_or_default();
        v.iter().any(|a| a.is_ipv4()) && v.iter().any(|a| a.is_ipv6())
    };
    if !resolves_both() {
        let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        let add = format!("\n::1 {NAME}\n127.0.0.1 {NAME}\n");
        if !hosts.contains(NAME) {
            let _ = std::fs::OpenOptions::new()
                .append(true)
                .open("/etc/hosts")
                .and_then(|mut f| f.write_all(add.as_bytes()));
        }
    }
    if resolves_both() {
        return (NAME, "/etc/hosts".into());
    }
    wsclient::internals::set_test_host(NAME, vec!["::1".parse().unwrap(), "127.0.0.1".parse().unwrap()]);
    (NAME, "the test resolver (cannot edit /etc/hosts)".into())
}

#[test]
fn happy_eyeballs_dead_family_costs_the_delay() {
    let _w = watchdog("happy_eyeballs_dead_family_costs_the_delay", LIMIT);
    if TcpListener::bind("[::1]:0").is_err() {
        println!("SKIP: no IPv6 loopback");
        return;
    }
    let (name, how) = dual_stack_name();
    // the echo server listens on 127.0.0.1 only; the same port on ::1 is
    // first refused (no listener), then blackholed
    let port = ws_echo().port;
    let v6 = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
    let url = format!("ws://{name}:{port}/");
    let first_is_v6 =
        how.starts_with("the test") || (name, port).to_socket_addrs().unwrap().next().is_some_and(|a| a.is_ipv6());
    println!("{name} via {how}; first address IPv6: {first_is_v6}");
    let (r, took) = timed(|| echo_via(&url, &json!({"timeout": 10000})));
    r.unwrap();
    println!("no listener on [::1]:{port}: {took:?}");
    assert!(took < Duration::from_millis(1000), "a refused family must not cost the delay: {took:?}");
    let hole = Blackhole::new(v6);
    println!("[::1]:{port} blackholed with {}", hole.how);
    for (delay, lo, hi) in [(None, 240, 1500), (Some(100), 90, 1000)] {
        let mut o = json!({"timeout": 10000});
        if let Some(d) = delay {
            o["happyEyeballsDelay"] = json!(d);
        }
        let (r, took) = timed(|| echo_via(&url, &o));
        r.unwrap();
        println!("blackholed IPv6, delay {delay:?}: connected in {took:?}");
        if first_is_v6 {
            assert_between(took, lo, hi, "connect time ~ the Happy Eyeballs delay, not the OS connect timeout");
        }
    }
    // without a second family the timeout applies and gives -2
    let o = json!({"timeout": 500}).to_string();
    let (s, took) = timed(|| open(&format!("ws://[::1]:{port}/"), Some(&o)));
    assert_eq!(s, WS_TIMEOUT);
    assert_error(WS_E_TIMEOUT, &["timeout after 500 ms during TCP connect to [::1]"]);
    assert_between(took, 480, 3000, "blackholed single address");
    drop(hole);
}

// ---- attempts that never wait behind each other ----------------------------------------

fn next_event(q: c_int, timeout_ms: c_int) -> Option<(c_int, c_int, c_int)> {
    let mut ev = std::mem::MaybeUninit::<ws_event>::zeroed();
    let r = ws_next_event(q, ev.as_mut_ptr(), timeout_ms);
    if r != WS_OK {
        return None;
    }
    // SAFETY: filled by ws_next_event (WS_OK)
    let ev = unsafe { ev.assume_init() };
    Some((ev.r#type, ev.socket, ev.code))
}

#[test]
fn hundred_blackholed_opens_do_not_delay_a_live_one() {
    let _w = watchdog("hundred_blackholed_opens_do_not_delay_a_live_one", LIMIT);
    let live = ws_echo();
    // its own handshake time, measured
    let (s, handshake) = timed(|| open_ok(&live.url(), None));
    close_ok(s);
    let dead_port = free_port();
    let dead = SocketAddr::from(([127, 0, 0, 1], dead_port));
    let hole = Blackhole::new(dead);
    println!("blackhole with {}; direct handshake {handshake:?}", hole.how);
    let q = ws_queue_create();
    assert!(q > 0);
    let dead_opts = json!({"queue": q, "timeout": 1500}).to_string();
    let start = Instant::now();
    let mut dead_socks = Vec::new();
    for _ in 0..100 {
        let s = ws_open_async(cs(&format!("ws://127.0.0.1:{dead_port}/")).as_ptr(), cs(&dead_opts).as_ptr());
        assert!(s > 0, "{}", describe());
        dead_socks.push(s);
    }
    let live_opts = json!({"queue": q, "timeout": 10000}).to_string();
    let t_live = Instant::now();
    let ls = ws_open_async(cs(&live.url()).as_ptr(), cs(&live_opts).as_ptr());
    assert!(ls > 0);
    let mut live_open = None;
    let mut dead_errors = 0;
    let mut last_dead = Duration::ZERO;
    while (live_open.is_none() || dead_errors < 100) && start.elapsed() < Duration::from_secs(30) {
        let Some((ty, s, code)) = next_event(q, 1000) else { continue };
        if s == ls && ty == WS_EV_OPEN {
            live_open = Some(t_live.elapsed());
        } else if s != ls && ty == WS_EV_ERROR {
            assert_eq!(error_name(code), "WS_E_TIMEOUT");
            dead_errors += 1;
            last_dead = start.elapsed();
        }
    }
    let live_open = live_open.expect("the live socket never opened");
    println!("live open after {live_open:?}; 100 dead ones timed out, the last after {last_dead:?}");
    assert!(live_open <= handshake + Duration::from_millis(100), "{live_open:?} vs handshake {handshake:?}");
    assert_eq!(dead_errors, 100);
    assert_between(last_dead, 1450, 4000, "each dead attempt ends with its own timeout, not in turn");
    for s in dead_socks {
        close(s);
    }
    close_ok(ls);
    ws_queue_destroy(q);
    drop(hole);
}

// ---- redirects ---------------------------------------------------------------------------

/// Answers one upgrade request with `status` and `Location: loc`; returns
/// the request.
fn redirector(status: u16, loc: String) -> Server<Request> {
    serve_tcp(move |mut s| {
        let (req, _) = read_request(&mut s);
        let _ = write!(s, "HTTP/1.1 {status} Moved\r\nLocation: {loc}\r\nContent-Length: 0\r\n\r\n");
        req
    })
}

/// Records the request, then behaves as a WebSocket echo server for one
/// message.
fn recording_echo() -> Server<Request> {
    serve_tcp(|mut s| {
        let (req, _) = read_request(&mut s);
        let _ = s.write_all(response_101(&req, "").as_bytes());
        let mut peer = Peer::new(s, req.clone(), Vec::new());
        let (op, data) = peer.expect_message(Duration::from_secs(10));
        peer.frame(true, op, &data);
        req
    })
}

#[test]
fn follow_redirects() {
    let _w = watchdog("follow_redirects", LIMIT);
    let echo = ws_echo();
    // off by default: the 302 is the error, Location readable
    let r = redirector(302, echo.url());
    fails_via(&r.url("/"), &json!({}), WS_E_UPGRADE_REJECTED, &["HTTP 302"]);
    assert!(from_c(ws_last_response_headers()).unwrap_or_default().contains(&echo.url()));
    r.join();
    for status in [301, 302, 307, 308] {
        let r = redirector(status, echo.url());
        ok_via(&r.url("/"), &json!({"followRedirects": 1}));
        r.join();
    }
    // a chain longer than allowed
    let r2 = redirector(302, echo.url());
    let r1 = redirector(307, r2.url("/"));
    fails_via(
        &r1.url("/"),
        &json!({"followRedirects": 1}),
        WS_E_UPGRADE_REJECTED,
        &["HTTP 302", "\"followRedirects\" 1 reached"],
    );
    r1.join();
    r2.join();
    // ws -> wss allowed
    let r = redirector(302, wss_url());
    ok_via(&r.url("/"), &json!({"followRedirects": 2, "caCertificates": server_trust()}));
    r.join();
    // Authorization: kept on the same host, never sent to another
    let other = recording_echo();
    let r = redirector(302, format!("ws://localhost:{}/x", other.port));
    let url = r.url("/").replace("ws://", &format!("ws://{USER}:pw@"));
    ok_via(&url, &json!({"followRedirects": 1, "headers": {"Authorization": "Bearer t0ken"}}));
    let first = r.join();
    assert!(first.get("authorization").is_some(), "the first host gets it");
    let req = other.join();
    assert!(req.get("authorization").is_none(), "Authorization went to another host: {:?}", req.get("authorization"));
    let here = recording_echo();
    let r = redirector(302, format!("ws://127.0.0.1:{}/y", here.port));
    let url = r.url("/").replace("ws://", &format!("ws://{USER}:pw@"));
    // another port is another origin: nothing sent either
    ok_via(&url, &json!({"followRedirects": 1}));
    r.join();
    assert!(here.join().get("authorization").is_none());
}

#[test]
fn wss_never_redirects_to_ws() {
    let _w = watchdog("wss_never_redirects_to_ws", LIMIT);
    // a TLS server answering 302 to ws://: use the echo through https
    // redirect logic with a raw TLS redirector
    let p = pki();
    let acceptor = {
        let mut b = openssl::ssl::SslAcceptor::mozilla_intermediate_v5(openssl::ssl::SslMethod::tls_server()).unwrap();
        b.set_certificate(&p.server.cert).unwrap();
        b.set_private_key(&p.server.key).unwrap();
        Arc::new(b.build())
    };
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let target = ws_echo().url();
    let served = Arc::new(Mutex::new(0));
    let s2 = served.clone();
    let h = std::thread::spawn(move || {
        let (tcp, _) = l.accept().unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut t = acceptor.accept(tcp).unwrap();
        let mut r = BufReader::new(&mut t);
        let mut line = String::new();
        while r.read_line(&mut line).is_ok_and(|n| n > 2) {
            line.clear();
        }
        let _ = write!(t, "HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n");
        let _ = t.flush();
        let mut rest = Vec::new();
        let _ = t.read_to_end(&mut rest);
        *s2.lock().unwrap() += 1;
    });
    fails_via(
        &format!("wss://localhost:{port}/"),
        &json!({"followRedirects": 3, "caCertificates": server_trust(), "timeout": 10000}),
        WS_E_UPGRADE_REJECTED,
        &["HTTP 302", "would go from wss:// to ws://"],
    );
    h.join().unwrap();
    assert_eq!(*served.lock().unwrap(), 1);
}
