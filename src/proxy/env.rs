//! Proxy settings from the environment, read the way curl reads them, and
//! `no_proxy` matching.
//!
//! - `wss://`: `wss_proxy`, `WSS_PROXY`, `https_proxy`, `HTTPS_PROXY`, then
//!   `all_proxy`, `ALL_PROXY`.
//! - `ws://`: `ws_proxy`, `WS_PROXY`, `http_proxy`, then `all_proxy`,
//!   `ALL_PROXY`. `HTTP_PROXY` in upper case is never read (curl's rule: in
//!   CGI-like hosts that variable carries the `Proxy:` header of whoever
//!   sent the request, "httpoxy"; `https_proxy` and the others cannot be set
//!   that way).
//! - The lower-case form wins over the upper-case one; an empty value counts
//!   as unset.
//! - `no_proxy` (or `NO_PROXY`): comma- or space-separated host names
//!   (matching the name and its subdomains; a leading dot is ignored), IP
//!   addresses, CIDR ranges (`10.0.0.0/8`, `fd00::/8`), or `*` for every
//!   host. Names are compared without case and without a trailing dot.
//!
//! The variables are read once, on the thread that calls `ws_open` (a
//! background thread reading the environment would race the host's
//! `setenv`), and kept with the options for every reconnect.
#![deny(unsafe_code)]

use crate::options::{HostKind, Scheme};
use std::net::IpAddr;

/// The variables that matter, as read at `ws_open`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EnvSnapshot {
    /// (variable name, value) of every set, non-empty proxy variable.
    pub vars: Vec<(&'static str, String)>,
    /// `no_proxy` / `NO_PROXY`, parsed.
    pub no_proxy: NoProxy,
}

/// Names only: the values may hold passwords.
impl std::fmt::Debug for EnvSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.vars.iter().map(|(n, _)| *n).collect();
        f.debug_struct("EnvSnapshot").field("vars", &names).field("no_proxy", &self.no_proxy).finish()
    }
}

const WSS_ORDER: &[&str] = &["wss_proxy", "WSS_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"];
// HTTP_PROXY (upper case) deliberately absent: see the module comment.
const WS_ORDER: &[&str] = &["ws_proxy", "WS_PROXY", "http_proxy", "all_proxy", "ALL_PROXY"];
const ALL_VARS: &[&str] = &[
    "wss_proxy",
    "WSS_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "ws_proxy",
    "WS_PROXY",
    "http_proxy",
    "all_proxy",
    "ALL_PROXY",
];

impl EnvSnapshot {
    /// Reads the process environment: the variables a URL of `scheme` can
    /// use, and those of `wss://` too when a redirect may lead there
    /// (`ws://` with "followRedirects"; a redirect never goes from wss to
    /// ws). `no_proxy` is read only when a proxy variable is set: without
    /// one it changes nothing. (Each lookup is a scan of the environment;
    /// reading only these keeps a direct connection from paying for all
    /// eleven.)
    pub fn read(scheme: &Scheme, redirects: bool) -> EnvSnapshot {
        Self::lookup_names(names_for(scheme, redirects), |k| std::env::var(k).ok())
    }

    /// Builds a snapshot of every proxy variable from any lookup (tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> EnvSnapshot {
        Self::lookup_names(ALL_VARS, get)
    }

    fn lookup_names(names: &[&'static str], get: impl Fn(&str) -> Option<String>) -> EnvSnapshot {
        let mut vars = Vec::new();
        for k in names {
            if let Some(v) = get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
                vars.push((*k, v));
            }
        }
        if vars.is_empty() {
            return EnvSnapshot::default();
        }
        let np = get("no_proxy").filter(|v| !v.trim().is_empty()).or_else(|| get("NO_PROXY")).unwrap_or_default();
        EnvSnapshot { vars, no_proxy: NoProxy::parse(&np) }
    }

    /// The variable and value that apply to a URL of `scheme` (before
    /// `no_proxy`), if any.
    pub fn for_scheme(&self, scheme: &Scheme) -> Option<(&'static str, &str)> {
        let order = if *scheme == Scheme::Wss { WSS_ORDER } else { WS_ORDER };
        order.iter().find_map(|k| self.vars.iter().find(|(n, _)| n == k).map(|(n, v)| (*n, v.as_str())))
    }
}

/// The proxy variables a URL of `scheme` can use (with wss://'s when a
/// redirect may lead from ws:// to wss://).
fn names_for(scheme: &Scheme, redirects: bool) -> &'static [&'static str] {
    match scheme {
        Scheme::Ws if !redirects => WS_ORDER,
        Scheme::Wss => WSS_ORDER,
        Scheme::Ws => ALL_VARS,
    }
}

