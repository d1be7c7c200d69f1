"""dimrec: item-to-item recommendations from the analytics warehouse to an HTTP answer."""

from typing import Any


def __getattr__(name: str) -> Any:
    """``dimrec.__version__``, read from the installed package's metadata on first use
    (importlib.metadata takes longer to load than the whole ``dimrec --help``)."""
    if name != "__version__":
        raise AttributeError(f"module 'dimrec' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("dimrec")
    except PackageNotFoundError:  # running from a source tree without an install
        value = "0.0.0+unknown"
    globals()["__version__"] = value
    return value
