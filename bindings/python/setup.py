"""Only here to tag the wheel correctly when the shared library is bundled.

Without a bundled libwsclient.so the package is pure Python (py3-none-any)
and finds the library at run time. With one copied into src/wsclient/, the
wheel contains native code and must say so: has_ext_modules() makes
bdist_wheel produce a platform-specific wheel (and pip install it into
platlib) instead of a "pure" wheel that would install on any platform.
"""

from pathlib import Path

from setuptools import setup
from setuptools.dist import Distribution

_PKG = Path(__file__).resolve().parent / "src" / "wsclient"
_BUNDLED = any((_PKG / n).exists() for n in ("libwsclient.so", "libwsclient.dylib", "wsclient.dll"))


class _Distribution(Distribution):
    def has_ext_modules(self) -> bool:  # noqa: D401 - setuptools hook
        return _BUNDLED


setup(distclass=_Distribution)