/// A parsed `no_proxy` list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoProxy {
    all: bool,
    names: Vec<String>,
    nets: Vec<(IpAddr, u8)>,
}

impl NoProxy {
    pub fn parse(list: &str) -> NoProxy {
        let mut np = NoProxy::default();
        for raw in list.split([',', ' ', '\t']).map(str::trim).filter(|s| !s.is_empty()) {
            if raw == "*" {
                np.all = true;
                continue;
            }
            let (addr, bits) = match raw.split_once('/') {
                Some((a, b)) => (a, b.parse::<u8>().ok()),
                None => (raw, None),
            };
            let addr = addr.trim_start_matches('[').trim_end_matches(']');
            if let Ok(ip) = addr.parse::<IpAddr>() {
                let max = if ip.is_ipv4() { 32 } else { 128 };
                match bits {
                    Some(b) if b <= max => np.nets.push((ip, b)),
                    None if !raw.contains('/') => np.nets.push((ip, max)),
                    _ => {} // a bad prefix length matches nothing (curl)
                }
                continue;
            }
            let name = raw.trim_start_matches('.').trim_end_matches('.').to_ascii_lowercase();
            if !name.is_empty() {
                np.names.push(name);
            }
        }
        np
    }

    pub fn is_empty(&self) -> bool {
        !self.all && self.names.is_empty() && self.nets.is_empty()
    }

