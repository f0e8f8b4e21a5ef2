//! Reaching the server through a proxy: the `"proxy"` option and its
//! companions, the choice between the option, the environment (`env.rs`,
//! curl's rules) and a direct connection, and the tunnel through an HTTP
//! proxy (`http.rs`, CONNECT, also for `ws://`: never an absolute-URI GET)
//! or a SOCKS5 proxy (`socks.rs`, RFC 1928 with RFC 1929 user/password).
//!
//! Proxy URLs: `http://[user:pass@]host[:port]` (default port 1080, as
//! curl), `https://...` (TLS to the proxy, default port 443; verified with
//! the `"proxy..."` TLS keys, never the server's), `socks5://` (the client
//! resolves the server's name) and `socks5h://` (the proxy resolves it).
//! A URL without a scheme is `http://` (curl). User and password are
//! percent-decoded; the password is kept in a [`Secret`] that never prints,
//! so it cannot reach an error message, a log or `ws_get_proxy_info`.
#![deny(unsafe_code)]

pub mod env;
pub mod http;
pub mod socks;

use crate::error::{Code, Error};
use crate::options::{HostKind, Scheme, Target};
use env::{EnvSnapshot, NoProxy};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Http,
    Https,
    Socks5,
    /// SOCKS5, the proxy resolves the server's name.
    Socks5h,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Http => "http",
            Kind::Https => "https",
            Kind::Socks5 => "socks5",
            Kind::Socks5h => "socks5h",
        }
    }

    pub fn is_socks(self) -> bool {
        matches!(self, Kind::Socks5 | Kind::Socks5h)
    }
}

/// A password: compared and sent, never printed (Debug shows `***`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A validated proxy URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyUrl {
    pub kind: Kind,
    pub host: HostKind,
    pub port: u16,
    pub user: Option<String>,
    pub pass: Option<Secret>,
}

fn host_str(h: &HostKind) -> String {
    match h {
        HostKind::Name(n) => n.clone(),
        HostKind::V4(a) => a.to_string(),
        HostKind::V6(a) => format!("[{a}]"),
    }
}

impl ProxyUrl {
    /// Parses a proxy URL; Err: why not (without the password).
    pub fn parse(raw: &str) -> std::result::Result<ProxyUrl, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("empty proxy URL".into());
        }
        let with_scheme = if raw.contains("://") { raw.to_string() } else { format!("http://{raw}") };
        let scheme = with_scheme[..with_scheme.find("://").unwrap_or(0)].to_ascii_lowercase();
        let kind = match scheme.as_str() {
            "http" => Kind::Http,
            "https" => Kind::Https,
            "socks5" => Kind::Socks5,
            "socks5h" => Kind::Socks5h,
            other => {
                return Err(format!(
                    "unsupported proxy scheme \"{}\" (expected http, https, socks5 or socks5h)",
                    other.chars().take(20).collect::<String>()
                ))
            }
        };
        let u = url::Url::parse(&with_scheme).map_err(|e| format!("invalid proxy URL: {e}"))?;
        let host = match u.host() {
            Some(url::Host::Ipv4(a)) => HostKind::V4(a),
            Some(url::Host::Ipv6(a)) => HostKind::V6(a),
            Some(url::Host::Domain(d)) if !d.is_empty() => match d.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V4(a)) => HostKind::V4(a),
                Ok(std::net::IpAddr::V6(a)) => HostKind::V6(a),
                Err(_) if d.len() <= 253 => HostKind::Name(d.to_ascii_lowercase()),
                Err(_) => return Err("proxy host name longer than 253 characters".into()),
            },
            _ => return Err("proxy URL without a host".into()),
        };
        let default_port = if kind == Kind::Https { 443 } else { 1080 };
        let port = u.port().unwrap_or(default_port);
        if port == 0 {
            return Err("proxy port 0 is not a valid port (1-65535)".into());
        }
        if !matches!(u.path(), "" | "/") || u.query().is_some() || u.fragment().is_some() {
            return Err("a proxy URL has no path, query or fragment".into());
        }
        let user = (!u.username().is_empty()).then(|| crate::options::percent_decode(u.username()));
        let pass = u.password().map(|p| Secret(crate::options::percent_decode(p)));
        if kind.is_socks() {
            // RFC 1929: one length byte each.
            if user.as_ref().is_some_and(|u| u.len() > 255) || pass.as_ref().is_some_and(|p| p.0.len() > 255) {
                return Err("SOCKS5 user name and password are at most 255 bytes each (RFC 1929)".into());
            }
        }
        if user.is_none() && pass.is_some() {
            return Err("proxy password without a user name".into());
        }
        Ok(ProxyUrl { kind, host, port, user, pass })
    }

    /// "http://user@proxy:3128": the URL without the password, for messages
    /// and `ws_get_proxy_info`.
    pub fn display(&self) -> String {
        let user = self.user.as_ref().map(|u| format!("{}@", url_escape(u))).unwrap_or_default();
        format!("{}://{user}{}:{}", self.kind.name(), host_str(&self.host), self.port)
    }

    /// "proxy:3128" (messages, TLS peer name).
    pub fn peer(&self) -> String {
        format!("{}:{}", host_str(&self.host), self.port)
    }

    /// The proxy as a `Target`, for DNS, connect and TLS to it.
    pub fn as_target(&self) -> Target {
        Target {
            scheme: Scheme::Wss,
            host: self.host.clone(),
            port: self.port,
            resource: "/".into(),
            host_header: self.peer(),
            basic_auth: None,
        }
    }

    /// "Basic ..." for Proxy-Authorization, with user and password.
    pub fn basic_auth(&self) -> Option<String> {
        let user = self.user.as_ref()?;
        let pass = self.pass.as_ref().map(|p| p.0.as_str()).unwrap_or("");
        Some(format!("Basic {}", crate::options::base64(format!("{user}:{pass}").as_bytes())))
    }
}

