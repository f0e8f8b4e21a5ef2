#!/usr/bin/env python3
"""A manual page (section 1) from a program's own --help text, so that the
page and the program cannot disagree:

    gen_program_page.py PROGRAM NAME OUT.1 [--version X.Y.Z]

The --help layout it reads (that of wscat and lua_host): "usage:" lines
(SYNOPSIS); paragraphs (DESCRIPTION); "Heading:" lines followed by option
lines "  -x, --long ARG   text" with continuation lines indented further
(OPTIONS, one subsection per heading after the first); a paragraph starting
"Exit status:" (EXIT STATUS); "Examples:" followed by indented command
lines (EXAMPLES).
"""

import os
import re
import subprocess
import sys


def esc(text):
    text = text.replace("\\", "\\e")
    return re.sub(r"(?<![\w-])-", r"\\-", text)


def text_line(s):
    s = esc(s)
    return "\\&" + s if s.startswith((".", "'")) else s


def main(argv):
    version = "0"
    if "--version" in argv:
        k = argv.index("--version")
        version = argv[k + 1]
        del argv[k:k + 2]
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    program, name, out_path = argv
    helptext = subprocess.run([program, "--help"], check=True, capture_output=True, text=True,
                              timeout=30).stdout
    blocks = [b.split("\n") for b in re.split(r"\n\s*\n", helptext.strip("\n"))]

    summary = ""
    out = ['.TH %s 1 "" "wsclient %s" "wsclient manual"' % (name.upper(), version), ".nh", ".ad l"]
    body = []
    synopsis = []
    section = None
    for block in blocks:
        first = block[0]
        if first.startswith("usage:"):
            for line in block:
                synopsis.append(re.sub(r"^(usage:)?\s*", "", line))
            continue
        if first.startswith("Exit status:"):
            body.append(".SH EXIT STATUS")
            body.extend(text_line(l.strip()) for l in [first[len("Exit status:"):]] + block[1:])
            continue
        heading = re.match(r"^([A-Z].{0,40}):$", first)
        if heading:
            title = heading.group(1)
            if title == "Examples":
                body.append(".SH EXAMPLES")
                body.append(".nf")
                body.extend("\\&" + esc(l.strip()) for l in block[1:])
                body.append(".fi")
                continue
            if section != "OPTIONS":
                body.append(".SH OPTIONS")
                section = "OPTIONS"
                if title != "Options":
                    body.append(".SS " + esc(title))
            else:
                body.append(".SS " + esc(title))
            for line in block[1:]:
                m = re.match(r"^ {1,8}(-\S.*?)(?:\s{2,}(.*))?$", line)
                if m:
                    body.append(".TP")
                    spec = re.sub(r"(--?[\w-]+)", lambda k: "\\fB" + esc(k.group(1)) + "\\fR", m.group(1))
                    body.append(spec)
                    if m.group(2):
                        body.append(text_line(m.group(2)))
                else:
                    body.append(text_line(line.strip()))
            continue
        if section is None:
            if not summary:
                summary = re.split(r"[.:;](?:\s|$)", " ".join(l.strip() for l in block))[0]
            if not any(b == ".SH DESCRIPTION" for b in body):
                body.append(".SH DESCRIPTION")
            body.append(".PP")
        else:
            body.append(".PP")
        body.extend(text_line(l.strip()) for l in block)

    out.append(".SH NAME")
    out.append("%s \\- %s" % (name, esc(summary[:1].lower() + summary[1:]) if summary else name))
    out.append(".SH SYNOPSIS")
    out.append(".nf")
    for s in synopsis:
        out.append("\\fB" + esc(s) + "\\fR")
    out.append(".fi")
    out.extend(body)
    out.append(".SH SEE ALSO")
    out.append("\\fBwsclient\\fR(7)")
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
