"""Section 6, methods and sources: coverage, Kiel's method, rates, build info, references."""

from __future__ import annotations

import platform
import re

import pandas as pd

from .. import __version__
from .. import analysis as an
from ..cite import kiel_source, source_note
from ..data import Dataset
from ..display import Markdown, References, Table, bullets, strong
from ..fmt import date_column, fmt_date, fmt_money
from ..hashing import hash_directory
from ..sourcing import sourcing_mix, tier_label
from ..totals import check_totals

__all__ = ["definitions", "table_coverage", "table_sourcing", "kiel_method_note", "table_fx", "build_info", "references"]


#: A code identifier in parentheses, e.g. "(coalition_members)": how the code names a rule,
#: which readers do not need; removed where definitions are printed.
_CODE_NAME = re.compile(r"\s*\((?:[a-z]+_[a-z_]+|[a-z_]+\(\))\)")


def definitions(ds: Dataset) -> Markdown:
    """The definitions behind every count in the brief, as the code applies them."""
    return bullets([[strong(label), ": " + _reader_text(text)] for label, text in an.definitions(ds)])


def _reader_text(text: str) -> str:
    """A definition without the code's own names: identifiers in parentheses dropped, the
    curation notes named in words rather than by file, the dossier called research notes."""
    text = _CODE_NAME.sub("", text)
    text = re.sub(r"\bthe rules in data/[\w./-]+", "the coding rules that ship with the data", text)
    text = re.sub(r"\bdata/[\w./-]+", "the notes that ship with the data", text)
    return text.replace("research dossier", "research notes")


#: Reader names of the data tables (the coverage table); others get their name in words.
TABLE_LABELS = {
    "sources": "Sources", "actors": "States and organisations", "meetings": "Coalition meetings",
    "attendance": "Attendance at meetings", "contributions": "Roles and offers", "positions": "Dated positions",
    "events": "Timeline events", "claims": "Reported facts and figures", "aid_announcements": "Aid announcements",
    "aid_activities": "Kiel aid activities", "aid_totals": "Kiel donor totals", "fx_rates": "Exchange rates",
    "outlook": "Analyst outlook", "judgements": "Key judgements and scenarios",
}


def _table_label(name: str) -> str:
    return TABLE_LABELS.get(name, name.replace("_", " ").capitalize())


def table_coverage(ds: Dataset, *, caption: str = "Data coverage after the as-of cut-off") -> Table:
    """Rows and date coverage per data table."""
    c = ds.coverage()
    out = pd.DataFrame({"Records": c["table"].map(_table_label), "Rows": c["rows"],
                        "First date": c["first_date"].astype(str).replace("None", "–"),
                        "Last date": c["last_date"].astype(str).replace("None", "–"),
                        "Undated rows": c["undated_rows"], "Distinct sources": c["sources"]})
    return Table(out, caption=caption, source_note="Source: this brief's data package.")


