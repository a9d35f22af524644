"""Field checks for configs and constructors: a wrong type, NaN, inf or out-of-range value raises a ValueError
that names the field and the allowed range, before it can reach a computation.

Shared by every package (simulators and problems import it too), so all configs word their errors alike.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection
from typing import Any


class InputError(ValueError):
    """Bad input from a user (a data file, an instance file, a checkpoint of another run): the message names what
    and where, so runners print it without a traceback."""


def fail(field: str, message: str) -> None:
    """Raise the ValueError every check raises: `field: message`."""
    raise ValueError(f"{field}: {message}")


def _range_text(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is None and hi is None:
        return "any value"
    if hi is None:
        return f"{'>' if lo_open else '>='} {lo}"
    if lo is None:
        return f"{'<' if hi_open else '<='} {hi}"
    return f"in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"


def _in_range(value: float, lo, hi, lo_open: bool, hi_open: bool) -> bool:
    if lo is not None and (value <= lo if lo_open else value < lo):
        return False
    if hi is not None and (value >= hi if hi_open else value > hi):
        return False
    return True


def check_int(value: Any, field: str, lo: int | None = None, hi: int | None = None) -> int:
    """`value` must be an integer (not a bool, not a float) within [lo, hi]; returns it as a Python int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        fail(field, f"must be an integer {_range_text(lo, hi, False, False)}, got {value!r}")
    if not _in_range(int(value), lo, hi, False, False):
        fail(field, f"must be an integer {_range_text(lo, hi, False, False)}, got {value!r}")
    return int(value)


def check_optional_int(value: Any, field: str, lo: int | None = None, hi: int | None = None) -> int | None:
    """None, or an integer within [lo, hi] (see `check_int`)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        fail(field, f"must be None or an integer {_range_text(lo, hi, False, False)}, got {value!r}")
    return check_int(value, field, lo, hi)


def check_real(
    value: Any,
    field: str,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    allow_inf: bool = False,
) -> float:
    """`value` must be a real number (not a bool, not NaN; inf only when `allow_inf`) within the given range."""
    kind = "number" if allow_inf else "finite number"
    allowed = _range_text(lo, hi, lo_open, hi_open)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(field, f"must be a {kind} {allowed}, got {value!r}")
    x = float(value)
    if math.isnan(x) or (math.isinf(x) and not allow_inf):
        fail(field, f"must be a {kind} {allowed}, got {value!r}")
    if not _in_range(x, lo, hi, lo_open, hi_open):
        fail(field, f"must be a {kind} {allowed}, got {value!r}")
    return x


def check_bool(value: Any, field: str) -> bool:
    """`value` must be True or False (a string such as "false" is refused, not read as truthy)."""
    if not isinstance(value, bool):
        try:
            import numpy as np

            if isinstance(value, np.bool_):
                return bool(value)
        except ImportError:  # pragma: no cover
            pass
        fail(field, f"must be True or False, got {value!r}")
    return bool(value)


def check_choice(value: Any, field: str, allowed: Collection) -> Any:
    """`value` must be one of `allowed` (compared by equality; unhashable values are refused cleanly)."""
    try:
        ok = value in allowed
    except TypeError:
        ok = False
    if not ok:
        fail(field, f"unknown {value!r}; allowed: {', '.join(map(str, allowed))}")
    return value


def check_str(value: Any, field: str, nonempty: bool = False) -> str:
    """`value` must be a string (non-empty when asked)."""
    if not isinstance(value, str) or (nonempty and not value.strip()):
        fail(field, f"must be a {'non-empty ' if nonempty else ''}string, got {value!r}")
    return value