fn url_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What `"proxy"` (or its absence) asks for.
#[derive(Clone, Debug, Default)]
pub enum Setting {
    /// `"proxy": ""` or `false`, or nothing in the environment to look at.
    #[default]
    Off,
    /// `"proxy": "URL"`.
    Url(ProxyUrl),
    /// No `"proxy"` key: the environment as it was at `ws_open`.
    Env(EnvSnapshot),
}

/// The proxy keys of the options mapping.
#[derive(Clone, Debug)]
pub struct ProxyOptions {
    pub setting: Setting,
    /// `"proxy"` was given (it then wins over the environment).
    given: bool,
    /// `"proxyFromEnvironment"` (default true).
    from_env: bool,
    /// `"noProxy"`: hosts that go direct even with `"proxy"`.
    pub no_proxy: NoProxy,
    /// TLS to an https:// proxy: the `"proxy..."` TLS keys.
    pub tls: crate::tls::TlsOptions,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        ProxyOptions {
            setting: Setting::Off,
            given: false,
            from_env: true,
            no_proxy: NoProxy::default(),
            tls: Default::default(),
        }
    }
}

/// Parses a proxy key of the options mapping. None: not a proxy key. Err:
/// what is wrong with the value (the caller adds the key).
pub fn parse_option(
    key: &str,
    v: &serde_json::Value,
    po: &mut ProxyOptions,
) -> Option<std::result::Result<(), String>> {
    use serde_json::Value;
    let r = match key {
        "proxy" => {
            po.given = true;
            match v {
                Value::Bool(false) => {
                    po.setting = Setting::Off;
                    Ok(())
                }
                Value::String(s) if s.trim().is_empty() => {
                    po.setting = Setting::Off;
                    Ok(())
                }
                Value::String(s) => ProxyUrl::parse(s).map(|u| po.setting = Setting::Url(u)),
                _ => Err("must be a proxy URL string (http://, https://, socks5://, socks5h://), \"\" or false".into()),
            }
        }
        "proxyFromEnvironment" => {
            v.as_bool().map(|b| po.from_env = b).ok_or_else(|| format!("must be true or false, got {v}"))
        }
        "noProxy" => match v {
            Value::String(s) => {
                po.no_proxy = NoProxy::parse(s);
                Ok(())
            }
            _ => Err("must be a string like no_proxy (\"host, .domain, 10.0.0.0/8\")".into()),
        },
        _ => {
            // "proxyIgnoreSslErrors", "proxyCaCertificates", ...: a TLS key
            // with the prefix, for the TLS connection to an https:// proxy.
            let rest = key.strip_prefix("proxy")?;
            let mut c = rest.chars();
            let first = c.next()?;
            if !first.is_ascii_uppercase() {
                return None;
            }
            let tls_key = format!("{}{}", first.to_ascii_lowercase(), c.as_str());
            return crate::tls::parse_option(&tls_key, v, &mut po.tls);
        }
    };
    Some(r)
}

