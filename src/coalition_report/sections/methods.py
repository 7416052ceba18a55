"""Section 6, methods and sources: coverage, Kiel's method, rates, build info, references."""

from __future__ import annotations

import platform

import pandas as pd

from .. import __version__
from ..cite import source_note, used_sources
from ..data import Dataset
from ..display import Markdown, References, Table, bullets
from ..fmt import date_column, fmt_money
from ..kiel import check_totals
from ..render import hash_directory

__all__ = ["table_coverage", "kiel_method_note", "table_fx", "build_info", "references"]


def table_coverage(ds: Dataset, *, caption: str = "Data coverage after the as-of cut-off") -> Table:
    """Rows and date coverage per data table."""
    c = ds.coverage()
    out = pd.DataFrame({"Table": c["table"], "Rows": c["rows"],
                        "First date": c["first_date"].astype(str).replace("None", "–"),
                        "Last date": c["last_date"].astype(str).replace("None", "–"),
                        "Undated rows": c["undated_rows"], "Distinct sources": c["sources"]})
    return Table(out, caption=caption, source_note="Source: the project's data package (datapackage.json).")


def kiel_method_note(ds: Dataset) -> Markdown:
    """Kiel's method in brief, and where Kiel's own tables disagree (computed, not typed)."""
    lines = [
        "Kiel counts government-to-government aid only; in-kind aid is valued at market prices.",
        "Since February 2024 Kiel's headline measure is allocations (aid delivered or earmarked), shown "
        "beside commitments (pledges, including multi-year ones).",
        "Sub-activity values are summed; the whole-activity value repeats across sub-activities and is never summed.",
        "Kiel records some downward revisions as negative sub-activities; they are kept, flagged as corrections.",
    ]
    if len(ds.aid_totals):
        chk = check_totals(ds.aid_activities, ds.aid_totals)
        bad = chk[chk["status"] == "differs"]
        names = ds.actors.set_index("actor_id")["name"]
        for r in bad.itertuples():
            lines.append(f"Kiel's activity rows and donor totals differ for {names.get(r.donor_id, r.donor_id)}: "
                         f"{fmt_money(r.summed_eur, 'EUR')} summed vs {fmt_money(r.kiel_eur, 'EUR')} in the totals; "
                         "this brief shows Kiel's totals.")
        nt = chk[chk["status"] == "no-total"]
        if len(nt):
            lines.append("No donor totals in Kiel's summary for " + ", ".join(names.get(d, d) for d in nt["donor_id"])
                         + "; they appear only in activity-based charts.")
    else:
        lines.append(f"The as-of date is before the end of Kiel's coverage ({ds.kiel_cutoff}): allocations are "
                     "summed from dated activity rows and commitments are not shown.")
    return bullets(lines)


def table_fx(ds: Dataset, *, caption: str = "Exchange rates used") -> Table:
    """The reference rates recorded for conversions."""
    f = ds.fx_rates.sort_values(["currency", "period_start"])
    out = pd.DataFrame({"Currency": f["currency"], "Per EUR": f["per_eur"].map(lambda v: f"{v:g}"),
                        "From": date_column(f["period_start"]), "To": date_column(f["period_end"]),
                        "Type": f["rate_type"], "Source": f["source_id"]})
    return Table(out, caption=caption, source_note=source_note(ds, f["source_id"].unique()))


def build_info(ds: Dataset) -> Markdown:
    """Package and library versions and the data hash (no wall-clock time: builds are reproducible)."""
    import altair
    import vl_convert
    lines = [f"coalition-report {__version__}; Python {platform.python_version()}; pandas {pd.__version__}; "
             f"Altair {altair.__version__}; vl-convert {vl_convert.__version__}.",
             f"Data package sha256 {hash_directory(ds.data_dir)[:16]}…; as-of date {ds.as_of}; undated records: {ds.undated}.",
             "Full parameters, timings and output hashes are in manifest.json beside this report."]
    return bullets(lines)


def references(ds: Dataset, actor_id: str | None = None) -> References:
    """Every source the data cites (or the rows about ``actor_id`` cite), in id order."""
    s = ds.sources[ds.sources["source_id"].isin(used_sources(ds, actor_id))].sort_values("source_id")
    rows = [{k: ("" if pd.isna(v) else str(v)) for k, v in r.items()}
            for r in s[["source_id", "publisher", "title", "url", "local_path", "published"]].to_dict("records")]
    return References(rows, f"Sources cited ({len(rows)}); ids in brackets are the ones used in source notes and tables")
