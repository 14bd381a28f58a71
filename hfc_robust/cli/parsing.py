"""Parsing of list-valued options such as ``--eps 2/255,8/255`` or ``--radius 4,8``."""

from __future__ import annotations

import math
from fractions import Fraction

from ..errors import HfcError

__all__ = ["parse_eps", "parse_eps_list", "parse_float_list", "parse_name_list", "parse_n", "parse_shard",
           "parse_severities"]


def parse_eps(text: str | float, norm: str = "linf") -> float:
    """``8/255`` or ``0.031`` -> float on the [0, 1] pixel scale: in [0, 1] for an L-inf radius (or a
    step size), any finite value >= 0 for an L2 one (``norm="l2"``)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        raw = str(text).strip()
        try:
            value = float(Fraction(raw)) if "/" in raw else float(raw)
        except (ValueError, ZeroDivisionError):
            raise HfcError(f"cannot read eps {raw!r}", "write it as 8/255 or as a decimal such as 0.031") from None
    if norm == "l2":
        if not math.isfinite(value) or value < 0.0:
            raise HfcError(f"L2 eps {text} is not a finite number >= 0", "pass an L2 radius on the [0, 1] pixel scale, "
                           "e.g. 0.5")
    elif not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise HfcError(f"eps {text} is outside [0, 1]", "eps is on the [0, 1] pixel scale, e.g. 8/255")
    return value


def _split(text: str) -> list[str]:
    return [part.strip() for part in str(text).split(",") if part.strip()]


def parse_eps_list(text: str, norm: str = "linf") -> tuple[float, ...]:
    values = sorted({parse_eps(part, norm) for part in _split(text)})
    if not values:
        raise HfcError("no eps given", "pass e.g. --eps 2/255,8/255")
    return tuple(values)


EXAMPLES = {"radius": "4,8", "rho": "0.5,1.0"}


def parse_float_list(text: str | None, what: str, minimum: float = 0.0) -> tuple[float, ...]:
    if text is None or str(text).strip() == "":
        return ()
    values = []
    for part in _split(text):
        try:
            value = float(Fraction(part)) if "/" in part else float(part)
        except (ValueError, ZeroDivisionError):
            raise HfcError(f"cannot read {what} {part!r}", f"pass numbers separated by commas, e.g. --{what} {EXAMPLES.get(what, '4,8')}") from None
        if not math.isfinite(value) or value < minimum:
            raise HfcError(f"{what} must be >= {minimum:g}, got {part}", f"pass e.g. --{what} {EXAMPLES.get(what, '4,8')}")
        values.append(value)
    return tuple(dict.fromkeys(values))


def parse_name_list(text: str, known: dict, what: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.lower() for part in _split(text)))
    for name in names:
        if name not in known:
            raise HfcError(f"unknown {what} {name!r}", f"choose from {', '.join(known)}")
    if not names:
        raise HfcError(f"no {what} given", f"choose from {', '.join(known)}")
    return names


def parse_n(text: str | int | None) -> int | None:
    if text is None or str(text).lower() == "all":
        return None
    try:
        value = int(str(text))
    except ValueError:
        raise HfcError(f"cannot read --n {text!r}", "pass a positive integer or 'all'") from None
    if value < 1:
        raise HfcError(f"--n must be positive, got {value}", "pass a positive integer or 'all'")
    return value


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``2/4`` -> ``(2, 4)``: shard I of N, 1 <= I <= N."""
    if text is None:
        return None
    parts = str(text).strip().split("/")
    try:
        index, count = (int(part) for part in parts) if len(parts) == 2 else (0, 0)
    except ValueError:
        index, count = 0, 0
    if not 1 <= index <= count:
        raise HfcError(f"cannot read --shard {text!r}", "write it as I/N with 1 <= I <= N, e.g. --shard 1/2")
    return index, count


def parse_severities(text: str) -> tuple[int, ...]:
    """``1,3,5`` -> ``(1, 3, 5)``: corruption severities, each 1..5."""
    values = []
    for part in _split(text):
        if not part.isdigit() or not 1 <= int(part) <= 5:
            raise HfcError(f"cannot read severity {part!r}", "pass severities 1 to 5 separated by commas, e.g. --severity 1,3,5")
        values.append(int(part))
    if not values:
        raise HfcError("no severity given", "pass e.g. --severity 1,2,3,4,5")
    return tuple(sorted(set(values)))
