"""Bundles libwsclient into the package at build time, so that
``pip install ./bindings/python`` gives a package that imports.

The binding itself is ctypes only; what the build adds is the shared
library, copied into the package next to __init__.py, where the loader looks
first (after $WSCLIENT_LIBRARY). The library comes from the first of:

1. ``$WSCLIENT_BUNDLE_LIBRARY``: the path of a prebuilt libwsclient.so;
2. a libwsclient.so already in src/wsclient/ (copied there by hand);
3. the Rust crate of this repository (../../Cargo.toml, i.e. installing from
   a checkout): ``cargo build --release --lib --locked`` runs in the
   repository root (``$CARGO`` or cargo on PATH or in ~/.cargo/bin;
   ``$CARGO_TARGET_DIR`` is honoured, so a tree built before is reused);
   a failing or missing cargo fails the install, with the reason.

``WSCLIENT_PY_NO_BUNDLE=1``, or none of the above (an sdist without the
crate), builds a pure-Python wheel that finds the library at run time
($WSCLIENT_LIBRARY or the system's search path).

A wheel with the library inside contains native code: has_ext_modules()
makes bdist_wheel tag it for this platform (and pip install it into
platlib) instead of as a "pure" wheel that would install anywhere. The copy
is stripped of debug sections (strip --strip-debug, when available): 12 MB
-> about 1.5 MB for the release profile, symbols kept for backtraces.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

from setuptools import setup
from setuptools.command.build_py import build_py as _build_py
from setuptools.dist import Distribution

HERE = Path(__file__).resolve().parent
PKG = HERE / "src" / "wsclient"
NAMES = {"linux": "libwsclient.so", "darwin": "libwsclient.dylib", "win32": "wsclient.dll"}
LIB_NAME = NAMES.get(sys.platform, "libwsclient.so")
MANIFEST = HERE.parent.parent / "Cargo.toml"


def _plan() -> Optional[str]:
    """Where the bundled library comes from: "env", "copied", "cargo" or
    None (pure-Python wheel)."""
    if os.environ.get("WSCLIENT_PY_NO_BUNDLE", "") not in ("", "0"):
        return None
    if os.environ.get("WSCLIENT_BUNDLE_LIBRARY"):
        return "env"
    if any((PKG / n).exists() for n in NAMES.values()):
        return "copied"
    if MANIFEST.is_file() and 'name = "wsclient"' in MANIFEST.read_text(encoding="utf-8", errors="replace"):
        return "cargo"
    return None


PLAN = _plan()


def _cargo() -> str:
    for cand in (os.environ.get("CARGO"), shutil.which("cargo"), str(Path.home() / ".cargo" / "bin" / "cargo")):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    raise SystemExit(
        "wsclient: building libwsclient needs cargo (Rust, https://rustup.rs), not found on PATH or in "
        "~/.cargo/bin; set CARGO, or WSCLIENT_BUNDLE_LIBRARY=/path/to/libwsclient.so to bundle a prebuilt "
        "library, or WSCLIENT_PY_NO_BUNDLE=1 to install without one"
    )


def _cargo_build() -> Path:
    """cargo build --release --lib in the repository root; the cdylib it
    produced (read from cargo's JSON messages, so any target dir works)."""
    cmd: List[str] = [_cargo(), "build", "--release", "--lib", "--locked", "--message-format=json-render-diagnostics",
                      "--manifest-path", str(MANIFEST)]
    print("wsclient: " + " ".join(cmd), file=sys.stderr, flush=True)
    p = subprocess.run(cmd, cwd=str(MANIFEST.parent), stdout=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise SystemExit(f"wsclient: cargo build failed (status {p.returncode}); see its messages above")
    found: Optional[Path] = None
    for line in p.stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") == "compiler-artifact" and "cdylib" in msg.get("target", {}).get("kind", []):
            for f in msg.get("filenames", []):
                if Path(f).name == LIB_NAME:
                    found = Path(f)
    if found is None or not found.is_file():
        raise SystemExit(f"wsclient: cargo build did not report {LIB_NAME}")
    return found


def _source() -> Optional[Path]:
    if PLAN == "env":
        p = Path(os.environ["WSCLIENT_BUNDLE_LIBRARY"])
        if not p.is_file():
            raise SystemExit(f"wsclient: WSCLIENT_BUNDLE_LIBRARY={p} is not a file")
        return p
    if PLAN == "cargo":
        return _cargo_build()
    return None  # "copied" goes in as package data; None: nothing to bundle


def _install(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        dest.unlink()
    strip = shutil.which("strip") if sys.platform == "linux" else None
    if strip and subprocess.run([strip, "--strip-debug", "-o", str(dest), str(src)]).returncode == 0:
        return
    shutil.copyfile(src, dest)


class build_py(_build_py):
    """Also puts the library into the built package."""

    def run(self) -> None:
        super().run()
        src = _source()
        if src is not None:
            dest = Path(self.build_lib) / "wsclient" / LIB_NAME
            print(f"wsclient: bundling {src} as {dest}", file=sys.stderr, flush=True)
            _install(src, dest)
        elif PLAN is None:
            print("wsclient: no library bundled; it is found at run time ($WSCLIENT_LIBRARY or the system's "
                  "search path)", file=sys.stderr, flush=True)


class _Distribution(Distribution):
    def has_ext_modules(self) -> bool:  # noqa: D401 - setuptools hook
        return PLAN is not None


setup(distclass=_Distribution, cmdclass={"build_py": build_py})