/// Completes the proxy options once every key is parsed (the environment
/// is read later, by `read_environment`, once the URL's scheme is known).
pub fn finish(po: &mut ProxyOptions) -> std::result::Result<(), String> {
    crate::tls::finish(&po.tls).map_err(|e| format!("proxy TLS: {e}"))
}

/// Reads the proxy variables of the environment, on the `ws_open` thread,
/// when `"proxy"` was not given and `"proxyFromEnvironment"` is not false:
/// those a URL of `scheme` uses (and wss://'s too when `redirects` may lead
/// there). The snapshot is kept for every reconnect of the socket.
pub fn read_environment(po: &mut ProxyOptions, scheme: &Scheme, redirects: bool) {
    if !po.given {
        po.setting = if po.from_env { Setting::Env(EnvSnapshot::read(scheme, redirects)) } else { Setting::Off };
    }
}

/// The proxy a connection to `target` goes through, and where it was set.
#[derive(Clone, Debug)]
pub struct Route {
    pub url: ProxyUrl,
    /// "option" or the environment variable's name.
    pub source: &'static str,
}

/// Decides the proxy for `target` (None: direct).
pub fn route(target: &Target, po: &ProxyOptions) -> crate::error::Result<Option<Route>> {
    match &po.setting {
        Setting::Off => Ok(None),
        Setting::Url(u) => Ok((!po.no_proxy.matches(&target.host)).then(|| Route { url: u.clone(), source: "option" })),
        Setting::Env(e) => {
            let Some((var, value)) = e.for_scheme(&target.scheme) else { return Ok(None) };
            if e.no_proxy.matches(&target.host) || po.no_proxy.matches(&target.host) {
                return Ok(None);
            }
            let url = ProxyUrl::parse(value).map_err(|why| {
                Error::new(Code::InvalidOptions, format!("proxy from the environment variable {var}: {why}"))
            })?;
            Ok(Some(Route { url, source: var }))
        }
    }
}

/// Which proxy a connection went through (`ws_get_proxy_info`).
#[derive(Clone, Debug, Default)]
pub struct Used {
    /// "http", "https", "socks5", "socks5h".
    pub kind: &'static str,
    /// The proxy URL without the password.
    pub url: String,
    pub host: String,
    pub port: u16,
    /// "option" or the environment variable it came from.
    pub source: &'static str,
    /// HTTP proxies: the status of the CONNECT response (200); SOCKS: 0.
    pub status: u16,
}