    /// Whether a connection to `host` goes direct.
    pub fn matches(&self, host: &HostKind) -> bool {
        if self.all {
            return true;
        }
        let ip = match host {
            HostKind::V4(a) => Some(IpAddr::V4(*a)),
            HostKind::V6(a) => Some(IpAddr::V6(*a)),
            HostKind::Name(n) => n.parse::<IpAddr>().ok(),
        };
        if let Some(ip) = ip {
            return self.nets.iter().any(|(net, bits)| in_net(ip, *net, *bits));
        }
        let HostKind::Name(n) = host else { return false };
        let n = n.trim_end_matches('.').to_ascii_lowercase();
        self.names.iter().any(|d| {
            n == *d || (n.len() > d.len() && n.ends_with(d.as_str()) && n.as_bytes()[n.len() - d.len() - 1] == b'.')
        })
    }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits as u32) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits as u32) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        // An IPv4-mapped IPv6 address against an IPv4 range.
        (IpAddr::V6(a), IpAddr::V4(_)) => a.to_ipv4_mapped().is_some_and(|m| in_net(IpAddr::V4(m), net, bits)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> EnvSnapshot {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        EnvSnapshot::from_lookup(|k| m.get(k).cloned())
    }

    fn name(s: &str) -> HostKind {
        HostKind::Name(s.into())
    }

    #[test]
    fn scheme_order_and_case() {
        let e = env(&[("https_proxy", "http://a:1"), ("HTTPS_PROXY", "http://b:1"), ("all_proxy", "socks5://c:1")]);
        assert_eq!(e.for_scheme(&Scheme::Wss), Some(("https_proxy", "http://a:1")));
        assert_eq!(e.for_scheme(&Scheme::Ws), Some(("all_proxy", "socks5://c:1")));
        let e = env(&[("wss_proxy", "http://w:1"), ("https_proxy", "http://a:1")]);
        assert_eq!(e.for_scheme(&Scheme::Wss).unwrap().0, "wss_proxy");
        let e = env(&[("WS_PROXY", "http://w:1"), ("http_proxy", "http://h:1")]);
        assert_eq!(e.for_scheme(&Scheme::Ws).unwrap().0, "WS_PROXY");
        let e = env(&[("HTTPS_PROXY", "http://b:1"), ("https_proxy", "")]);
        assert_eq!(e.for_scheme(&Scheme::Wss).unwrap().0, "HTTPS_PROXY", "empty lower case counts as unset");
        let e = env(&[("https_proxy", "http://u:secret@p:1")]);
        assert!(!format!("{e:?}").contains("secret"), "Debug shows names only");
    }

    #[test]
    fn upper_case_http_proxy_is_never_read() {
        // curl's rule (CGI hosts put the request's Proxy: header there).
        let e = env(&[("HTTP_PROXY", "http://evil:1"), ("REQUEST_METHOD", "GET")]);
        assert_eq!(e.for_scheme(&Scheme::Ws), None);
        let e = env(&[("HTTP_PROXY", "http://evil:1"), ("http_proxy", "http://ok:1")]);
        assert_eq!(e.for_scheme(&Scheme::Ws), Some(("http_proxy", "http://ok:1")));
        let e = env(&[("ALL_PROXY", "socks5h://s:1"), ("HTTP_PROXY", "http://evil:1")]);
        assert_eq!(e.for_scheme(&Scheme::Ws), Some(("ALL_PROXY", "socks5h://s:1")));
    }

    #[test]
    fn no_proxy_names() {
        let np = NoProxy::parse("example.com, .corp.local,Plant.");
        assert!(np.matches(&name("example.com")));
        assert!(np.matches(&name("www.Example.COM")));
        assert!(np.matches(&name("example.com.")));
        assert!(!np.matches(&name("myexample.com")));
        assert!(np.matches(&name("corp.local")));
        assert!(np.matches(&name("a.b.corp.local")));
        assert!(np.matches(&name("plant")));
        assert!(!np.matches(&name("plant2")));
        assert!(!np.matches(&HostKind::V4("10.0.0.1".parse().unwrap())));
        assert!(NoProxy::parse("*").matches(&name("anything")));
        assert!(NoProxy::parse("").is_empty());
        assert!(!NoProxy::parse("").matches(&name("x")));
    }

    #[test]
    fn no_proxy_addresses_and_cidr() {
        let np = NoProxy::parse("127.0.0.1 10.0.0.0/8 192.168.1.0/24 [::1] fd00::/8 172.16.0.0/99");
        let v4 = |s: &str| HostKind::V4(s.parse().unwrap());
        let v6 = |s: &str| HostKind::V6(s.parse().unwrap());
        assert!(np.matches(&v4("127.0.0.1")));
        assert!(!np.matches(&v4("127.0.0.2")));
        assert!(np.matches(&v4("10.255.1.2")));
        assert!(np.matches(&v4("192.168.1.200")));
        assert!(!np.matches(&v4("192.168.2.1")));
        assert!(np.matches(&v6("::1")));
        assert!(np.matches(&v6("fd12:3456::1")));
        assert!(!np.matches(&v6("fe80::1")));
        assert!(np.matches(&v6("::ffff:10.1.2.3")), "IPv4-mapped address in an IPv4 range");
        assert!(!np.matches(&v4("172.16.0.1")), "a bad prefix length matches nothing");
        assert!(np.matches(&name("10.1.1.1")), "an address written as a name");
        assert!(NoProxy::parse("0.0.0.0/0").matches(&v4("8.8.8.8")));
    }

    #[test]
    fn no_proxy_from_env() {
        let p = ("http_proxy", "http://p:1");
        let e = env(&[p, ("NO_PROXY", "a.b"), ("no_proxy", "c.d")]);
        assert!(e.no_proxy.matches(&name("c.d")) && !e.no_proxy.matches(&name("a.b")));
        let e = env(&[p, ("NO_PROXY", "a.b")]);
        assert!(e.no_proxy.matches(&name("x.a.b")));
        // without a proxy variable no_proxy changes nothing, so it is not read
        let e = env(&[("no_proxy", "c.d")]);
        assert!(e == EnvSnapshot::default() && e.for_scheme(&Scheme::Ws).is_none());
    }

    #[test]
    fn only_the_schemes_variables_are_read() {
        use std::cell::RefCell;
        let asked = RefCell::new(Vec::new());
        let get = |k: &str| {
            asked.borrow_mut().push(k.to_string());
            (k == "http_proxy").then(|| "http://p:1".to_string())
        };
        let e = EnvSnapshot::lookup_names(WS_ORDER, get);
        assert_eq!(e.for_scheme(&Scheme::Ws), Some(("http_proxy", "http://p:1")));
        let a = asked.borrow().clone();
        assert_eq!(a, ["ws_proxy", "WS_PROXY", "http_proxy", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"]);
        // each scheme reads its own list; a ws:// URL that may be redirected
        // to wss:// reads wss://'s too (a redirect never goes wss -> ws)
        assert_eq!(names_for(&Scheme::Ws, false), WS_ORDER);
        assert_eq!(names_for(&Scheme::Wss, false), WSS_ORDER);
        assert_eq!(names_for(&Scheme::Wss, true), WSS_ORDER);
        let both = names_for(&Scheme::Ws, true);
        assert!(WSS_ORDER.iter().chain(WS_ORDER).all(|k| both.contains(k)));
    }
}
