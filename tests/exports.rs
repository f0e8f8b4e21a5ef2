//! The export surface, checked from the source and at run time:
//! - every `pub extern "C" fn` in src/ffi/ runs its body inside the guard
//!   (`guard::call(` / `guard::call_str(`), which catches panics and records
//!   the last error; rustls-ffi once shipped two unguarded exports. The only
//!   exceptions are the six functions that must NOT clear the last error;
//! - every export is `#[unsafe(no_mangle)]` and declared in include/wsclient.h,
//!   and every function the header declares is exported;
//! - every `#define WS_E_*` in the header names the code ws_error_name()
//!   gives for that number;
//! - the shared library exports only `ws_*` symbols (when it has been built).

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use support::*;

/// Exports that must not run in the guard: they read or describe the last
/// error (or are static) and must leave it as it is.
const UNGUARDED: [&str; 6] = [
    "ws_last_error",
    "ws_last_error_code",
    "ws_last_http_status",
    "ws_last_response_headers",
    "ws_error_name",
    "ws_version",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// Removes comments (line and block) and the contents of string and char
/// literals, keeping the length of the text roughly; enough for scanning
/// function headers and the first statement of a body.
fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if b[i] == b'"' {
            // a string literal (also c"..." / b"..."): keep the quotes only
            out.push('"');
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            out.push('"');
            i += 1;
        } else if b[i] == b'\'' && b.get(i + 1) == Some(&b'\\') {
            // an escaped char literal ('\n', '\'', '\\'): drop it
            i += 3;
            while i < b.len() && b[i] != b'\'' {
                i += 1;
            }
            out.push_str("' '");
            i += 1;
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            // a plain ASCII char literal ('"', '{'): drop it (lifetimes stay)
            out.push_str("' '");
            i += 3;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

struct Export {
    name: String,
    /// The attributes directly above the fn.
    attrs: String,
    /// The body's text after `{`, trimmed at the start.
    body_start: String,
    body: String,
}

/// Every Rust source file under `dir` (relative to the crate root).
fn sources(dir: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![root().join(dir)];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Every `pub extern "C" fn` in src/ffi/, with its attributes and body.
fn exports() -> Vec<Export> {
    let raw: String = sources("src/ffi").iter().map(|p| std::fs::read_to_string(p).unwrap() + "\n").collect();
    // string contents would confuse the brace matching: strip them, but keep
    // `extern "C"` recognisable
    let src = strip(&raw.replace("extern \"C\"", "extern_C"));
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(p) = src[at..].find("extern_C fn ") {
        let start = at + p;
        let name_start = start + "extern_C fn ".len();
        let name: String = src[name_start..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        // the item must be `pub`
        let before = src[..start].trim_end();
        assert!(before.ends_with("pub"), "`extern \"C\" fn {name}` is not `pub extern \"C\" fn`");
        // attributes: the lines between the previous item and `pub`
        let attr_end = before.len() - 3;
        let attr_start = src[..attr_end].rfind(['}', ';']).map_or(0, |i| i + 1);
        let attrs = src[attr_start..attr_end].to_string();
        // the parameter list, then the body's opening brace
        let open_paren = name_start + src[name_start..].find('(').expect("(");
        let mut depth = 0;
        let mut i = open_paren;
        for (k, c) in src[open_paren..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        i = open_paren + k;
                        break;
                    }
                }
                _ => {}
            }
        }
        let brace = i + src[i..].find('{').expect("body");
        let mut depth = 0;
        let mut end = brace;
        for (k, c) in src[brace..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = brace + k;
                        break;
                    }
                }
                _ => {}
            }
        }
        let body = src[brace + 1..end].to_string();
        out.push(Export { name, attrs, body_start: body.trim_start().to_string(), body });
        at = end;
    }
    out
}

#[test]
fn every_export_runs_in_the_guard() {
    let ex = exports();
    assert!(ex.len() >= 18, "found only {} exports: is the scanner broken?", ex.len());
    let mut problems = Vec::new();
    for e in &ex {
        let guarded = e.body_start.starts_with("guard::call(") || e.body_start.starts_with("guard::call_str(");
        if UNGUARDED.contains(&e.name.as_str()) {
            // must not clear (or set) the last error
            if e.body.contains("guard::") || e.body.contains("clear_last") || e.body.contains("set_last") {
                problems.push(format!(
                    "{}: must leave the last error alone, but its body uses the guard or clears it",
                    e.name
                ));
            }
        } else if !guarded {
            problems.push(format!(
                "{}: body does not begin with guard::call( or guard::call_str( but with {:?}",
                e.name,
                e.body_start.chars().take(60).collect::<String>()
            ));
        }
        if !e.attrs.contains("no_mangle") {
            problems.push(format!("{}: no #[unsafe(no_mangle)]", e.name));
        }
    }
    for name in UNGUARDED {
        if !ex.iter().any(|e| e.name == name) {
            problems.push(format!("{name}: allow-listed but not exported"));
        }
    }
    assert!(problems.is_empty(), "unguarded or malformed exports:\n{}", problems.join("\n"));
}

#[test]
fn every_no_mangle_item_is_a_pub_extern_c_fn() {
    // a `#[no_mangle]` on anything else (or in another module) would export a
    // symbol this scan and the header know nothing about
    for path in sources("src") {
        let src = strip(&std::fs::read_to_string(&path).unwrap());
        let mut at = 0;
        while let Some(p) = src[at..].find("no_mangle") {
            let after = &src[at + p..];
            let item = after[after.find(']').unwrap() + 1..].trim_start();
            assert!(
                path.starts_with(root().join("src/ffi")) && item.starts_with("pub extern \"\" fn"),
                "{}: no_mangle on something other than a pub extern \"C\" fn in src/ffi/: {:?}",
                path.display(),
                item.chars().take(60).collect::<String>()
            );
            at += p + 9;
        }
    }
}

