"""The citable number of a defense configuration at one eps, the one rule the HTML report and
the leaderboard share (and state on the page, :data:`CITABLE_RULE`).

* a defended configuration (low-pass, smoothing, ...): its **adaptive** row (attack crafted
  through the defense) of attack ``autoattack`` if present, else ``worst-case`` (an example
  counts as robust only if every attack failed), else the only attack that was run;
* the undefended model (``none``): its **whitebox** row, attack chosen the same way.

With several attacks and neither ``autoattack`` nor ``worst-case`` rows (hand-made tables), the
lowest accuracy among them is taken, so the rule never picks the weaker attack.

That row is the **headline**, but it is *citable* only when it is the standard ``autoattack``
ensemble and no sanity check of the run failed (:func:`headline_rows`); in a band (``--band``) there is
one headline per band and eps, and a band's ``autoattack`` row (its gradient stages only) is an upper bound. Any other headline
row (PGD, FGSM, a worst case of cheap attacks, ``autoattack-fast``) is an **upper bound** on
robust accuracy, labelled with the strong-attack spot check's estimate of how much it
overstates when checks.json has one (``PGD-10: 18.6%, overstated by ~7.4 points per the spot
check; cite `--attack autoattack```). Everything comes from results.csv, run.json and
checks.json: no torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

from ..cells import Cell
from ..errors import HfcError
from .labels import band_text, defense_key, defense_label

__all__ = ["CITABLE_RULE", "EPS_TOLERANCE", "SPOT_CHECK_NAME", "CITABLE_ATTACK", "CITABLE", "UPPER_BOUND",
           "NOT_CITABLE", "configuration_label", "citable_threat", "citable_row", "citable_rows", "attack_label",
           "spot_check_rows", "headline_status", "headline_rows", "check_dicts"]

CITABLE_RULE = (
    "Headline: for a defended configuration, the adaptive row (attack crafted through the defense) "
    "of attack autoattack if present, else worst-case (an example counts as robust only if every attack failed), "
    "else the single attack that was run; for the undefended model (none), the whitebox row chosen the same way. "
    "Where several attacks have neither row, the lowest accuracy among them. Only an autoattack row (the standard "
    "ensemble) of a run whose sanity checks did not fail is citable; any other row is an upper bound on robust "
    "accuracy, shown with the strong-attack spot check's estimate of how much it overstates.")
SPOT_CHECK_NAME = "strong-attack-spot-check"
CITABLE_ATTACK = "autoattack"  #: the one attack whose rows can be cited: AutoAttack's standard ensemble
CITABLE, UPPER_BOUND, NOT_CITABLE = "citable", "upper bound", "not citable"
_NAMES = {"fgsm": "FGSM", "apgd-ce": "APGD-CE", "apgd-t": "APGD-T", "fab-t": "FAB-T", "autoattack": "AutoAttack",
          "autoattack-fast": "AutoAttack-fast"}
#: eps values read back from results.csv (eps_255 with 6 decimals) agree to about 4e-9
EPS_TOLERANCE = 5e-7


def configuration_label(row) -> str:
    """:func:`defense_label` plus the settings only the cell key records (``< r`` mask, normalized smoothing)."""
    key = defense_key(row)
    if key == "none":
        return "none (undefended)"
    return defense_label(row) + (" (< r mask)" if key.endswith("-lt") else "") + (
        " (normalized)" if key.endswith("-norm") else "")


def citable_threat(key: str) -> str:
    return "whitebox" if key == "none" else "adaptive"


def citable_row(rows: pd.DataFrame) -> tuple[pd.Series, str] | None:
    """Among one configuration's rows of the citable threat at one eps, the citable row and a
    description of its attack; None when there are no rows."""
    if rows.empty:
        return None
    attacks = list(dict.fromkeys(rows["attack"]))
    for name in ("autoattack", "worst-case"):
        if name in attacks:
            row = rows[rows["attack"] == name].iloc[0]
            others = [a for a in attacks if a not in ("autoattack", "worst-case")]
            return row, (f"worst-case of {', '.join(others)}" if name == "worst-case" and others else name)
    if len(attacks) == 1:
        return rows.iloc[0], attacks[0]
    row = rows.loc[rows["accuracy"].astype(float).idxmin()]
    return row, f"{row['attack']} (lowest of {', '.join(attacks)})"


def citable_rows(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (defense configuration, attacked eps): the citable row of ``table`` (eps
    exact, see :func:`hfc_robust.results.render.precise_eps`), with columns ``defense_key``,
    ``attack_text``, ``clean_accuracy`` (the configuration's clean row, NaN without one) and
    ``row`` (its index in ``table``) added, in the order the configurations and eps appear."""
    keyed = table.copy()
    keyed["defense_key"] = [defense_key(row) for _, row in keyed.iterrows()]
    picked = []
    for key in dict.fromkeys(keyed["defense_key"]):
        config = keyed[keyed["defense_key"] == key]
        clean = config[config["threat_model"] == "clean"]
        clean_accuracy = float(clean["accuracy"].iloc[0]) if len(clean) else float("nan")
        attacked = config[config["threat_model"] == citable_threat(key)]
        bands = pd.Series([band_text(row) for _, row in attacked.iterrows()], index=attacked.index, dtype=object)
        for band, eps in dict.fromkeys(zip(bands, (float(e) for e in attacked["eps"]))):
            if eps <= 0:
                continue  # eps = 0 is the clean accuracy again
            choice = citable_row(attacked[((attacked["eps"] - eps).abs() < EPS_TOLERANCE) & (bands == band)])
            if choice is None:
                continue
            row, text = choice
            picked.append({**row.to_dict(), "defense_key": key, "attack_text": text, "clean_accuracy": clean_accuracy,
                           "row": row.name})
    columns = list(table.columns) + ["defense_key", "attack_text", "clean_accuracy", "row"]
    return pd.DataFrame(picked, columns=columns)


