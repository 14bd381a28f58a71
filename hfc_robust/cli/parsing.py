"""Parsing of list-valued options such as ``--eps 2/255,8/255`` or ``--radius 4,8``."""

from __future__ import annotations

import math
from fractions import Fraction

from ..errors import HfcError

__all__ = [
    "parse_number",
    "parse_number_list",
    "parse_float_list",
    "parse_name_list",
    "parse_n",
    "parse_shard",
    "parse_severities",
    "parse_band_list",
]


def parse_number(text: str, what: str = "eps") -> float:
    """``8/255`` or ``0.031`` -> float. Only the reading: whether the value fits the threat model is
    the run spec's rule (:meth:`hfc_robust.threat.Norm.check_eps`), checked once, where the spec is built."""
    raw = str(text).strip()
    try:
        return float(Fraction(raw)) if "/" in raw else float(raw)
    except (ValueError, ZeroDivisionError):
        raise HfcError(f"cannot read {what} {raw!r}", "write it as 8/255 or as a decimal such as 0.031") from None


def _split(text: str) -> list[str]:
    return [part.strip() for part in str(text).split(",") if part.strip()]


def parse_number_list(text: str, what: str = "eps") -> tuple[float, ...]:
    """``2/255,8/255`` -> the numbers, in the order given (the spec sorts and checks them)."""
    values = tuple(parse_number(part, what) for part in _split(text))
    if not values:
        raise HfcError(f"no {what} given", "pass e.g. --eps 2/255,8/255")
    return values


EXAMPLES = {"radius": "4,8", "rho": "0.5,1.0"}


def parse_float_list(text: str | None, what: str, minimum: float = 0.0) -> tuple[float, ...]:
    if text is None or str(text).strip() == "":
        return ()
    values = []
    for part in _split(text):
        try:
            value = float(Fraction(part)) if "/" in part else float(part)
        except (ValueError, ZeroDivisionError):
            raise HfcError(
                f"cannot read {what} {part!r}",
                f"pass numbers separated by commas, e.g. --{what} {EXAMPLES.get(what, '4,8')}",
            ) from None
        if not math.isfinite(value) or value < minimum:
            raise HfcError(
                f"{what} must be >= {minimum:g}, got {part}", f"pass e.g. --{what} {EXAMPLES.get(what, '4,8')}"
            )
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
            raise HfcError(
                f"cannot read severity {part!r}", "pass severities 1 to 5 separated by commas, e.g. --severity 1,3,5"
            )
        values.append(int(part))
    if not values:
        raise HfcError("no severity given", "pass e.g. --severity 1,2,3,4,5")
    return tuple(sorted(set(values)))


def parse_band_list(text: str | None) -> tuple:
    """``0-4,4-8,all`` -> the bands (:meth:`hfc_robust.band.Band.parse`; ``all``: the whole spectrum), in the
    order given (the spec orders and checks them); () for no text."""
    from ..band import Band

    if text is None or not str(text).strip():
        return ()
    return tuple(Band.parse(part) for part in _split(text))