impl Used {
    pub fn new(r: &Route, status: u16) -> Used {
        let host = match &r.url.host {
            HostKind::Name(n) => n.clone(),
            HostKind::V4(a) => a.to_string(),
            HostKind::V6(a) => a.to_string(),
        };
        Used { kind: r.url.kind.name(), url: r.url.display(), host, port: r.url.port, source: r.source, status }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::parse_url;

    #[test]
    fn proxy_urls() {
        let p = ProxyUrl::parse("http://us%40r:p%3Ass@proxy.example:3128").unwrap();
        assert_eq!((p.kind, p.port), (Kind::Http, 3128));
        assert_eq!(p.user.as_deref(), Some("us@r"));
        assert_eq!(p.pass.as_ref().unwrap().expose(), "p:ss");
        assert_eq!(p.display(), "http://us%40r@proxy.example:3128");
        assert!(!format!("{p:?}").contains("p:ss"), "Debug must not show the password");
        assert_eq!(p.basic_auth().unwrap(), format!("Basic {}", crate::options::base64(b"us@r:p:ss")));
        assert_eq!(ProxyUrl::parse("proxy:8080").unwrap().kind, Kind::Http);
        assert_eq!(ProxyUrl::parse("http://proxy").unwrap().port, 1080);
        assert_eq!(ProxyUrl::parse("https://proxy").unwrap().port, 443);
        let s = ProxyUrl::parse("SOCKS5H://[::1]:1080").unwrap();
        assert_eq!((s.kind, s.host.clone()), (Kind::Socks5h, HostKind::V6("::1".parse().unwrap())));
        assert_eq!(s.display(), "socks5h://[::1]:1080");
        let v4 = ProxyUrl::parse("socks5://127.0.0.1:1").unwrap();
        assert_eq!(v4.host, HostKind::V4("127.0.0.1".parse().unwrap()));
        for (bad, why) in [
            ("", "empty"),
            ("ftp://p:1", "unsupported proxy scheme"),
            ("socks4://p:1", "unsupported proxy scheme"),
            ("http://p:0", "port 0"),
            ("http://:1", "host"),
            ("http://p:1/path", "no path"),
            ("http://:secret@p:1", "without a user"),
        ] {
            let e = ProxyUrl::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
            assert!(!e.contains("secret"), "{e}");
        }
        let long = format!("socks5://{}:x@p:1", "u".repeat(256));
        assert!(ProxyUrl::parse(&long).unwrap_err().contains("255"));
    }

    fn opts(json: &str) -> ProxyOptions {
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        let mut po = ProxyOptions::default();
        for (k, v) in v.as_object().unwrap() {
            parse_option(k, v, &mut po).expect("a proxy key").unwrap();
        }
        po
    }

    #[test]
    fn option_beats_environment() {
        let env = EnvSnapshot::from_lookup(|k| (k == "https_proxy").then(|| "http://envproxy:1".to_string()));
        let t = parse_url("wss://server.example/").unwrap();
        let mut po = opts(r#"{"proxy": "socks5h://opt:2"}"#);
        po.setting = match po.setting {
            Setting::Url(u) => Setting::Url(u),
            _ => unreachable!(),
        };
        let r = route(&t, &po).unwrap().unwrap();
        assert_eq!((r.url.kind, r.source), (Kind::Socks5h, "option"));
        for off in [r#"{"proxy": ""}"#, r#"{"proxy": false}"#] {
            let mut po = opts(off);
            finish(&mut po).unwrap();
            assert!(matches!(po.setting, Setting::Off));
        }
        let po = ProxyOptions { setting: Setting::Env(env.clone()), ..Default::default() };
        let r = route(&t, &po).unwrap().unwrap();
        assert_eq!((r.url.peer(), r.source), ("envproxy:1".to_string(), "https_proxy"));
        assert!(route(&parse_url("ws://server.example/").unwrap(), &po).unwrap().is_none(), "no ws proxy set");
        let mut po = opts(r#"{"proxyFromEnvironment": false}"#);
        finish(&mut po).unwrap();
        assert!(matches!(po.setting, Setting::Off));
    }

    #[test]
    fn no_proxy_applies() {
        let env = EnvSnapshot::from_lookup(|k| match k {
            "all_proxy" => Some("socks5://p:1".into()),
            "no_proxy" => Some("localhost,10.0.0.0/8".into()),
            _ => None,
        });
        let po = ProxyOptions { setting: Setting::Env(env), ..Default::default() };
        assert!(route(&parse_url("ws://localhost:1/").unwrap(), &po).unwrap().is_none());
        assert!(route(&parse_url("ws://10.2.3.4:1/").unwrap(), &po).unwrap().is_none());
        assert!(route(&parse_url("ws://11.2.3.4:1/").unwrap(), &po).unwrap().is_some());
        let mut po = opts(r#"{"proxy": "http://p:1", "noProxy": "plc.local"}"#);
        finish(&mut po).unwrap();
        assert!(route(&parse_url("ws://a.plc.local/").unwrap(), &po).unwrap().is_none());
        assert!(route(&parse_url("ws://other/").unwrap(), &po).unwrap().is_some());
    }

    #[test]
    fn bad_environment_value_names_the_variable() {
        let env = EnvSnapshot::from_lookup(|k| (k == "https_proxy").then(|| "gopher://x:secret@p".to_string()));
        let po = ProxyOptions { setting: Setting::Env(env), ..Default::default() };
        let e = route(&parse_url("wss://h/").unwrap(), &po).unwrap_err();
        assert!(e.msg.contains("https_proxy") && !e.msg.contains("secret"), "{}", e.msg);
    }

    #[test]
    fn proxy_tls_keys() {
        let po = opts(r#"{"proxyIgnoreSslErrors": true, "proxyCaCertificatesOnly": false}"#);
        assert_eq!(format!("{:?}", po.tls.ignore), "Everything");
        let v = serde_json::json!(1);
        assert!(parse_option("proxyNope", &v, &mut ProxyOptions::default()).is_none());
        assert!(parse_option("proxyfoo", &v, &mut ProxyOptions::default()).is_none());
        assert!(parse_option("proxy", &v, &mut ProxyOptions::default()).unwrap().is_err());
    }
}