def check_dicts(checks: Iterable | None) -> list[dict] | None:
    """Checks as checks.json holds them (``Check`` objects or dicts) as dicts; None stays None."""
    if checks is None:
        return None
    return [c.to_dict() if hasattr(c, "to_dict") else dict(c) for c in checks]


def attack_label(attack: str, config: dict | None = None) -> str:
    """A row's attack with its budget where run.json's configuration gives it: ``PGD-10``,
    ``PGD-10 x 5 restarts``, ``FGSM``, ``Square-5000``, ``AutoAttack``; ``worst-case of fgsm, pgd``
    becomes ``worst case of FGSM, PGD-10``."""
    config = config or {}
    if attack.startswith("worst-case of "):
        return "worst case of " + ", ".join(attack_label(a.strip(), config) for a in attack[14:].split(","))
    if " (lowest of " in attack:
        return attack_label(attack.split(" (lowest of ")[0], config)
    if attack in ("pgd", "bpda-pgd"):
        name = "PGD" if attack == "pgd" else "BPDA-PGD"
        steps, restarts = config.get("steps"), config.get("restarts") or 1
        text = f"{name}-{steps}" if steps else name
        return text + (f" x {restarts} restarts" if restarts > 1 else "")
    if attack == "square":
        return f"Square-{config['queries']}" if config.get("queries") else "Square"
    return _NAMES.get(attack, attack)


def _cell_key(key: object) -> str | None:
    try:
        return Cell.parse(str(key)).key
    except HfcError:
        return None


def _cell(key: object) -> Cell | None:
    try:
        cell = Cell.parse(str(key))
    except HfcError:
        return None
    return cell if isinstance(cell, Cell) else None


def spot_check_rows(checks: list[dict] | None) -> dict[str, dict] | None:
    """The spot check's per-row records of checks.json by cell key; None when the run has no spot
    check that ran (no checks.json, disabled, skipped)."""
    for check in checks or []:
        if check.get("name") == SPOT_CHECK_NAME and check.get("status") in ("pass", "warn", "fail"):
            rows = (check.get("data") or {}).get("rows") or []
            return {key: row for row in rows if isinstance(row, dict) and (key := _cell_key(row.get("cell")))}
    return None


