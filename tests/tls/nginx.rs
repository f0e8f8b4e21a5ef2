//! Against a real TLS server: nginx (tests/nginx/ensure-nginx.sh installs
//! nginx-light) requiring a client certificate, in PEM and PKCS#12 form,
//! and verification of nginx's own certificate.

use super::identity::{client_keys, p12};
use super::*;
use std::io::Read;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

/// The nginx binary, installing it with tests/nginx/ensure-nginx.sh when
/// running as root in CI; None (after a loud message) when there is none,
/// unless WSCLIENT_REQUIRE_NGINX is set, which makes that a failure.
fn nginx_binary() -> Option<PathBuf> {
    let find = || {
        std::env::var_os("WSCLIENT_NGINX")
            .map(PathBuf::from)
            .into_iter()
            .chain([PathBuf::from("/usr/sbin/nginx"), PathBuf::from("/usr/local/sbin/nginx")])
            .chain(std::env::var_os("PATH").iter().flat_map(std::env::split_paths).map(|d| d.join("nginx")))
            .find(|p| p.is_file())
    };
    if let Some(p) = find() {
        return Some(p);
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root && std::env::var_os("CI").is_some() {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/nginx/ensure-nginx.sh");
        let st = Command::new("sh").arg(script).status();
        eprintln!("ran {script}: {st:?}");
        if let Some(p) = find() {
            return Some(p);
        }
    }
    let msg = "nginx is not installed (run tests/nginx/ensure-nginx.sh as root): the nginx TLS tests did NOT run";
    if std::env::var_os("WSCLIENT_REQUIRE_NGINX").is_some() {
        panic!("{msg}");
    }
    eprintln!("\n*** SKIPPED: {msg} ***\n");
    None
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port()
}

/// A plain WebSocket echo server behind nginx. Its first message tells
/// what nginx passed on about the client certificate.
#[allow(clippy::result_large_err)] // tungstenite's handshake callback type
fn upstream() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
                let mut dn = String::new();
                let cb = |req: &tungstenite::handshake::server::Request, resp| {
                    dn = req.headers().get("x-client-dn").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                    Ok(resp)
                };
                let Ok(mut ws) = tungstenite::accept_hdr(s, cb) else { return };
                if ws.send(tungstenite::Message::text(format!("client-dn={dn}"))).is_err() {
                    return;
                }
                while let Ok(m) = ws.read() {
                    if (m.is_text() || m.is_binary()) && ws.send(m).is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

struct Nginx {
    child: Child,
    dir: TempDir,
    /// Requires a client certificate.
    mtls_port: u16,
    /// Server certificate for "localhost" only; no client certificate.
    plain_port: u16,
}

impl Nginx {
    fn start(bin: &PathBuf, server: &Cert, localhost_only: &Cert, client_ca: &Cert) -> Nginx {
        let up = upstream();
        for attempt in 0..5 {
            let dir = TempDir::new("nginx");
            let d = dir.path().display().to_string();
            dir.file("server.pem", server.pem().as_bytes());
            dir.file("server.key", server.key_pkcs8().as_bytes());
            dir.file("localhost.pem", localhost_only.pem().as_bytes());
            dir.file("localhost.key", localhost_only.key_pkcs8().as_bytes());
            dir.file("client-ca.pem", client_ca.pem().as_bytes());
            let (p1, p2) = (free_port(), free_port());
            let location = format!(
                "location / {{ proxy_pass http://127.0.0.1:{up}; proxy_http_version 1.1; \
                 proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\"; \
                 proxy_set_header X-Client-DN $ssl_client_s_dn; proxy_read_timeout 60s; }}"
            );
            let conf = format!(
                "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
                 error_log {d}/error.log info;\nevents {{ worker_connections 64; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
                 fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
                 server {{\n    listen 127.0.0.1:{p1} ssl;\n    server_name localhost;\n\
                 ssl_certificate {d}/server.pem;\n    ssl_certificate_key {d}/server.key;\n\
                 ssl_client_certificate {d}/client-ca.pem;\n    ssl_verify_client on;\n    ssl_verify_depth 3;\n\
                 {location}\n  }}\n\
                 server {{\n    listen 127.0.0.1:{p2} ssl;\n    server_name localhost;\n\
                 ssl_certificate {d}/localhost.pem;\n    ssl_certificate_key {d}/localhost.key;\n    {location}\n  }}\n}}\n"
            );
            let conf_path = dir.file("nginx.conf", conf.as_bytes());
            let child = Command::new(bin)
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(&conf_path)
                .arg("-e")
                .arg(dir.path().join("error.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start nginx");
            let mut n = Nginx { child, dir, mtls_port: p1, plain_port: p2 };
            let t0 = Instant::now();
            loop {
                if let Ok(Some(status)) = n.child.try_wait() {
                    let mut err = String::new();
                    if let Some(mut e) = n.child.stderr.take() {
                        let _ = e.read_to_string(&mut err);
                    }
                    let log = std::fs::read_to_string(n.dir.path().join("error.log")).unwrap_or_default();
                    // A port taken between choosing and binding: try others.
                    if attempt < 4 && (err.contains("Address already in use") || log.contains("Address already in use"))
                    {
                        break;
                    }
                    panic!("nginx exited with {status}:\n{err}\n{log}");
                }
                let up1 = TcpStream::connect((Ipv4Addr::LOCALHOST, p1)).is_ok();
                let up2 = TcpStream::connect((Ipv4Addr::LOCALHOST, p2)).is_ok();
                if up1 && up2 {
                    return n;
                }
                assert!(t0.elapsed() < Duration::from_secs(15), "nginx did not start listening");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        unreachable!("nginx could not bind free ports")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SAFETY: the pid is our child's; SIGTERM lets nginx clean up.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens, checks what nginx told the upstream about the client
/// certificate, echoes, closes.
#[track_caller]
fn open_mtls(url: &str, options: &Value, want_dn: &str) {
    let s = open(url, Some(&options.to_string()));
    assert!(s > 0, "ws_open({url}) with {options}: {}", describe());
    let (_, first) = read_msg(s, 10_000);
    let first = String::from_utf8(first).unwrap();
    assert!(first.starts_with("client-dn=") && first.contains(want_dn), "{first} (want {want_dn})");
    write_ok(s, b"through nginx", WS_BINARY);
    assert_eq!(read_msg(s, 10_000), (WS_BINARY, b"through nginx".to_vec()));
    close_ok(s);
}

#[test]
fn nginx_client_certificates() {
    let _w = watchdog("nginx_client_certificates", Duration::from_secs(180));
    let Some(bin) = nginx_binary() else { return };
    let ca = test_ca();
    let server = make(&Spec::server("nginx"), Some(rsa_key(2048)), Some(&ca));
    let localhost_only = make(&Spec { sans: &["DNS:localhost"], ..Spec::server("localhost") }, None, Some(&ca));
    let client_ca = make(&Spec::ca("client CA"), None, None);
    let nginx = Nginx::start(&bin, &server, &localhost_only, &client_ca);
    let url = format!("wss://127.0.0.1:{}/", nginx.mtls_port);
    let trust = ca.pem();

    for ck in client_keys() {
        let client = make(&Spec::client(ck.label), Some(ck.key), Some(&client_ca));
        let o = json!({ "caCertificates": trust, "sslConfig": { "localCertificate": client.pem(), "privateKey": ck.option } });
        open_mtls(&url, &o, &format!("CN={}", ck.label));
    }

    // Files instead of text, a key without "algorithm", and a chain:
    // the client's certificate issued by an intermediate that only the
    // client sends.
    let inter = make(&Spec::ca("client issuing CA"), None, Some(&client_ca));
    let chained = make(&Spec::client("chained"), None, Some(&inter));
    let dir = TempDir::new("nginx-client");
    let cf = dir.file("client.pem", format!("{}{}", chained.pem(), inter.pem()).as_bytes());
    let kf = dir.file("client.key", chained.key_pkcs8().as_bytes());
    let o = json!({ "caCertificates": trust, "sslConfig": { "localCertificateFile": cf, "privateKey": { "keyFile": kf } } });
    open_mtls(&url, &o, "CN=chained");

    // The same identities as PKCS#12 files (with the intermediate inside),
    // as a file and as base64 text, TLS 1.3 and 1.2.
    for (client, cas, cn) in [
        (&chained, vec![&inter], "CN=chained"),
        (&make(&Spec::client("p12"), Some(rsa_key(2048)), Some(&client_ca)), vec![], "CN=p12"),
    ] {
        let der = p12(client, &cas, "nginx p12");
        let f = dir.file("client.p12", &der);
        for max in ["1.3", "1.2"] {
            let o = json!({ "caCertificates": trust, "tlsMaxVersion": max, "sslConfig": { "pkcs12File": f, "password": "nginx p12" } });
            open_mtls(&url, &o, cn);
        }
        let o = json!({ "caCertificates": trust, "sslConfig": { "pkcs12": openssl::base64::encode_block(&der), "password": "nginx p12" } });
        open_mtls(&url, &o, cn);
    }

    // No client certificate: nginx completes TLS and answers 400.
    let m = rejected(
        &url,
        &json!({ "caCertificates": trust }),
        WS_E_UPGRADE_REJECTED,
        &[
            &format!("upgrade rejected by 127.0.0.1:{}: HTTP 400 Bad Request", nginx.mtls_port),
            "No required SSL certificate was sent",
        ],
    );
    println!("without a client certificate: {m}");
    // A client certificate from a CA nginx does not trust.
    let stranger_ca = make(&Spec::ca("stranger CA"), None, None);
    let stranger = make(&Spec::client("stranger"), None, Some(&stranger_ca));
    let o = json!({ "caCertificates": trust, "sslConfig": { "localCertificate": stranger.pem(), "privateKey": { "key": stranger.key_pkcs8(), "algorithm": "EC" } } });
    rejected(&url, &o, WS_E_UPGRADE_REJECTED, &["HTTP 400", "SSL certificate error"]);

    // The second server: verification against a real TLS server.
    let plain = nginx.plain_port;
    rejected(
        &format!("wss://127.0.0.1:{plain}/"),
        &json!({ "caCertificates": trust }),
        WS_E_TLS_VERIFY,
        &["HostNameMismatch (127.0.0.1 is not in the certificate: DNS:localhost)"],
    );
    rejected(&format!("wss://localhost:{plain}/"), &json!({}), WS_E_TLS_VERIFY, &["UnableToGetLocalIssuerCertificate"]);
    let s = open(&format!("wss://localhost:{plain}/"), Some(&json!({ "caCertificates": trust }).to_string()));
    assert!(s > 0, "{}", describe());
    close_ok(s);
    for o in [
        json!({ "caCertificates": trust, "ignoreSslErrors": ["HostNameMismatch"] }),
        json!({ "ignoreSslErrors": ["HostNameMismatch", "UnableToGetLocalIssuerCertificate"] }),
        json!({ "pinnedSha256": localhost_only.sha256_colons() }),
    ] {
        let s = open(&format!("wss://127.0.0.1:{plain}/"), Some(&o.to_string()));
        assert!(s > 0, "{o}: {}", describe());
        assert!(matches!(read(s, 200), Got::Msg(..)), "the upstream greets");
        close_ok(s);
    }
    let log = nginx.log();
    assert!(!log.contains("[emerg]") && !log.contains("[alert]"), "nginx log:\n{log}");
}
