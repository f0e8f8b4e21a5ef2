"""Issue 13: `pip install ./bindings/python` in a fresh venv gives a package
that imports and works, with nothing else set up (no WSCLIENT_LIBRARY, no
library on the loader's path): the build step runs cargo in the repository
and bundles libwsclient.so.

Needs the repository (the Rust crate next to bindings/python) and pip's
access to PyPI for the build requirement (setuptools, in pip's isolated build
environment). The repository is $WSCLIENT_SOURCE_DIR (run-tests.sh sets it)
or the tree these tests are in. cargo uses the repository's default target
directory, as a user's install would (so a `cargo build --release` done
before is reused); when the library under test was loaded from a cargo
release directory (not from site-packages), that one, and
$WSCLIENT_TEST_TARGET_DIR if set. (Not CMake's build/cargo: CMake builds
with its own RUSTFLAGS, and sharing it would rebuild both ways.)
"""

from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path
from typing import Dict, Optional

import pytest

import wsclient

INSTALL_TIMEOUT = 900  # a cargo build from scratch (fat LTO) on a busy machine


def _source_dir() -> Optional[Path]:
    env = os.environ.get("WSCLIENT_SOURCE_DIR")
    cands = [Path(env)] if env else [Path(__file__).resolve().parents[3]]
    for c in cands:
        if (c / "Cargo.toml").is_file() and (c / "bindings" / "python" / "setup.py").is_file():
            return c
    return None


SRC = _source_dir()
pytestmark = pytest.mark.skipif(SRC is None, reason="not run from a repository checkout (set WSCLIENT_SOURCE_DIR)")


def _clean_env(**extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("WSCLIENT_LIBRARY", "PYTHONPATH", "LD_LIBRARY_PATH", "PYTHONHOME", "VIRTUAL_ENV")
           and not k.startswith("WSCLIENT_BUNDLE") and k != "WSCLIENT_PY_NO_BUNDLE"}
    # Reuse the build of the library under test: .../<target>/release/libwsclient.so
    lib = Path(wsclient.library_path).resolve()
    if os.environ.get("WSCLIENT_TEST_TARGET_DIR"):
        env["CARGO_TARGET_DIR"] = os.environ["WSCLIENT_TEST_TARGET_DIR"]
    elif lib.parent.name == "release" and "site-packages" not in str(lib):
        env["CARGO_TARGET_DIR"] = str(lib.parent.parent)
    env.update(extra)
    return env


def _fresh_venv(tmp_path: Path) -> Path:
    d = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(d)
    return d / "bin" / "python"


def _pip_install(py: Path, env: Dict[str, str]) -> None:
    assert SRC is not None
    r = subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check", "--no-cache-dir",
                        str(SRC / "bindings" / "python")], env=env, capture_output=True, text=True,
                       timeout=INSTALL_TIMEOUT, cwd=str(py.parent))
    assert r.returncode == 0, f"pip install failed:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"


USE = r"""
import sys, wsclient
p = wsclient.library_path
assert "site-packages" in p and p.endswith("libwsclient.so"), p
with wsclient.connect(sys.argv[1], timeout=10) as ws:
    ws.send("installed")
    assert ws.recv(10) == "installed"
print("OK", p, wsclient.library_version())
"""


def test_pip_install_in_a_fresh_venv_bundles_the_library(tmp_path: Path, echo_url: str) -> None:
    py = _fresh_venv(tmp_path)
    env = _clean_env()
    _pip_install(py, env)
    # from a directory that is neither the source tree nor the venv
    work = tmp_path / "elsewhere"
    work.mkdir()
    r = subprocess.run([str(py), "-c", USE, echo_url], env=env, capture_output=True, text=True, timeout=60,
                       cwd=str(work))
    assert r.returncode == 0 and r.stdout.startswith("OK "), r.stdout + r.stderr
    assert str(tmp_path) in r.stdout
    assert r.stdout.split()[-1] == wsclient.library_version()
    # the wheel says it carries native code
    wheel = subprocess.run([str(py), "-m", "pip", "show", "-f", "wsclient"], env=env, capture_output=True,
                           text=True, timeout=60).stdout
    assert "wsclient/libwsclient.so" in wheel


def test_pip_install_without_bundle_finds_the_library_at_run_time(tmp_path: Path, echo_url: str) -> None:
    py = _fresh_venv(tmp_path)
    env = _clean_env(WSCLIENT_PY_NO_BUNDLE="1")
    _pip_install(py, env)
    work = tmp_path / "elsewhere"
    work.mkdir()
    del env["WSCLIENT_PY_NO_BUNDLE"]
    r = subprocess.run([str(py), "-c", "import wsclient"], env=env, capture_output=True, text=True, timeout=60,
                       cwd=str(work))
    if r.returncode == 0:  # a libwsclient.so installed system-wide
        pytest.skip("a system-wide libwsclient is on the loader's path")
    assert "ImportError" in r.stderr and "WSCLIENT_LIBRARY" in r.stderr, r.stderr
    lib = str(Path(wsclient.library_path).resolve())
    env["WSCLIENT_LIBRARY"] = lib
    use = USE.replace('assert "site-packages" in p and p.endswith("libwsclient.so"), p', "")
    r = subprocess.run([str(py), "-c", use, echo_url], env=env, capture_output=True, text=True, timeout=60,
                       cwd=str(work))
    assert r.returncode == 0 and r.stdout.startswith(f"OK {lib} "), r.stdout + r.stderr
