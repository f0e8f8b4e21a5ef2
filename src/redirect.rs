//! `"followRedirects"`: a 301, 302, 307 or 308 answer to the upgrade sends
//! the next attempt to its `Location` (relative references resolved against
//! the URL asked; `http:`/`https:` there mean `ws:`/`wss:`). Allowed: the
//! same scheme, or `ws://` to `wss://`; never `wss://` to `ws://` (that
//! would send the request in clear after the server was authenticated).
//! The URL's credentials and an `"Authorization"` header go only to the
//! host (and port) they were given for.
#![deny(unsafe_code)]

use crate::error::{Error, Result};
use crate::options::{parse_url, Scheme, Target};

fn location(headers: &str) -> Option<&str> {
    headers.split("\r\n").find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case("location").then(|| v.trim())
    })
}

fn base_url(t: &Target) -> String {
    let s = if t.scheme == Scheme::Wss { "wss" } else { "ws" };
    format!("{s}://{}{}", t.host_header, t.resource)
}

/// The target a refused upgrade `e` redirects to, and whether it is
/// another host (credentials dropped). None: not a redirect to follow.
pub fn next(cur: &Target, e: &Error) -> Result<Option<(Target, bool)>> {
    let Some(http) = e.http.as_ref() else { return Ok(None) };
    if !matches!(http.status, 301 | 302 | 307 | 308) {
        return Ok(None);
    }
    let refuse = |why: String| {
        let mut e2 = e.clone();
        e2.msg = format!("{}; redirect not followed: {why}", e.msg);
        e2
    };
    let Some(loc) = location(&http.headers) else {
        return Err(refuse("no Location header".into()));
    };
    let base = url::Url::parse(&base_url(cur)).map_err(|x| refuse(format!("{x}")))?;
    let mut u = base.join(loc).map_err(|x| refuse(format!("bad Location \"{}\": {x}", clip(loc))))?;
    let scheme = match u.scheme() {
        "ws" | "http" => Scheme::Ws,
        "wss" | "https" => Scheme::Wss,
        other => return Err(refuse(format!("Location \"{}\" has scheme {other}", clip(loc)))),
    };
    if cur.scheme == Scheme::Wss && scheme == Scheme::Ws {
        return Err(refuse(format!("Location \"{}\" would go from wss:// to ws://", clip(loc))));
    }
    let _ = u.set_scheme(if scheme == Scheme::Wss { "wss" } else { "ws" });
    if u.scheme() != "ws" && u.scheme() != "wss" {
        // url refuses to change a special scheme to a non-special one
        let rest = &u.as_str()[u.scheme().len()..];
        let s = if scheme == Scheme::Wss { "wss" } else { "ws" };
        u = url::Url::parse(&format!("{s}{rest}")).map_err(|x| refuse(format!("{x}")))?;
    }
    u.set_fragment(None);
    let mut t = parse_url(u.as_str()).map_err(|x| refuse(x.msg))?;
    let other_host = t.host != cur.host || t.port != cur.port;
    if !other_host && t.basic_auth.is_none() {
        t.basic_auth = cur.basic_auth.clone();
    }
    Ok(Some((t, other_host)))
}

fn clip(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Code, HttpReply};
    use std::sync::Arc;

    fn redirect(status: u16, loc: &str) -> Error {
        let mut e = Error::new(Code::UpgradeRejected, format!("upgrade rejected by h: HTTP {status}"));
        e.http = Some(Arc::new(HttpReply { status, headers: format!("Server: x\r\nLocation: {loc}\r\n") }));
        e
    }

    #[test]
    fn follows_and_refuses() {
        let cur = parse_url("ws://u:p@h:81/a/b?q").unwrap();
        let (t, other) = next(&cur, &redirect(302, "c")).unwrap().unwrap();
        assert_eq!((t.resource.as_str(), t.port, other), ("/a/c", 81, false));
        assert_eq!(t.basic_auth, cur.basic_auth, "same host keeps the URL's credentials");
        let (t, other) = next(&cur, &redirect(301, "wss://other:8443/x")).unwrap().unwrap();
        assert_eq!((t.scheme.clone(), t.port, other, t.basic_auth.is_none()), (Scheme::Wss, 8443, true, true));
        let (t, _) = next(&cur, &redirect(307, "https://h:81/y")).unwrap().unwrap();
        assert_eq!((t.scheme.clone(), t.resource.as_str()), (Scheme::Wss, "/y"));
        let (t, other) = next(&cur, &redirect(308, "//h:82/z")).unwrap().unwrap();
        assert!(other && t.basic_auth.is_none() && t.port == 82);
        assert!(next(&cur, &redirect(303, "/x")).unwrap().is_none());
        assert!(next(&cur, &Error::new(Code::UpgradeRejected, "x")).unwrap().is_none());
        let wss = parse_url("wss://h/").unwrap();
        let e = next(&wss, &redirect(302, "ws://h/")).unwrap_err();
        assert!(e.msg.contains("from wss:// to ws://") && e.http.is_some(), "{}", e.msg);
        let e = next(&wss, &redirect(302, "http://h/")).unwrap_err();
        assert!(e.msg.contains("from wss:// to ws://"), "{}", e.msg);
        assert!(next(&wss, &redirect(302, "ftp://h/")).unwrap_err().msg.contains("scheme ftp"));
        let mut e = redirect(302, "x");
        e.http = Some(Arc::new(HttpReply { status: 302, headers: String::new() }));
        assert!(next(&wss, &e).unwrap_err().msg.contains("no Location"));
    }
}
