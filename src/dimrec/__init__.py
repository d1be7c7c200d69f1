"""dimrec: item-to-item recommendations from the analytics warehouse to an HTTP answer."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dimrec")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"