/// Function names declared in the header ("... name(...);").
fn header_functions() -> BTreeSet<String> {
    // without comments and preprocessor lines, declarations end with ';'
    let h: String = strip(&read("include/wsclient.h"))
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let mut names = BTreeSet::new();
    for stmt in h.split(';') {
        let stmt = stmt.trim();
        let Some(paren) = stmt.find('(') else { continue };
        let head = stmt[..paren].trim_end();
        let name: String = head
            .chars()
            .rev()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if name.starts_with("ws_") {
            names.insert(name);
        }
    }
    names
}

#[test]
fn exports_and_header_declare_the_same_functions() {
    let from_rust: BTreeSet<String> = exports().into_iter().map(|e| e.name).collect();
    let from_header = header_functions();
    let missing: Vec<_> = from_rust.difference(&from_header).collect();
    let extra: Vec<_> = from_header.difference(&from_rust).collect();
    assert!(missing.is_empty(), "exported but not declared in include/wsclient.h: {missing:?}");
    assert!(extra.is_empty(), "declared in include/wsclient.h but not exported: {extra:?}");
    for name in &from_rust {
        assert!(name.starts_with("ws_"), "export {name} lacks the ws_ prefix");
    }
}

#[test]
fn header_error_codes_match_ws_error_name() {
    let h = read("include/wsclient.h");
    let mut n = 0;
    for line in h.lines() {
        let mut it = line.split_whitespace();
        if it.next() != Some("#define") {
            continue;
        }
        let (Some(name), Some(value)) = (it.next(), it.next()) else { continue };
        if !name.starts_with("WS_E_") {
            continue;
        }
        let code: i32 = value.parse().unwrap_or_else(|_| panic!("{name} = {value}"));
        assert_eq!(error_name(code), name, "#define {name} {code}");
        n += 1;
    }
    assert!(n >= 24, "found only {n} WS_E_ codes in the header");
}

#[test]
fn header_macros_and_types_are_namespaced() {
    // a C header shares one namespace with everything the program includes:
    // every macro and type it defines carries the library's prefix
    let h = read("include/wsclient.h");
    let mut bad = Vec::new();
    for line in h.lines() {
        let mut it = line.split_whitespace();
        let first = it.next();
        let name = match first {
            Some("#define") => it.next(),
            // a function pointer type names itself in "(*name)"
            Some("typedef") if line.contains("(*") => line.split("(*").nth(1).and_then(|r| r.split(')').next()),
            Some("typedef") => {
                line.trim_end_matches(';').split(|c: char| !(c.is_alphanumeric() || c == '_')).rfind(|w| !w.is_empty())
            }
            Some("struct") if line.trim_end().ends_with('{') => it.next(),
            _ => None,
        };
        let Some(name) = name else { continue };
        let name = name.split('(').next().unwrap();
        let ok = name.starts_with("WS_") || name.starts_with("ws_") || name.starts_with("WSCLIENT_");
        if !ok {
            bad.push(line.trim().to_string());
        }
    }
    assert!(bad.is_empty(), "include/wsclient.h defines names without the WS_/ws_ prefix:\n{}", bad.join("\n"));
}

#[test]
fn unguarded_getters_keep_the_last_error() {
    // run time check of the allow-list: none of the six clears the error
    assert_eq!(ws_close_code(-1), WS_ERROR);
    let msg = last_error();
    for _ in 0..2 {
        let _ = ws_version();
        let _ = ws_error_name(WS_E_IO);
        let _ = ws_error_name(-99);
        let _ = ws_last_error();
        let _ = ws_last_error_code();
        let _ = ws_last_http_status();
        let _ = ws_last_response_headers();
    }
    assert_eq!(last_code(), WS_E_BAD_SOCKET);
    assert_eq!(last_error(), msg);
}

#[test]
fn shared_library_exports_only_ws_symbols() {
    // cargo builds the cdylib next to the test binaries; `nm -D` lists what
    // a C program can link against. Skipped when either is unavailable.
    let exe = std::env::current_exe().unwrap();
    // target/debug/deps: `cargo test` builds the cdylib in deps/ (the copy in target/debug is
    // only refreshed by `cargo build`, so it may be stale)
    let deps = exe.parent().unwrap();
    let so = [deps.join("libwsclient.so"), deps.parent().unwrap().join("libwsclient.so")]
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| deps.join("libwsclient.so"));
    if !so.exists() {
        eprintln!("skipped: {} not built", so.display());
        return;
    }
    let out = match std::process::Command::new("nm").args(["-D", "--defined-only"]).arg(&so).output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => {
            eprintln!("skipped: nm not available");
            return;
        }
    };
    let syms: Vec<&str> = out
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_addr, kind, name) = (f.next()?, f.next()?, f.next()?);
            // text (T) and data (D/B/R) symbols; versioned glibc refs are U
            "TDBRVW".contains(kind).then_some(name)
        })
        .collect();
    let foreign: Vec<&&str> = syms.iter().filter(|s| !s.starts_with("ws_")).collect();
    assert!(!syms.is_empty(), "nm found no symbols in {}", so.display());
    assert!(foreign.is_empty(), "libwsclient.so exports non-ws_ symbols: {foreign:?}");
    let from_rust: BTreeSet<String> = exports().into_iter().map(|e| e.name).collect();
    for name in &from_rust {
        assert!(syms.contains(&name.as_str()), "{name} is not exported by libwsclient.so");
    }
}
