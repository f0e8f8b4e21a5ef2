#!/usr/bin/env python3
"""Manual pages for wsclient, generated from the doc comments of the header.

    gen_manpages.py HEADER OUTDIR [--version X.Y.Z]
    gen_manpages.py --check HEADER MANDIR [NAME...]
    gen_manpages.py --check-library NM LIBRARY HEADER MANDIR [GROFF]

include/wsclient.h is itself generated (cbindgen, from the doc comments in
src/ffi.rs), so the pages have one source and are rebuilt whenever the
header changes (CMake runs this at build time). Writes:

  OUTDIR/man3/<page>.3   one page per function family (FAMILIES below) and
                         one per function that no family names: a new
                         export gets its own page without any change here
  OUTDIR/man3/<name>.3   for every other member of a family, a ".so" link
                         to the family page, so `man <name>` finds it
  OUTDIR/man7/wsclient.7 conventions, every option of ws_open (the list
                         items of its doc comment that start with a quoted
                         key), the constants grouped by prefix (error codes,
                         events, states, ...), and the list of functions

--check: every NAME given (default: every function declared in HEADER) has
a page in MANDIR/man3 whose NAME section lists it; exit status 1 otherwise.
--check-library: the same for every ws_* symbol LIBRARY exports (`NM -D
--defined-only`) and every function of HEADER; with GROFF, also every page
in MANDIR must format without a warning (groff -man -ww).

The doc comment conventions it reads (those of src/ffi.rs): the first
paragraph is the summary; paragraphs are separated by empty comment lines;
"- " starts a list item (continued by lines indented two spaces); a line
starting "Returns:", "Errors:", "Blocking:", "Threads:" or "Ownership:"
starts a field that goes to RETURN VALUE, ERRORS or NOTES.
"""

import os
import re
import sys

# Pages that cover several functions: page name -> (NAME description,
# members in order). Every function not listed gets a page of its own.
FAMILIES = {
    "ws_open": ("open a WebSocket connection", ["ws_open", "ws_open_async"]),
    "ws_write": ("send a message, flush queued messages", ["ws_write", "ws_flush"]),
    "ws_read": ("receive the next message", ["ws_read", "ws_read_into"]),
    "ws_last_error": (
        "the calling thread's last error and the names of error codes",
        ["ws_last_error", "ws_last_error_code", "ws_error_name"],
    ),
    "ws_response_header": (
        "the upgrade response: HTTP status, headers, subprotocol",
        ["ws_http_status", "ws_response_header", "ws_response_headers", "ws_subprotocol"],
    ),
    "ws_close_code": ("what the server's close frame said", ["ws_close_code", "ws_close_reason"]),
    "ws_state": ("state, close details and statistics of a socket", ["ws_state", "ws_get_info"]),
    "ws_queue_create": (
        "event queues for single-threaded hosts",
        ["ws_queue_create", "ws_queue_destroy", "ws_next_event", "ws_queue_set_callback"],
    ),
    "ws_version": ("library version and settings", ["ws_version", "ws_set_max_sockets"]),
}

# Constants by prefix, for wsclient(7); the longest matching prefix wins,
# anything else is listed under CONSTANTS.
CONSTANT_GROUPS = [
    ("WS_E_", "ERROR CODES", "ws_last_error_code() after a failure; the list is append-only: "
     "a code is never renumbered or reused."),
    ("WS_EV_", "EVENTS", "The type of a struct ws_event (ws_next_event(), ws_queue_set_callback())."),
    ("WS_STATE_", "STATES", "ws_state() and the state field of struct ws_info."),
    ("WS_BY_", "WHO CLOSED", "The closed_by field of struct ws_event and struct ws_info."),
]

FIELD_RE = re.compile(
    r"^(Returns|Errors(?: \([^)]*\))?|Blocking(?:, threads)?|Threads|Ownership):\s*(.*)$")
FIELD_SECTION = {"Returns": "RETURN VALUE", "Errors": "ERRORS"}


# --- reading the header ----------------------------------------------------------


class Decl:
    def __init__(self, kind, name, text, doc):
        self.kind = kind  # "fn", "const", "struct", "typedef"
        self.name = name
        self.text = text  # the C declaration as written
        self.doc = doc  # list of comment lines, "// " removed


