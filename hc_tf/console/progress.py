"""Progress bars for long runs (evaluate, predict, parity): tqdm on stderr, terminals only.

A bar is for a person watching: it goes to stderr (stdout keeps the results, so a
pipe gets clean output) and only when stderr is a terminal, so logs, pipes and CI
never fill with carriage returns. `--quiet` turns it off on a terminal too.
"""

from __future__ import annotations

import sys
from typing import IO, Iterable, Iterator, Optional, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def wanted(quiet: bool = False, stream: Optional[IO[str]] = None) -> bool:
    """Whether to show a progress bar.

    Args:
      quiet: the user's `--quiet`.
      stream: where the bar would go (default: the current `sys.stderr`).

    Returns:
      True when not quiet and `stream` is a terminal.
    """
    stream = sys.stderr if stream is None else stream
    try:
        return not quiet and bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def bar(items: Iterable[T], enabled: bool, total: Optional[int] = None, desc: str = "",
        unit: str = "image", stream: Optional[IO[str]] = None) -> Iterator[T]:
    """`items`, with a progress bar on `stream` while they are consumed, when `enabled`.

    Args:
      items: what to iterate over (lazily; any iterable).
      enabled: show the bar (see `wanted`); when False, `items` pass through untouched.
      total: how many items there are, when known (default: `len(items)` if sized).
      desc: the bar's label, e.g. "evaluate".
      unit: what one item is.
      stream: where the bar goes (default: the current `sys.stderr`).

    Returns:
      An iterator over `items`, in order.
    """
    if not enabled:
        return iter(items)
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    return iter(tqdm(items, total=total, desc=desc or None, unit=unit, dynamic_ncols=True,
                     file=sys.stderr if stream is None else stream))


__all__ = ["wanted", "bar"]
