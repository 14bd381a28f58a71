"""The citable number of a defense configuration at one eps, the one rule the HTML report and
the leaderboard share (and state on the page, :data:`CITABLE_RULE`).

* a defended configuration (low-pass, smoothing, ...): its **adaptive** row (attack crafted
  through the defense) of attack ``autoattack`` if present, else ``worst-case`` (an example
  counts as robust only if every attack failed), else the only attack that was run;
* the undefended model (``none``): its **whitebox** row, attack chosen the same way.

With several attacks and neither ``autoattack`` nor ``worst-case`` rows (hand-made tables), the
lowest accuracy among them is taken, so the rule never picks the weaker attack.
"""

from __future__ import annotations

import pandas as pd

from .labels import defense_key, defense_label

__all__ = ["CITABLE_RULE", "EPS_TOLERANCE", "configuration_label", "citable_threat", "citable_row", "citable_rows"]

CITABLE_RULE = (
    "Citable robust accuracy: for a defended configuration, the adaptive row (attack crafted through the defense) "
    "of attack autoattack if present, else worst-case (an example counts as robust only if every attack failed), "
    "else the single attack that was run; for the undefended model (none), the whitebox row chosen the same way. "
    "Where several attacks have neither row, the lowest accuracy among them.")
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
        for eps in dict.fromkeys(float(e) for e in attacked["eps"]):
            if eps <= 0:
                continue  # eps = 0 is the clean accuracy again
            choice = citable_row(attacked[(attacked["eps"] - eps).abs() < EPS_TOLERANCE])
            if choice is None:
                continue
            row, text = choice
            picked.append({**row.to_dict(), "defense_key": key, "attack_text": text, "clean_accuracy": clean_accuracy,
                           "row": row.name})
    columns = list(table.columns) + ["defense_key", "attack_text", "clean_accuracy", "row"]
    return pd.DataFrame(picked, columns=columns)
