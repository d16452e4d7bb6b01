"""woollama: a local router between AI clients and AI backends."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("woollama")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+src"

__all__ = ["__version__"]