def read_header(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    intro = []
    decls = []
    doc = []
    i = 0
    # The leading /* ... */ block: the conventions of every function.
    if lines and lines[0].startswith("/*"):
        while i < len(lines):
            line = lines[i]
            i += 1
            if line.strip() == "*/":
                break
            text = re.sub(r"^\s*/?\*+ ?", "", line)
            intro.append(text.rstrip())
        while intro and not intro[0]:
            intro.pop(0)
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("//"):
            doc.append(re.sub(r"^// ?", "", stripped))
            i += 1
            continue
        m = re.match(r"#define (WS_[A-Z0-9_]+) (.+)$", stripped)
        if m and doc:
            decls.append(Decl("const", m.group(1), m.group(2).strip(), doc))
            doc = []
            i += 1
            continue
        m = re.match(r"typedef struct (\w+) \{", stripped)
        if m:
            body = [line]
            i += 1
            while i < len(lines) and not lines[i].startswith("}"):
                body.append(lines[i])
                i += 1
            body.append(lines[i] if i < len(lines) else "}")
            decls.append(Decl("struct", m.group(1), "\n".join(body), doc))
            doc = []
            i += 1
            continue
        m = re.match(r"typedef .*\(\*(\w+)\)\(.*\);$", stripped)
        if m:
            decls.append(Decl("typedef", m.group(1), stripped, doc))
            doc = []
            i += 1
            continue
        if doc and re.match(r"[A-Za-z_][\w\s\*]*\b(ws_\w+)\(", stripped):
            text = stripped
            while not text.endswith(";") and i + 1 < len(lines):
                i += 1
                text += " " + lines[i].strip()
            text = re.sub(r"\s+", " ", text).replace("( ", "(")
            name = re.match(r"[A-Za-z_][\w\s\*]*\b(ws_\w+)\(", text).group(1)
            decls.append(Decl("fn", name, text, doc))
            doc = []
            i += 1
            continue
        doc = []  # a comment not attached to a declaration
        i += 1
    return intro, decls


def paragraphs(doc):
    """Splits comment lines into blocks: ("p", lines), ("li", lines),
    ("field", label, lines)."""
    blocks = []
    cur = None
    for line in doc + [""]:
        if not line.strip():
            cur = None
            continue
        m = FIELD_RE.match(line)
        if m:
            cur = ["field", m.group(1), [m.group(2)] if m.group(2) else []]
            blocks.append(cur)
        elif line.startswith("- "):
            cur = ["li", [line[2:]]]
            blocks.append(cur)
        elif cur is not None and cur[0] == "li" and line.startswith("  "):
            cur[1].append(line.strip())
        elif cur is not None and cur[0] == "field":
            cur[2].append(line)
        elif cur is not None and cur[0] == "p":
            cur[1].append(line)
        else:
            cur = ["p", [line]]
            blocks.append(cur)
    return blocks


# --- roff --------------------------------------------------------------------------


def esc(text):
    """Plain text -> roff: backslashes, minus signs of numbers and options."""
    text = text.replace("\\", "\\e")
    text = re.sub(r"(?<![\w-])-(?=[\w-])", r"\\-", text)
    # groff reads its input as Latin-1: anything else as a named glyph
    text = "".join(c if ord(c) < 128 else "\\[u%04X]" % ord(c) for c in text)
    return text


def inline(text):
    """Doc comment text -> roff with fonts: `code`, ws_*() and WS_* names."""
    out = []
    for k, part in enumerate(re.split(r"`([^`]*)`", text)):
        if k % 2:
            out.append("\\fB" + esc(part) + "\\fR")
            continue
        part = esc(part)
        part = re.sub(r"\b(ws_[a-z_]+)\(\)", r"\\fB\1\\fR()", part)
        part = re.sub(r"\b(WS_[A-Z0-9_]+)\b", r"\\fB\1\\fR", part)
        out.append(part)
    return "".join(out)


def text_lines(lines):
    """Lines of running text; roff control characters at a line start are
    neutralised."""
    out = []
    for line in lines:
        s = inline(line.strip())
        if s.startswith((".", "'")):
            s = "\\&" + s
        out.append(s)
    return out


def summary(decl):
    """The first sentence of the first paragraph, without parentheticals,
    cut at its first colon or semicolon: a NAME line description."""
    first = []
    for line in decl.doc:
        if not line.strip():
            break
        first.append(line.strip())
    s = " ".join(first).replace("`", "")
    prev = None
    while prev != s:  # innermost parentheses first
        prev = s
        s = re.sub(r"\s*\([^()]*\)", "", s)
    quoted = False
    for k, ch in enumerate(s + " "):
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in ".:;" and (s + " ")[k + 1:k + 2] in (" ", "") \
                and not re.search(r"\b(e\.g|i\.e)$", s[:k]):
            s = s[:k]
            break
    s = s.strip()
    word = s.split(" ")[0]
    if not (len(word) > 1 and word.isupper()):
        s = s[:1].lower() + s[1:]
    return s


def synopsis_line(text):
    """A prototype with the parameter names in italics."""
    m = re.match(r"(.*?\b)(ws_\w+)\((.*)\);$", text)
    if not m:
        return "\\fB" + esc(text) + "\\fR"
    ret, name, params = m.groups()
    parts = []
    for p in [p.strip() for p in params.split(",")] if params.strip() else []:
        pm = re.match(r"(.*?)(\w+)$", p)
        if pm and pm.group(1).strip() and p != "void":
            parts.append("\\fB" + esc(pm.group(1)) + "\\fI" + pm.group(2) + "\\fB")
        else:
            parts.append("\\fB" + esc(p) + "\\fB")
    return "\\fB" + esc(ret) + name + "(" + ", ".join(parts) + ");\\fR"


def th(title, section, version):
    return ['.TH %s %s "" "wsclient %s" "wsclient manual"' % (title.upper(), section, version), ".nh", ".ad l"]


def render_blocks(blocks, out, fields=None):
    """Appends paragraphs and list items to `out`; fields go to `fields`
    (section -> list of line lists) or, without it, inline."""
    for b in blocks:
        if b[0] == "p":
            out.append(".PP")
            out.extend(text_lines(b[1]))
        elif b[0] == "li":
            out.append(".IP \\(bu 2")
            out.extend(text_lines(b[1]))
        else:
            label, lines = b[1], b[2]
            key = label.split(" ")[0].split(",")[0]
            section = FIELD_SECTION.get(key, "NOTES")
            if fields is not None:
                fields.setdefault(section, []).append((label, lines))
            else:
                out.append(".PP")
                out.append("\\fI" + esc(label) + ":\\fR")
                out.extend(text_lines(lines))


def see_also(names, own):
    refs = []
    for n in names:
        page = page_of(n)
        if page not in own and page not in refs:
            refs.append(page)
    refs = [r for r in refs if r in PAGES]
    return ", ".join("\\fB%s\\fR(3)" % r for r in sorted(refs)) + (", " if refs else "") + \
        "\\fBwsclient\\fR(7)"


PAGES = {}  # page name -> member function names
PAGE_OF = {}


def page_of(fn):
    return PAGE_OF.get(fn, fn)


def function_page(page, desc, members, decls_by_name, types, version):
    out = th(page, 3, version)
    out.append(".SH NAME")
    out.append(", ".join(members) + " \\- " + esc(desc))
    out.append(".SH SYNOPSIS")
    out.append(".nf")
    out.append("\\fB#include <wsclient.h>\\fR")
    out.append("")
    for n in members:
        out.append(synopsis_line(decls_by_name[n].text))
    out.append(".fi")
    out.append(".PP")
    out.append("Link with \\fB\\-lwsclient\\fR (\\fBpkg\\-config \\-\\-libs wsclient\\fR; "
               "CMake: \\fBwsclient::wsclient\\fR).")
    out.append(".SH DESCRIPTION")
    fields = {}
    mentioned = set()
    for n in members:
        d = decls_by_name[n]
        if len(members) > 1:
            out.append(".SS %s()" % n)
        per_fn = {}
        render_blocks(paragraphs(d.doc), out, per_fn)
        for section, items in per_fn.items():
            for label, lines in items:
                fields.setdefault(section, []).append((n, label, lines))
        mentioned.update(re.findall(r"\b(ws_[a-z_]+)\(\)", "\n".join(d.doc)))
        # the structures and callback types the prototype uses
        for t in types:
            if re.search(r"\b%s\b" % t.name, d.text) and t.name not in mentioned:
                mentioned.add(t.name)
                out.append(".SS The %s %s" % (t.name, "type" if t.kind == "typedef" else "structure"))
                if t.doc:
                    out.append(".PP")
                    out.extend(text_lines([" ".join(t.doc)]))
                out.append(".PP")
                out.append(".nf")
                out.extend(("\\&" + esc(l)) if l.strip() else "" for l in t.text.split("\n"))
                out.append(".fi")
    for section in ("RETURN VALUE", "ERRORS", "NOTES"):
        items = fields.get(section)
        if not items:
            continue
        out.append(".SH " + section)
        for n, label, lines in items:
            out.append(".PP")
            prefix = ""
            if len(members) > 1:
                prefix = "\\fB%s\\fR(): " % n
            if section == "NOTES":
                prefix += "\\fI" + esc(label) + ":\\fR "
            body = text_lines(lines)
            if body:
                body[0] = prefix + body[0]
            else:
                body = [prefix]
            out.extend(body)
    out.append(".SH SEE ALSO")
    out.append(see_also(sorted(mentioned - set(members)), {page}))
    return "\n".join(out) + "\n"


def overview_page(intro, decls, version):
    out = th("wsclient", 7, version)
    out.append(".SH NAME")
    out.append("wsclient \\- WebSocket client library (RFC 6455) with a C API")
    out.append(".SH SYNOPSIS")
    out.append(".nf")
    out.append("\\fB#include <wsclient.h>\\fR")
    out.append(".fi")
    out.append(".PP")
    out.append("\\fBcc app.c $(pkg\\-config \\-\\-cflags \\-\\-libs wsclient)\\fR")
    out.append(".br")
    out.append("\\fBcc app.c $(pkg\\-config \\-\\-cflags \\-\\-libs wsclient\\-static)\\fR")
    out.append(".br")
    out.append("CMake: \\fBfind_package(wsclient)\\fR, then \\fBwsclient::wsclient\\fR or "
               "\\fBwsclient::wsclient_static\\fR.")
    out.append(".SH DESCRIPTION")
    render_blocks(paragraphs([re.sub(r"^  ", "  ", l) for l in intro]), out)
    fns = [d for d in decls if d.kind == "fn"]
    out.append(".SH FUNCTIONS")
    for d in fns:
        out.append(".TP")
        out.append("\\fB%s\\fR(3)" % d.name if page_of(d.name) == d.name
                   else "\\fB%s\\fR() \\(em \\fB%s\\fR(3)" % (d.name, page_of(d.name)))
        out.extend(text_lines([summary(d)]))
    # Options: the list items of any function's doc that start with `"key"`.
    options = []
    for d in fns:
        for b in paragraphs(d.doc):
            if b[0] == "li" and re.match(r'`"[A-Za-z]+"`', b[1][0]):
                options.append(b[1])
    if options:
        out.append(".SH OPTIONS")
        out.append(".PP")
        out.append("The \\fIoptions\\fR argument of \\fBws_open\\fR() and \\fBws_open_async\\fR() is "
                   "NULL, \"\" or a JSON object with these keys (see \\fBws_open\\fR(3)):")
        for item in options:
            m = re.match(r'`("[A-Za-z]+")`(?:\s*\(([^)]*)\))?:?\s*(.*)$', item[0])
            out.append(".TP")
            out.append("\\fB" + esc(m.group(1)) + "\\fR" + (" (" + esc(m.group(2)) + ")" if m.group(2) else ""))
            out.extend(text_lines([m.group(3)] + item[1:]))
    consts = [d for d in decls if d.kind == "const"]
    grouped = {title: [] for _, title, _ in CONSTANT_GROUPS}
    other = []
    for c in consts:
        best = None
        for prefix, title, _ in CONSTANT_GROUPS:
            if c.name.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
                best = (prefix, title)
        (grouped[best[1]] if best else other).append(c)
    sections = [("CONSTANTS", "Results, message types and flags.", other)] + \
        [(title, text, grouped[title]) for _, title, text in CONSTANT_GROUPS]
    for title, text, items in sections:
        if not items:
            continue
        out.append(".SH " + title)
        out.append(".PP")
        out.extend(text_lines([text]))
        for c in items:
            out.append(".TP")
            out.append("\\fB%s\\fR (%s)" % (c.name, esc(c.text)))
            out.extend(text_lines([" ".join(c.doc)]))
    out.append(".SH FILES")
    out.append(".TP")
    out.append("\\fIlibwsclient.so.%s\\fR" % version.split(".")[0])
    out.append("the shared library (SONAME); \\fIlibwsclient.so\\fR links to it for development")
    out.append(".TP")
    out.append("\\fIlibwsclient.a\\fR")
    out.append("the static library; it needs the system libraries that "
               "\\fBpkg\\-config \\-\\-libs wsclient\\-static\\fR lists")
    out.append(".TP")
    out.append("\\fIlib/pkgconfig/wsclient.pc\\fR, \\fIlib/pkgconfig/wsclient\\-static.pc\\fR, "
               "\\fIlib/cmake/wsclient/\\fR")
    out.append("pkg\\-config and CMake package files")
    out.append(".SH SEE ALSO")
    pages = sorted(PAGES)
    out.append(", ".join("\\fB%s\\fR(3)" % p for p in pages) +
               ", \\fBwscat\\fR(1), \\fBlua_host\\fR(1)")
    return "\n".join(out) + "\n"


def assign_pages(fn_names):
    PAGES.clear()
    PAGE_OF.clear()
    for page, (_, members) in FAMILIES.items():
        present = [m for m in members if m in fn_names]
        if not present:
            continue
        PAGES[page if page in present else present[0]] = present
    for page, members in list(PAGES.items()):
        for m in members:
            PAGE_OF[m] = page
    for n in fn_names:
        if n not in PAGE_OF:
            PAGES[n] = [n]
            PAGE_OF[n] = n


def generate(header, outdir, version):
    intro, decls = read_header(header)
    fns = [d for d in decls if d.kind == "fn"]
    by_name = {d.name: d for d in fns}
    types = [d for d in decls if d.kind in ("struct", "typedef")]
    if not fns:
        sys.exit("gen_manpages.py: no documented functions found in %s" % header)
    assign_pages(set(by_name))
    man3 = os.path.join(outdir, "man3")
    man7 = os.path.join(outdir, "man7")
    for d in (man3, man7):
        os.makedirs(d, exist_ok=True)
        for old in os.listdir(d):  # pages of functions that no longer exist
            os.remove(os.path.join(d, old))
    for page, members in sorted(PAGES.items()):
        fam = FAMILIES.get(page)
        desc = fam[0] if fam and len(members) > 1 else summary(by_name[members[0]])
        # keep the family order, which is the header's order otherwise
        write(os.path.join(man3, page + ".3"), function_page(page, desc, members, by_name, types, version))
        for m in members:
            if m != page:
                write(os.path.join(man3, m + ".3"), ".so man3/%s.3\n" % page)
    write(os.path.join(man7, "wsclient.7"), overview_page(intro, decls, version))
    return len(PAGES), len(fns)


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def name_section(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    m = re.match(r"\.so (man\d/[\w.]+)\n", text)
    if m:
        return name_section(os.path.join(os.path.dirname(os.path.dirname(path)), m.group(1)))
    m = re.search(r"^\.SH NAME\n(.*?)\\-", text, re.M)
    return [n.strip() for n in m.group(1).split(",")] if m else []


def check(header, mandir, names):
    if not names:
        _, decls = read_header(header)
        names = [d.name for d in decls if d.kind == "fn"]
    bad = []
    for n in names:
        path = os.path.join(mandir, "man3", n + ".3")
        if not os.path.exists(path):
            bad.append("%s: no page %s" % (n, path))
        elif n not in name_section(path):
            bad.append("%s: %s does not list it in its NAME section" % (n, path))
    if not os.path.exists(os.path.join(mandir, "man7", "wsclient.7")):
        bad.append("no man7/wsclient.7")
    for b in bad:
        print("MISSING:", b, file=sys.stderr)
    print("%d names checked, %d without a page" % (len(names), len(bad)))
    return 1 if bad else 0


def exported(nm, library):
    import subprocess
    out = subprocess.run([nm, "-D", "--defined-only", library], check=True, capture_output=True,
                         text=True).stdout
    names = []
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 3 and f[1] in "TWi" and re.match(r"ws_\w+$", f[2].split("@")[0]):
            names.append(f[2].split("@")[0])
    return names


def groff_warnings(groff, mandir):
    import subprocess
    bad = 0
    for sec in sorted(os.listdir(mandir)):
        for page in sorted(os.listdir(os.path.join(mandir, sec))):
            rel = os.path.join(sec, page)
            r = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z", rel], cwd=mandir,
                               capture_output=True, text=True)
            if r.returncode != 0 or r.stderr.strip():
                print("groff: %s: %s" % (rel, r.stderr.strip() or "exit %d" % r.returncode),
                      file=sys.stderr)
                bad += 1
    return bad


def main(argv):
    if len(argv) >= 3 and argv[0] == "--check":
        return check(argv[1], argv[2], argv[3:])
    if len(argv) in (5, 6) and argv[0] == "--check-library":
        nm, library, header, mandir = argv[1:5]
        names = exported(nm, library)
        if not names:
            print("no ws_* symbols exported by %s" % library, file=sys.stderr)
            return 1
        _, decls = read_header(header)
        for d in decls:
            if d.kind == "fn" and d.name not in names:
                names.append(d.name)
        rc = check(header, mandir, names)
        groff = argv[5] if len(argv) == 6 else ""
        if groff and not groff.endswith("NOTFOUND"):
            bad = groff_warnings(groff, mandir)
            print("groff: %d pages with warnings" % bad)
            rc = rc or (1 if bad else 0)
        return rc
    version = "0"
    if "--version" in argv:
        k = argv.index("--version")
        version = argv[k + 1]
        del argv[k:k + 2]
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    pages, fns = generate(argv[0], argv[1], version)
    print("gen_manpages.py: %d pages for %d functions in %s" % (pages, fns, argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