def table_sourcing(ds: Dataset, *, caption: str = "Sourcing mix: the sources this brief cites, by tier") -> Table:
    """How many cited sources are of each tier, and how many cited rows rest only on weak ones."""
    mix = sourcing_mix(ds)
    t = mix["tiers"]
    total = int(t["sources"].sum()) if len(t) else 0
    out = pd.DataFrame({"Tier": [x[0].upper() + x[1:] for x in t.get("label", [])],
                        "Sources cited": t.get("sources", []),
                        "Share": [f"{100 * v / total:.0f}%" for v in t.get("sources", [])]})
    note = (f"Source: this brief's Sources, each with its tier. Of the {mix['rows']:,} records shown that cite a source (meetings, attendance, roles, positions, "
            f"events, reported facts, aid announcements), {mix['weak_only']:,} "
            f"({100 * mix['weak_share']:.1f}%) rest only on weak sources: copies, state media or aggregators. "
            "Official documents and wire services or outlets of record come first; a copy is cited only where "
            "the original cannot be had, and names it.")
    return Table(out, caption=caption, source_note=note)


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
        eu = an.eu_institutions_check(ds)
        if abs(eu["kiel_total"] - eu["commission_council"] - eu["eib"]) <= 1e-6 * max(eu["kiel_total"], 1):
            bad = bad[bad["donor_id"] != an.EU_DONOR]  # the gap is the EIB, inside Kiel's total (Definitions)
        for r in bad.itertuples():
            lines.append(f"Kiel's activity rows and donor totals differ for {names.get(r.donor_id, r.donor_id)}: "
                         f"{fmt_money(r.summed_eur, 'EUR')} summed vs {fmt_money(r.kiel_eur, 'EUR')} in the totals; "
                         "this brief shows Kiel's totals.")
        nt = chk[(chk["status"] == "no-total") & ~chk["donor_id"].isin(an.EU_BODIES)]  # EU bodies: Definitions
        if len(nt):
            lines.append("No donor totals in Kiel's summary for " + ", ".join(names.get(d, d) for d in nt["donor_id"])
                         + "; they appear only in activity-based charts.")
    if ds.kiel_reconstructed:
        kiel = kiel_source(ds)
        lines.append(f"Reconstructed as of {fmt_date(an.cutoff(ds))}: the aid figures come from {kiel} "
                     f"(the release in this data, known from {fmt_date(ds.kiel_known)}; coverage to "
                     f"{fmt_date(ds.kiel_cutoff)}), using only its activity rows dated on or before the as-of "
                     "date. Rows without a single date cannot be placed in time and are left out; Kiel's per-donor "
                     "totals and commitments are not used. Every chart and total in this brief follows this rule.")
    return bullets(lines)


def table_fx(ds: Dataset, currency: str = "EUR", *, caption: str = "Exchange rates used") -> Table:
    """The reference rates this brief converts with (published by the as-of date)."""
    f = an.rates_used(ds, currency)
    if f.empty:
        return Table(pd.DataFrame({"Note": ["No conversion: every amount is in EUR"]}), caption=caption,
                     source_note="Source: this brief's data package.")
    out = pd.DataFrame({"Currency": f["currency"], "Per EUR": f["per_eur"].map(lambda v: f"{v:g}"),
                        "From": date_column(f["period_start"]), "To": date_column(f["period_end"]),
                        "Rate": f["rate_type"].map(rate_label), "Source": f["source_id"]})
    return Table(out, caption=caption, source_note=source_note(ds, f["source_id"].unique()))


def rate_label(rate_type: str) -> str:
    """A rate's kind for readers: the lead of its description ("annual average 2025: arithmetic mean
    of ... computed ... rounded ...") -> "Annual average 2025 of the ECB's daily reference rates"."""
    text = str(rate_type or "").strip()
    lead = text.split(":", 1)[0].strip()
    if not lead:
        return "–"
    ecb = " of the ECB's daily reference rates" if "ECB" in text and "ECB" not in lead else ""
    return lead[0].upper() + lead[1:] + ecb


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
    from ..data import source_dates

    s = ds.sources[ds.sources["source_id"].isin(an.cited_source_ids(ds, actor_id))].sort_values("source_id")
    rows = [{k: ("" if pd.isna(v) else str(v)) for k, v in r.items()}
            for r in s[["source_id", "publisher", "title", "url", "local_path", "published"]].to_dict("records")]
    known = source_dates(s)
    day = pd.Timestamp(an.cutoff(ds))
    names = ds.actors.set_index("actor_id")["name"].to_dict()
    full = s.set_index("source_id")
    for r in rows:
        notes = []
        src = full.loc[r["source_id"]].to_dict()
        label = tier_label(src, names)
        if label:
            orig = str(src.get("original_url") or "").strip() if pd.notna(src.get("original_url")) else ""
            notes.append(f"Tier: {label}" + (f" (original: {orig})" if label.startswith("copy") and orig else ""))
        if pd.notna(known.get(r["source_id"])) and known[r["source_id"]] > day:
            # a series compiled later (Kiel release, ECB rates file): only its earlier values are used
            notes.append(f"A compilation published after {fmt_date(an.cutoff(ds))}: only the values it dates "
                         "on or before that day are used")
        if notes:
            r["note"] = ". ".join(notes)
    return References(rows, f"Sources cited ({len(rows)}); ids in brackets are the ones used in source notes and tables")