def headline_status(attack: str, cell: object, checks: list[dict] | None) -> dict:
    """The label of one headline row: ``status`` (citable, upper bound, not citable), the spot
    check's ``estimate`` and ``lower`` bound in points (None without one), ``failed`` checks, and
    ``detail``, what backs the status (the spot check's finding, the failed check)."""
    failed = [str(c.get("name")) for c in checks or [] if c.get("status") == "fail"]
    parsed = _cell(cell)
    if attack == CITABLE_ATTACK and parsed is not None and parsed.band is not None:
        return dict(status=UPPER_BOUND, estimate=None, lower=None, failed=failed,
                    detail=f"AutoAttack's gradient stages (APGD-CE, APGD-T, standard budgets) in {parsed.band.label}: "
                           "FAB-T and Square have no band-limited form")
    if attack == CITABLE_ATTACK:
        if checks is None:
            return dict(status=NOT_CITABLE, estimate=None, lower=None, failed=[], detail="the run has no checks.json")
        if failed:
            return dict(status=NOT_CITABLE, estimate=None, lower=None, failed=failed,
                        detail=f"the {', '.join(failed)} check{'s' if len(failed) > 1 else ''} failed")
        return dict(status=CITABLE, estimate=None, lower=None, failed=[],
                    detail="AutoAttack's standard ensemble, and no sanity check failed")
    rows = spot_check_rows(checks)
    record = rows.get(_cell_key(cell) or "") if rows is not None else None
    cite = f"cite `--attack {CITABLE_ATTACK}`"
    if record is None:
        reason = "no spot check ran" if rows is None else "the spot check did not cover this row"
        return dict(status=UPPER_BOUND, estimate=None, lower=None, failed=failed,
                    detail=f"{reason}, so how much it overstates is unknown; {cite}")
    estimate = float(record.get("overestimate_points", 0.0))
    lower = record.get("lower_bound_points")
    broken = record.get("broken", record.get("broken_by_apgd"))
    if broken == 0:
        text = f"the spot check broke none of {record.get('sampled')} sampled robust examples; {cite}"
    else:
        confidence = record.get("confidence")
        bound = (f" (at least {float(lower):.1f} with {100 * float(confidence):g}% confidence)"
                 if lower is not None and confidence is not None else "")
        text = f"overstated by ~{estimate:.1f} points per the spot check{bound}; {cite}"
    return dict(status=UPPER_BOUND, estimate=estimate, lower=None if lower is None else float(lower),
                failed=failed, detail=text)


def headline_rows(table: pd.DataFrame, checks: Iterable | None, run: dict | None = None) -> pd.DataFrame:
    """:func:`citable_rows` with the label of each: columns ``attack_label`` (``PGD-10``), ``status``,
    ``estimate`` and ``lower`` (the spot check's points, NaN without one), ``detail`` and ``label``,
    the whole line (``PGD-10: 18.6%, upper bound, overstated by ~8.4 points per the spot check
    (...); cite `--attack autoattack```)."""
    picked = citable_rows(table)
    checks = check_dicts(checks)
    config = (run or {}).get("config") or {}
    extra = []
    for _, row in picked.iterrows():
        status = headline_status(str(row["attack"]), row.get("cell"), checks)
        name = attack_label(str(row["attack_text"]), config)
        extra.append(dict(attack_label=name, status=status["status"],
                          estimate=math.nan if status["estimate"] is None else status["estimate"],
                          lower=math.nan if status["lower"] is None else status["lower"], detail=status["detail"],
                          label=f"{name}: {100 * float(row['accuracy']):.1f}%, {status['status']}, {status['detail']}"))
    columns = ["attack_label", "status", "estimate", "lower", "detail", "label"]
    return pd.concat([picked.reset_index(drop=True), pd.DataFrame(extra, columns=columns)], axis=1)
