"""Kiel's two tables side by side: per-donor sums of the activity rows against Kiel's totals.

Shared by the importer (:mod:`coalition_report.kiel`, which reports disagreements) and the
brief's Methods (which prints them), so neither imports the other.
"""

from __future__ import annotations

import math
from collections import defaultdict

__all__ = ["check_totals", "AID_TYPES"]

#: Kiel's aid types, in the order the brief shows them.
AID_TYPES = ("military", "financial", "humanitarian")


def check_totals(activities: pd.DataFrame, totals: pd.DataFrame, *,
                 by_type: bool = False) -> pd.DataFrame:
    """Compare per-donor allocation sums of the activity rows with Kiel's totals.

    Parameters
    ----------
    activities : pandas.DataFrame
        ``aid_activities`` rows (needs ``donor_id``, ``measure``, ``value_eur``; ``aid_type``
        when ``by_type``).
    totals : pandas.DataFrame
        ``aid_totals`` rows (same columns).
    by_type : bool, default False
        Compare per donor and aid type instead of per donor.

    Returns
    -------
    pandas.DataFrame
        One row per donor (and aid type) present in either table, sorted by ``donor_id``, with
        columns ``donor_id``, [``aid_type``,] ``summed_eur`` (exact sum of ``value_eur`` over
        allocation rows, 0.0 for donors without activity rows), ``kiel_eur`` (Kiel's allocation
        total, ``NaN`` if Kiel has none), ``diff_eur`` (``summed_eur - kiel_eur``), ``agrees``
        (nullable boolean: relative difference at most 1e-6 or absolute at most EUR 1; ``<NA>``
        when there is no Kiel total) and ``status`` (``"agrees"``, ``"differs"`` or
        ``"no-total"``).
    """
    import pandas as pd  # here, not at import: snapshot.py (read cheaply by the build) imports AID_TYPES

    keys = ["donor_id", "aid_type"] if by_type else ["donor_id"]

    def allocation_sums(df: pd.DataFrame) -> dict[tuple, float]:
        sums: dict[tuple, list[float]] = defaultdict(list)
        sel = df[df["measure"] == "allocation"]
        for key, value in zip(sel[keys].itertuples(index=False, name=None),
                              sel["value_eur"].astype(float)):
            if not math.isnan(value):
                sums[key].append(value)
        return {k: math.fsum(v) for k, v in sums.items()}

    summed = allocation_sums(activities)
    kiel = allocation_sums(totals)
    donors = set(activities["donor_id"].unique()) | set(totals["donor_id"].unique())
    if by_type:
        all_keys = sorted((d, t) for d in donors for t in AID_TYPES)
    else:
        all_keys = sorted((d,) for d in donors)
    has_totals = set(totals["donor_id"].unique())
    records = []
    for key in all_keys:
        s = summed.get(key, 0.0)
        if key[0] in has_totals:
            k = kiel.get(key, 0.0)
            diff = s - k
            ok = abs(diff) <= 1.0 or abs(diff) <= 1e-6 * max(abs(s), abs(k))
            status = "agrees" if ok else "differs"
        else:
            k, diff, ok, status = math.nan, math.nan, pd.NA, "no-total"
        records.append((*key, s, k, diff, ok, status))
    out = pd.DataFrame.from_records(
        records, columns=[*keys, "summed_eur", "kiel_eur", "diff_eur", "agrees", "status"])
    out["agrees"] = out["agrees"].astype("boolean")
    return out
