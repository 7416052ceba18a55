"""Section 4, the founding article: every statement of it as its own sourced fact."""

from __future__ import annotations

import pandas as pd

from ..cite import source_label
from ..data import Dataset
from ..display import Table
from ..analysis import cutoff
from ..fmt import fmt_date, fmt_money, quoted

__all__ = ["article_claims", "ARTICLE_SOURCE"]

#: The founding article's source id in sources.csv.
ARTICLE_SOURCE = "article"


def article_claims(ds: Dataset, *, caption: str = "The founding article, fact by fact") -> Table:
    """Every fact of the founding article, in the article's order."""
    c = ds.claims[ds.claims["source_id"] == ARTICLE_SOURCE].sort_values("_line")
    names = ds.actors.set_index("actor_id")["name"]
    val = [("" if pd.isna(r.value) else (fmt_money(r.value, r.unit) if len(str(r.unit)) == 3 and str(r.unit).isupper()
                                          else f"{r.value:,.0f} {r.unit}")) for r in c.itertuples()]
    out = pd.DataFrame({"#": range(1, len(c) + 1), "Topic": c["topic"].str.replace("_", " "),
                        "Actor": c["actor_id"].map(names).fillna("–"), "Fact as reported": c["statement"],
                        "Quote": c["quote"].map(quoted), "Figure": val})
    if ARTICLE_SOURCE not in set(ds.sources["source_id"]):
        out = pd.DataFrame({"Note": [f"The founding article had not been published by {fmt_date(cutoff(ds))}."]})
        return Table(out, caption=caption, source_note="Source: this brief's data package.")
    return Table(out, caption=f"{caption} ({len(out)} facts)",
                 source_note=f"Source: {source_label(ds, ARTICLE_SOURCE)} [{ARTICLE_SOURCE}]; a copy ships with "
                             "this brief's data, and it carries no date of its own (see Sources).")
