"""Curation rules: the quality of the sources a row rests on, and coding that matches its text.

Run by :func:`coalition_report.validate.parse_package` after the table rules; each rule is
written out in ``data/CURATION.md`` ("Source tiers" and "Coding checked by validation"). The
sourcing mix these rules guard is computed by :func:`source_quality` (also used by
``scripts/source_quality.py`` and the shipped-data tests), so the numbers and the rules read the
same columns in the same way.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from .errors import Problem
from .validate_rules import Rules
from .validate_spec import ParsedTable, known_country

__all__ = ["TIERS", "WEAK_TIERS", "STRONG_TIERS", "CITED_TABLES", "OWN_POSITION_TABLES", "FORCE_ROLES",
           "ROLE_STANCE_WINDOW_DAYS", "NO_TROOPS", "SourceQuality", "source_quality", "row_sources",
           "check_sources", "stance_keyword_problem", "NO_ORIGINAL"]

#: Every tier a source may have (``sources.tier``), strongest first.
TIERS = ("official", "record", "press", "copy", "state_media", "aggregator")
#: A row resting only on these rests on weak sources.
WEAK_TIERS = frozenset({"copy", "state_media", "aggregator"})
STRONG_TIERS = frozenset(TIERS) - WEAK_TIERS
#: The curated tables whose rows are "cited rows" (the Kiel tables, actors and rates are datasets).
CITED_TABLES = ("positions", "contributions", "attendance", "meetings", "events", "claims", "aid_announcements")
#: Tables holding a state's own position or offer: such a row needs a source outside WEAK_TIERS.
OWN_POSITION_TABLES = ("positions", "contributions")
#: Roles that offer forces for the coalition's force (``contributions.role``).
FORCE_ROLES = frozenset({"lead_nation", "ground_forces", "air_maritime"})
#: A role and a stance of the same actor are compared when they are at most this far apart.
ROLE_STANCE_WINDOW_DAYS = 183
#: Wording that says the actor sends no troops of its own (summary or quote of a position).
NO_TROOPS = re.compile(
    r"\b(?:will not|won't|would not|wouldn't|does not foresee|not a single|no|rules? out|ruled out|"
    r"indisponibilit\w*|unavailab\w*)\b[^.;]{0,60}?\b(?:troops?|soldiers?|forces|deploy\w*|part of a deterrent)"
    r"|\bnone for the coalition",
    re.IGNORECASE)
#: Wording that offers something to guarantees (security_guarantees ``support`` needs one).
_OFFER = re.compile(r"\b(?:offer\w*|contribut\w*|provid\w*|commit\w*|pledg\w*|ready to|will play|"
                    r"take part|deploy\w*|send\w*|lead\w*|backs? a\b|backs an?\b)", re.IGNORECASE)
#: Wording of a ceasefire or truce (a ceasefire ``support`` needs one).
_CEASEFIRE = re.compile(r"\b(?:cease-?fire|truce|halt|end (?:to )?hostilities|guns fall silent)", re.IGNORECASE)

_OWNER_MEDIA = ("state_media", "copy")


@dataclass
class SourceQuality:
    """The sourcing mix of the cited rows (see :func:`source_quality`)."""

    rows: int = 0
    weak_only: int = 0
    #: rows resting only on a belligerent's state media (or copies of it) about another actor
    state_media_other: list[tuple[str, int, str, str]] = field(default_factory=list)
    #: (table, line, actor, source ids) of each weak-only row
    weak_rows: list[tuple[str, int, str, str]] = field(default_factory=list)
    #: tier -> number of sources in sources.csv / number of distinct cited sources
    tiers_all: Counter = field(default_factory=Counter)
    tiers_cited: Counter = field(default_factory=Counter)
    #: tier -> cited rows whose strongest source has that tier
    rows_by_best_tier: Counter = field(default_factory=Counter)
    #: (table, line, actor, source ids) of a state's own position or offer resting only on copies
    #: whose original cannot be had (accepted by rule own-position-weak, reported as a warning)
    own_position_accepted: list[tuple[str, int, str, str]] = field(default_factory=list)

    @property
    def weak_share(self) -> float:
        return self.weak_only / self.rows if self.rows else 0.0


def row_sources(row: dict[str, Any]) -> list[str]:
    """The source ids a row rests on: ``source_id`` plus any ``other_source_ids`` (``;``-separated)."""
    ids = [row.get("source_id") or ""]
    ids += [s.strip() for s in (row.get("other_source_ids") or "").split(";")]
    return [s for s in dict.fromkeys(ids) if s]


#: The phrase a copy's ``note`` carries when its original cannot be had (rule copy-original).
NO_ORIGINAL = "original cannot be had"


def _no_original(src: dict[str, Any]) -> bool:
    return src.get("tier") == "copy" and NO_ORIGINAL in (src.get("note") or "").lower()


def _own_voice(src: dict[str, Any], actor: str) -> bool:
    """State media (or a copy of it) owned by the very state the row is about: rule (a) allows it."""
    return src.get("tier") in _OWNER_MEDIA and bool(actor) and src.get("owner_state") == actor


def _actor(table: str, row: dict[str, Any]) -> str:
    return (row.get("donor_id") if table == "aid_announcements" else row.get("actor_id")) or ""


def source_quality(tables: dict[str, ParsedTable]) -> SourceQuality:
    """Tier mix of ``sources.csv`` and of the cited rows; weak-only rows; state media about others."""
    q = SourceQuality()
    # only tables whose header the spec accepted (a hostile descriptor may drop any column; the
    # spec check reports that)
    tables = {n: t for n, t in tables.items() if t.shape_ok}
    src = {r.get("source_id"): r for r in tables["sources"].rows} if "sources" in tables else {}
    rank = {t: i for i, t in enumerate(TIERS)}
    q.tiers_all.update(r.get("tier") or "(none)" for r in src.values())
    cited: set[str] = set()
    for name in CITED_TABLES:
        t = tables.get(name)
        if t is None:
            continue
        for row, line in zip(t.rows, t.lines):
            ids = [s for s in row_sources(row) if s in src]
            if not ids:
                continue
            cited.update(ids)
            q.rows += 1
            tiers = [src[s].get("tier") or "" for s in ids]
            q.rows_by_best_tier[min(tiers, key=lambda x: rank.get(x, 99)) or "(none)"] += 1
            actor = _actor(name, row)
            if all(x in WEAK_TIERS for x in tiers):
                q.weak_only += 1
                q.weak_rows.append((t.path, line, actor, ";".join(ids)))
                owners = {src[s].get("owner_state") or "" for s in ids}
                if all(src[s].get("owner_state") and src[s].get("tier") in _OWNER_MEDIA for s in ids) \
                        and actor not in owners:
                    q.state_media_other.append((t.path, line, actor, ";".join(ids)))
    q.tiers_cited.update(src[s].get("tier") or "(none)" for s in cited)
    # a hostile descriptor may drop any column: the spec check reports that; read with .get here
    actors = {r.get("actor_id"): r for r in tables["actors"].rows} if "actors" in tables else {}
    for name in OWN_POSITION_TABLES:
        t = tables.get(name)
        for row, line in zip(t.rows, t.lines) if t is not None else ():
            ids = [s for s in row_sources(row) if s in src]
            a = actors.get(row.get("actor_id"))
            if ids and a is not None and a.get("actor_type") == "state" \
                    and all(src[s].get("tier") in WEAK_TIERS and not _own_voice(src[s], row.get("actor_id")) for s in ids) \
                    and all(_no_original(src[s]) for s in ids):
                q.own_position_accepted.append((t.path, line, row.get("actor_id"), ";".join(ids)))
    return q


def stance_keyword_problem(row: dict[str, Any]) -> str | None:
    """The stance the written rules give this position's wording, where a keyword decides it.

    Returns a message when the row's ``stance`` contradicts the keyword rules of CURATION.md
    ("Coding checked by validation"), else ``None``.
    """
    text = " ".join(x for x in (row.get("summary"), row.get("quote")) if x)
    topic, stance = row.get("topic"), row.get("stance")
    if topic == "coalition_force" and stance in ("support", "conditional") and NO_TROOPS.search(text) \
            and not re.search(r"\b(?:naval|maritime|air|command|ships?|assets?)\b", text, re.IGNORECASE):
        return ("the summary says the actor sends no troops and names no asset or command it offers: "
                "the rules code that neutral (or oppose, if it rejects the force)")
    if topic == "ceasefire" and stance == "support" and not _CEASEFIRE.search(text):
        return ("the summary names no ceasefire, truce or end of hostilities: a statement about talks or a "
                "settlement only is neutral")
    if topic == "security_guarantees" and stance == "support" and not _OFFER.search(text):
        return ("support on guarantees needs an offer or commitment in the summary (offers, contributes, "
                "provides, commits, is ready to ...); without one the rules code it neutral")
    return None


def check_sources(tables: dict[str, ParsedTable], problems: list[Problem]) -> None:
    """Add a problem for each curation rule a row breaks (see CURATION.md)."""
    rules = Rules(tables, problems)
    if not rules.usable("sources") or "tier" not in tables["sources"].header:
        return
    add = rules.add
    src = {r["source_id"]: r for _, r, _ in rules.each("sources")}
    cited = {s for name in (*CITED_TABLES, "outlook") for _, r, _ in rules.each(name) for s in row_sources(r)}
    for path, r, ln in rules.each("sources"):
        tier, note = r.get("tier") or "", r.get("note") or ""
        if not tier and r["source_id"] in cited:
            add(path, ln, "tier", None, "tier-required",
                f"source {r['source_id']} is cited by a curated row and needs a tier ({', '.join(TIERS)})")
        if tier == "copy":
            if not r.get("original_publisher"):
                add(path, ln, "original_publisher", None, "copy-original",
                    "a copy must name its original publisher (original_publisher)")
            if not r.get("original_url") and NO_ORIGINAL not in note.lower():
                add(path, ln, "original_url", None, "copy-original",
                    "a copy must give its original's URL (original_url), or its note must say "
                    "'original cannot be had' and why")
        elif r.get("original_publisher") or r.get("original_url"):
            col = "original_publisher" if r.get("original_publisher") else "original_url"
            add(path, ln, col, r.get(col), "copy-original", f"only a copy has an original (tier is {tier or 'empty'})")
        owner = r.get("owner_state") or ""
        if tier == "state_media" and not owner:
            add(path, ln, "owner_state", None, "state-media-owner",
                "state media must name the state that owns it (owner_state, ISO 3166-1 alpha-3)")
        if owner and (tier not in _OWNER_MEDIA or not re.fullmatch(r"[A-Z]{3}", owner) or not known_country(owner)):
            add(path, ln, "owner_state", owner, "state-media-owner",
                "owner_state is an ISO 3166-1 alpha-3 code, set only for state media or a copy of state media")
    if not src:
        return
    q = source_quality(tables)
    for path, line, actor, ids in q.state_media_other:
        owners = sorted({src[s].get("owner_state") for s in ids.split(";") if s in src})
        add(path, line, "source_id", ids, "state-media-only",
            f"rests only on state media of {'/'.join(owners)}, which may support only rows about that state's "
            f"own positions; this row is about {actor or 'no single actor'}: cite an official, record or press source")
    actors = {r["actor_id"]: r for _, r, _ in rules.each("actors")}
    for name in OWN_POSITION_TABLES:
        for path, r, ln in rules.each(name):
            ids = [s for s in row_sources(r) if s in src]
            a = actors.get(r["actor_id"])
            if ids and a is not None and a.get("actor_type") == "state" \
                    and all(src[s].get("tier") in WEAK_TIERS and not _own_voice(src[s], r["actor_id"]) for s in ids) \
                    and not all(_no_original(src[s]) for s in ids):
                add(path, ln, "source_id", ";".join(ids), "own-position-weak",
                    f"{r['actor_id']}'s own position or offer rests only on weak sources "
                    f"({', '.join(src[s].get('tier') for s in ids)}): it needs an official, record or press source "
                    f"(or, if the reference material holds none, a copy whose note says '{NO_ORIGINAL}')")
    _check_coding(rules)


def _check_coding(rules: Rules) -> None:
    """A forces role beside a no-troops stance; a stance its own wording codes differently."""
    positions = [(p, r, ln) for p, r, ln in rules.each("positions")]
    for path, r, ln in positions:
        msg = stance_keyword_problem(r)
        if msg:
            rules.add(path, ln, "stance", r["stance"], "stance-wording", msg)
    by_actor: dict[str, list[tuple[date, dict[str, Any], int]]] = {}
    for _, r, ln in positions:
        if r["topic"] == "coalition_force":
            by_actor.setdefault(r["actor_id"], []).append((r["date"], r, ln))
    pos_path = rules.tables["positions"].path if "positions" in rules.tables else "positions.csv"
    for path, r, ln in rules.each("contributions"):
        if r["role"] not in FORCE_ROLES:
            continue
        near = [(abs((d - r["date"]).days), -d.toordinal(), p, pl) for d, p, pl in by_actor.get(r["actor_id"], [])
                if abs((d - r["date"]).days) <= ROLE_STANCE_WINDOW_DAYS]
        if not near:
            continue
        _, _, p, pl = min(near, key=lambda x: (x[0], x[1]))
        text = " ".join(x for x in (p.get("summary"), p.get("quote")) if x)
        if p["stance"] in ("neutral", "oppose") and NO_TROOPS.search(text):
            rules.add(path, ln, "role", r["role"], "role-vs-stance",
                      f"role {r['role']} offers forces, but the nearest coalition_force stance of {r['actor_id']} "
                      f"({pos_path}:{pl}, {p['date']}, {p['stance']}) says it sends none")
