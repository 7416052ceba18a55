"""Snapshots: what a report showed, stored beside its manifest so the next build can say what changed.

A snapshot is a small JSON document made from the report's (as-of cut) dataset with the public
analysis functions: coalition members and every state's current role (:func:`~coalition_report.
analysis.coalition_members`, :func:`~coalition_report.analysis.current_roles`), meetings and who was
named at them, aid per donor, type and measure (:func:`~coalition_report.analysis.aid_by_donor` and
the Kiel activity rows behind it), curated announcements, the newest stances
(:func:`~coalition_report.analysis.positions_matrix`) and every position row, events, the headline
figures (:func:`~coalition_report.analysis.headline_figures`) and the sources the report cites
(:func:`~coalition_report.cite.used_sources`), each record with a hash of its content so that a
corrected record shows as corrected.

* Money is kept in whole euros whatever the display currency, so a GBP brief compares with an
  EUR one; the display currency is recorded beside it.
* A country profile's snapshot holds only that state's records (``scope`` = its ISO3 code); only
  snapshots of the same report and scope are compared.
* :func:`dumps` writes sorted keys, no timestamps and no paths: the same data and parameters give
  byte-identical snapshots.

The kernel computes the snapshot (``brief.changes`` displays it in a private mimetype,
:data:`MIME_SNAPSHOT`, that the exports drop); the build writes it beside the manifest as
``<report>.snapshot.json`` when, and only when, the build succeeds. This module imports pandas and
the analysis code lazily, so the build side can read snapshots cheaply.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import date, datetime
from pathlib import Path
from typing import Any, Mapping

from .errors import ParameterError
from .totals import AID_TYPES

__all__ = ["SCHEMA", "KIND", "MIME_SNAPSHOT", "SUFFIX", "make_snapshot", "dumps", "load_snapshot",
           "resolve_snapshot", "check_snapshot", "diff_snapshots", "has_changes", "snapshot_of_notebook", "describe",
           "HEADLINE_LABELS", "PARTS"]

SCHEMA = 1
#: Marks a JSON document as a snapshot (a manifest is recognised by its ``outputs``).
KIND = "coalition-report snapshot"
#: The private mimetype the notebook displays the snapshot in (never exported).
MIME_SNAPSHOT = "application/vnd.coalition.snapshot+json"
#: File name suffix: ``coalition-brief.snapshot.json``, ``country-GBR.snapshot.json``.
SUFFIX = ".snapshot.json"

#: Columns that say where a row was read, not what it states: left out of content hashes.
_NOT_CONTENT = {"_line", "kiel_sheet", "kiel_row"}
MEASURES = ("allocation", "commitment")

#: Headline figures in the order the section lists them, with their labels and kinds.
HEADLINE_LABELS: dict[str, tuple[str, str]] = {
    # brief
    "members": ("States in the coalition", "count"),
    "force_offering": ("Members offering forces", "count"),
    "declined": ("Members that ruled out troops", "count"),
    "meetings": ("Coalition meetings", "count"),
    "leaders_meetings": ("Leaders' meetings", "count"),
    "last_meeting": ("Latest meeting", "text"),
    "alloc_coalition": ("Allocated by coalition members", "money"),
    "alloc_eu": ("Allocated by EU institutions", "money"),
    "alloc_us": ("Allocated by the United States", "money"),
    "alloc_other": ("Allocated by other donors", "money"),
    "alloc_total": ("Allocated by all donors", "money"),
    # country profile
    "member": ("Coalition member", "text"),
    "role": ("Role", "text"),
    "meetings_present": ("Coalition meetings named present at", "count"),
    "allocation_total": ("Aid allocated", "money"),
    "commitment_total": ("Aid committed", "money"),
    "donor_rank": ("Rank among donors by allocations", "count"),
}


# ============================================================================================
# Plain values and hashes
# ============================================================================================
def _plain(v: Any) -> Any:
    """A JSON scalar for ``v``: dates as ISO days, missing values as None, numpy as Python."""
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, (datetime, date)):  # pandas Timestamps are datetimes
        try:
            return v.strftime("%Y-%m-%d")
        except ValueError:  # NaT
            return None
    if isinstance(v, (int, float, str)):
        if isinstance(v, float) and math.isnan(v):
            return None
        return v
    try:  # numpy scalars, pandas NA
        import pandas as pd

        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(v, "item"):
        return _plain(v.item())
    return str(v)


def _euros(v: Any) -> int | None:
    v = _plain(v)
    return None if v is None else int(round(float(v)))


def _hash(record: Mapping[str, Any]) -> str:
    blob = json.dumps({k: _plain(v) for k, v in record.items() if k not in _NOT_CONTENT},
                      sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def _records(df) -> list[dict[str, Any]]:
    return df.to_dict("records")


def _pick(r: Mapping[str, Any], *cols: str) -> dict[str, Any]:
    return {c: _plain(r.get(c)) for c in cols}


# ============================================================================================
# Making a snapshot
# ============================================================================================
def make_snapshot(ds, currency: str = "EUR", *, country: str | None = None) -> dict[str, Any]:
    """The snapshot of a report built from ``ds`` (already cut to its as-of date).

    Parameters
    ----------
    ds : Dataset
        The report's dataset (``brief.setup`` returns it cut to the as-of date).
    currency : str
        The report's display currency (recorded; amounts are kept in euros).
    country : str, optional
        ISO3 code for a country profile: only that state's records are kept.
    """
    from . import analysis as an
    from .cite import kiel_source, used_sources

    members = an.coalition_members(ds)
    roles = an.current_roles(ds)
    states = set(ds.actors.loc[ds.actors["actor_type"] == "state", "actor_id"])
    snap: dict[str, Any] = {
        "kind": KIND, "schema": SCHEMA,
        "report": "country_profile" if country else "coalition_brief",
        "scope": country,
        "as_of": _plain(an.cutoff(ds)),
        "currency": currency,
        "aid_basis": {"kiel_source": kiel_source(ds),
                      "kiel_reconstructed": bool(ds.kiel_reconstructed)},
    }
    snap["members"] = {
        r["actor_id"]: {**_pick(r, "name", "role", "role_label", "as_reported", "date", "source_id")}
        for r in _records(members)}
    snap["roles"] = {
        r["actor_id"]: _pick(r, "name", "role", "role_label", "as_reported", "conditions", "date", "source_id")
        for r in _records(roles) if r["actor_id"] in states}

    att = ds.attendance
    if country:  # a profile keeps its own attendance only (_scope)
        att = att[att["actor_id"] == country]
    meetings: dict[str, Any] = {}
    for r in _records(ds.meetings):
        rows = att[att["meeting_id"] == r["meeting_id"]]
        meetings[r["meeting_id"]] = {
            **_pick(r, "date", "place", "level", "format", "source_id"), "h": _hash(r),
            "attendance": {a["actor_id"]: _pick(a, "status", "source_id") for a in _records(rows)}}
    snap["meetings"] = meetings

    donors = an.aid_by_donor(ds, "EUR")
    snap["aid"] = {
        r["donor_id"]: {"name": _plain(r["name"]), "rank": int(r["rank"]), "basis": _plain(r["basis"]),
                        **{f"{m}_{t}": _euros(r[f"{m}_{t}"]) for m in MEASURES for t in (*AID_TYPES, "total")}}
        for r in _records(donors)}
    activity: dict[str, Any] = {}
    acts, totals = ds.aid_activities, ds.aid_totals
    if country:  # a profile keeps its own rows only (_scope): the other donors' groups are not made
        acts, totals = acts[acts["donor_id"] == country], totals[totals["donor_id"] == country]
    if len(acts):
        grouped = acts.groupby(["donor_id", "measure", "aid_type"])
        for (donor, measure, typ), g in grouped:
            activity[f"{donor}|{measure}|{typ}"] = {
                "rows": int(len(g)), "eur": _euros(g["value_eur"].sum()),
                "sources": sorted(set(g["source_id"].dropna().unique()))}
    for (donor, measure, typ), g in (totals.groupby(["donor_id", "measure", "aid_type"]) if len(totals) else []):
        key = f"{donor}|{measure}|{typ}"
        entry = activity.setdefault(key, {"rows": 0, "eur": 0, "sources": []})
        entry["sources"] = sorted(set(entry["sources"]) | set(g["source_id"].dropna().unique()))
    snap["aid_rows"] = activity
    snap["announcements"] = {
        r["announcement_id"]: {**_pick(r, "donor_id", "date", "aid_type", "amount", "currency", "qualifier",
                                       "description", "same_as", "source_id"), "h": _hash(r)}
        for r in _records(ds.aid_announcements)}

    stances = an.positions_matrix(ds)
    snap["stances"] = {
        f"{r['actor_id']}|{r['topic']}": _pick(r, "actor_id", "actor", "topic", "topic_label", "stance", "date",
                                               "position_id", "source_id")
        for r in _records(stances)}
    snap["positions"] = {
        r["position_id"]: {**_pick(r, "actor_id", "topic", "stance", "date", "source_id"), "h": _hash(r)}
        for r in _records(ds.positions)}
    snap["events"] = {
        r["event_id"]: {**_pick(r, "date", "kind", "title", "actor_id", "source_id"), "h": _hash(r)}
        for r in _records(ds.events)}
    names = ds.actors.set_index("actor_id")["name"]
    snap["names"] = {}  # filled below with the actors the snapshot mentions

    cited = used_sources(ds, country)
    s = ds.sources[ds.sources["source_id"].isin(cited)]
    snap["sources"] = {r["source_id"]: {**_pick(r, "publisher", "title", "published"), "h": _hash(r)}
                       for r in _records(s)}

    if country:
        _scope(snap, country)
        present = [m for m in snap["meetings"].values()
                   if m["attendance"].get(country, {}).get("status") in ("attended", "observer")]
        mine = snap["aid"].get(country)
        role = snap["roles"].get(country)
        snap["headline"] = {
            "member": "yes" if country in snap["members"] else "no",
            "role": role["role_label"] if role else None,
            "meetings_present": len(present),
            "allocation_total": mine["allocation_total"] if mine else None,
            "commitment_total": mine["commitment_total"] if mine else None,
            "donor_rank": mine["rank"] if mine else None,
        }
    else:
        h = an.headline_figures(ds, "EUR")
        last = (f"{_plain(h['last_meeting_date'])}, {h['last_meeting_place']}"
                if h["last_meeting_date"] else None)
        snap["headline"] = {
            **{k: int(h[k]) for k in ("members", "force_offering", "declined", "meetings", "leaders_meetings")},
            "last_meeting": last,
            **{k: _euros(h[k]) for k in ("alloc_coalition", "alloc_eu", "alloc_us", "alloc_other", "alloc_total")},
        }
    mentioned = (set(snap["members"]) | set(snap["roles"]) | set(snap["aid"])
                 | {a["donor_id"] for a in snap["announcements"].values()}
                 | {p["actor_id"] for p in snap["positions"].values()}
                 | {e["actor_id"] for e in snap["events"].values() if e["actor_id"]}
                 | {a for m in snap["meetings"].values() for a in m["attendance"]})
    snap["names"] = {a: _plain(names.get(a, a)) for a in sorted(mentioned) if a}
    return snap


def _scope(snap: dict[str, Any], country: str) -> None:
    """Keep only the records about ``country`` (a country profile's snapshot)."""
    snap["members"] = {k: v for k, v in snap["members"].items() if k == country}
    snap["roles"] = {k: v for k, v in snap["roles"].items() if k == country}
    snap["meetings"] = {k: {**v, "attendance": {country: v["attendance"][country]}}
                        for k, v in snap["meetings"].items() if country in v["attendance"]}
    snap["aid"] = {k: v for k, v in snap["aid"].items() if k == country}
    snap["aid_rows"] = {k: v for k, v in snap["aid_rows"].items() if k.split("|", 1)[0] == country}
    snap["announcements"] = {k: v for k, v in snap["announcements"].items() if v["donor_id"] == country}
    snap["stances"] = {k: v for k, v in snap["stances"].items() if v["actor_id"] == country}
    snap["positions"] = {k: v for k, v in snap["positions"].items() if v["actor_id"] == country}
    snap["events"] = {k: v for k, v in snap["events"].items() if v["actor_id"] == country}


def dumps(snap: Mapping[str, Any]) -> str:
    """Canonical JSON text: sorted keys, compact, one trailing newline."""
    return json.dumps(snap, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n"


# ============================================================================================
# Reading a previous snapshot
# ============================================================================================
def _error(path: Any, reason: str) -> ParameterError:
    shown = str(path)
    if len(repr(shown)) > 80:  # the parameter's value is shortened in the message: name the file in full
        reason = f"{reason} (file {shown})"
    return ParameterError("compare_to", shown, reason)


def _read_json(path: Path) -> Any:
    """The JSON document at ``path``, read with size and depth limits (see :mod:`..boundedjson`)."""
    from .boundedjson import JSONLimitError, read_bounded

    try:
        return read_bounded(path)
    except FileNotFoundError:
        raise _error(path, "no such file") from None
    except JSONLimitError as exc:
        raise _error(path, exc.reason) from None
    except OSError as exc:
        raise _error(path, f"not a readable JSON file ({exc.strerror or type(exc).__name__})") from None


# -- the schema a snapshot is checked against before anything runs -------------------------
_TEXT, _INT, _NUM = "text", "whole number", "number"
#: Per part: the fields every record has (those :func:`make_snapshot` writes) and their kinds.
_RECORDS: dict[str, dict[str, str]] = {
    "members": dict.fromkeys(("name", "role", "role_label", "as_reported", "date", "source_id"), _TEXT),
    "roles": dict.fromkeys(("name", "role", "role_label", "as_reported", "conditions", "date", "source_id"),
                           _TEXT),
    "meetings": {**dict.fromkeys(("date", "place", "level", "format", "source_id", "h"), _TEXT),
                 "attendance": "attendance"},
    "aid": {"name": _TEXT, "rank": _INT, "basis": _TEXT,
            **{f"{m}_{t}": _INT for m in MEASURES for t in (*AID_TYPES, "total")}},
    "aid_rows": {"rows": _INT, "eur": _INT, "sources": "ids"},
    "announcements": {**dict.fromkeys(("donor_id", "date", "aid_type", "currency", "qualifier", "description",
                                       "same_as", "source_id", "h"), _TEXT), "amount": _NUM},
    "stances": dict.fromkeys(("actor_id", "actor", "topic", "topic_label", "stance", "date", "position_id",
                              "source_id"), _TEXT),
    "positions": dict.fromkeys(("actor_id", "topic", "stance", "date", "source_id", "h"), _TEXT),
    "events": dict.fromkeys(("date", "kind", "title", "actor_id", "source_id", "h"), _TEXT),
    "sources": dict.fromkeys(("publisher", "title", "published", "h"), _TEXT),
}
_HEAD_KINDS = {"count": _INT, "money": _INT, "text": _TEXT}


def _kind_ok(value: Any, kind: str) -> bool:
    """``value`` is of ``kind`` or None (a missing value); numbers finite, booleans not numbers."""
    if value is None:
        return True
    if kind == _TEXT:
        return isinstance(value, str)
    if kind == _INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == _NUM:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return False


def check_snapshot(doc: Mapping[str, Any], path: Any) -> None:
    """Refuse a snapshot that breaks the schema :func:`make_snapshot` writes, naming the first
    place and the rule (:class:`ParameterError`), so that "what changed" never fails in a cell."""
    def bad(where: str, rule: str) -> ParameterError:
        return _error(path, f"{where}: {rule}")

    if doc.get("report") not in (None, "coalition_brief", "country_profile"):
        raise bad("report", "must be 'coalition_brief' or 'country_profile'")  # absent: not comparable
    for key in ("scope", "as_of", "currency"):
        if not _kind_ok(doc.get(key), _TEXT):
            raise bad(key, "must be text or null")
    basis = doc.get("aid_basis", {})
    if not isinstance(basis, dict) or not isinstance(basis.get("kiel_reconstructed", False), bool) \
            or not _kind_ok(basis.get("kiel_source"), _TEXT):
        raise bad("aid_basis", "must be an object with kiel_source (text) and kiel_reconstructed (true/false)")
    for part, fields in _RECORDS.items():
        records = doc.get(part, {})
        if not isinstance(records, dict):
            raise bad(part, "must be an object of records")
        for rid, rec in records.items():
            if not isinstance(rec, dict):
                raise bad(f"{part}.{rid}", "must be an object")
            for name, kind in fields.items():
                where = f"{part}.{rid}.{name}"
                if name not in rec:
                    raise bad(where, "missing")
                value = rec[name]
                if kind == "ids":
                    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                        raise bad(where, "must be a list of source ids (text)")
                elif kind == "attendance":
                    if not isinstance(value, dict) or not all(
                            isinstance(v, dict) and _kind_ok(v.get("status"), _TEXT)
                            and _kind_ok(v.get("source_id"), _TEXT) for v in value.values()):
                        raise bad(where, "must map states to {status, source_id} (text)")
                elif not _kind_ok(value, kind):
                    raise bad(where, f"must be {'a finite ' if kind != _TEXT else ''}{kind} or null, "
                                     f"not {type(value).__name__} {str(value)[:40]!r}")
    head = doc.get("headline", {})
    if not isinstance(head, dict):
        raise bad("headline", "must be an object")
    for key, (_, kind) in HEADLINE_LABELS.items():
        if not _kind_ok(head.get(key), _HEAD_KINDS[kind]):
            raise bad(f"headline.{key}", f"must be a {_HEAD_KINDS[kind]} or null")
    names = doc.get("names", {})
    if not isinstance(names, dict) or not all(_kind_ok(v, _TEXT) for v in names.values()):
        raise bad("names", "must map ids to names (text)")


def resolve_snapshot(path: str | Path) -> Path:
    """The snapshot file ``path`` means: itself, or the one a build manifest names.

    Raises :class:`ParameterError` (parameter ``compare_to``) when it is neither.
    """
    p = Path(path).expanduser()
    doc = _read_json(p)
    if isinstance(doc, dict) and doc.get("kind") == KIND:
        return p.resolve()
    if isinstance(doc, dict) and "outputs" in doc and "notebook" in doc:
        named = doc.get("snapshot")
        if not isinstance(named, dict) or not isinstance(named.get("file"), str):
            raise _error(p, "this build manifest names no snapshot (built before snapshots existed, or by a "
                            "notebook without a 'what changed' section)")
        target = (p.parent / Path(named["file"]).name).resolve()  # beside the manifest, never elsewhere
        if not target.is_file():
            raise _error(p, f"the snapshot this manifest names, {target.name}, is missing beside it")
        return target
    raise _error(p, "neither a coalition-report snapshot nor a build manifest")


def load_snapshot(path: str | Path | None) -> dict[str, Any] | None:
    """The snapshot at ``path`` (a snapshot file or a build manifest naming one); None for ""/None."""
    if path is None or str(path) == "":
        return None
    target = resolve_snapshot(path)
    doc = _read_json(target)
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise _error(target, "not a coalition-report snapshot")
    if doc.get("schema") != SCHEMA:
        raise _error(target, f"snapshot format {doc.get('schema')!r}, this version reads {SCHEMA}")
    check_snapshot(doc, target)
    return doc


def snapshot_of_notebook(nb: Any) -> dict[str, Any] | None:
    """The snapshot an executed notebook displayed (the last one), or None."""
    found = None
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if MIME_SNAPSHOT in data:
                found = data[MIME_SNAPSHOT]
    return json.loads(json.dumps(found)) if found is not None else None  # plain dicts, not NotebookNodes


def describe(snap: Mapping[str, Any]) -> str:
    """``'the coalition brief'`` / ``'the country profile of GBR'``."""
    if snap.get("report") == "country_profile":
        return f"the country profile of {snap.get('scope')}"
    return "the coalition brief"


# ============================================================================================
# Comparing two snapshots
# ============================================================================================
def _keyed(old: Mapping, new: Mapping) -> tuple[list, list, list]:
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    both = sorted(set(old) & set(new))
    return added, removed, both


def _changed_rows(old: Mapping, new: Mapping) -> dict[str, list[str]]:
    added, removed, both = _keyed(old, new)
    return {"new": added, "removed": removed, "corrected": [k for k in both if old[k].get("h") != new[k].get("h")]}


def _ids(*values: Any) -> list[str]:
    out: list[str] = []
    for v in values:
        for i in ([v] if isinstance(v, str) or v is None else v):
            if isinstance(i, str) and i and i not in out:
                out.append(i)
    return out


def diff_snapshots(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """What changed from ``old`` to ``new``: structured items per part of the report.

    Returns a dict with ``comparable`` (False when the snapshots are of different reports or
    scopes), ``notes`` (different as-of date, currency or aid basis) and, per part, a list of
    items; each item is a dict with a ``change`` kind, the values involved and ``sources``
    (source ids, newest first-hand evidence first). Amounts are whole euros.
    """
    out: dict[str, Any] = {"comparable": True, "notes": {}, "old": {k: old.get(k) for k in
                                                                      ("report", "scope", "as_of", "currency")}}
    if (old.get("report"), old.get("scope")) != (new.get("report"), new.get("scope")):
        out["comparable"] = False
        return out
    for k in ("as_of", "currency"):
        if old.get(k) != new.get(k):
            out["notes"][k] = (old.get(k), new.get(k))
    ob, nb = old.get("aid_basis") or {}, new.get("aid_basis") or {}
    if ob.get("kiel_reconstructed") != nb.get("kiel_reconstructed"):
        out["notes"]["aid_basis"] = (ob.get("kiel_reconstructed"), nb.get("kiel_reconstructed"))
    names = {**(old.get("names") or {}), **(new.get("names") or {})}

    # headline figures
    head = []
    oh, nh = old.get("headline") or {}, new.get("headline") or {}
    for key in HEADLINE_LABELS:
        if key in nh or key in oh:
            if oh.get(key) != nh.get(key):
                head.append({"change": "figure", "key": key, "old": oh.get(key), "new": nh.get(key)})
    out["headline"] = head

    # membership: joined, left, changed role
    members = []
    om, nm = old.get("members") or {}, new.get("members") or {}
    orl, nrl = old.get("roles") or {}, new.get("roles") or {}
    added, removed, both = _keyed(om, nm)
    for a in added:
        members.append({"change": "joined", "actor_id": a, "name": names.get(a, a), "role": nm[a]["role_label"],
                        "date": nm[a]["date"], "sources": _ids(nm[a]["source_id"])})
    for a in removed:
        now = nrl.get(a) or {}
        members.append({"change": "left", "actor_id": a, "name": names.get(a, a), "role": now.get("role_label"),
                        "old_role": om[a]["role_label"], "date": now.get("date"),
                        "sources": _ids(now.get("source_id"), om[a].get("source_id"))})
    for a in sorted(set(orl) | set(nrl)):
        if a in added or a in removed:
            continue
        o, n = orl.get(a), nrl.get(a)
        if n is None or (o is not None and o.get("role") == n.get("role")):
            continue
        members.append({"change": "role", "actor_id": a, "name": names.get(a, a), "member": a in nm,
                        "old_role": o.get("role_label") if o else None, "role": n["role_label"],
                        "as_reported": n.get("as_reported"), "date": n.get("date"),
                        "sources": _ids(n.get("source_id"))})
    out["members"] = members

    # meetings: new, corrected, removed; states newly named at a meeting
    meetings = []
    omt, nmt = old.get("meetings") or {}, new.get("meetings") or {}
    rows = _changed_rows(omt, nmt)
    for k in rows["new"]:
        m = nmt[k]
        present = sorted(a for a, v in m["attendance"].items() if v["status"] in ("attended", "observer"))
        meetings.append({"change": "new", "meeting_id": k, **_pick(m, "date", "place", "level"),
                         "present": present,
                         "sources": _ids(m["source_id"], *(v["source_id"] for v in m["attendance"].values()))})
    for k in rows["corrected"]:
        meetings.append({"change": "corrected", "meeting_id": k, **_pick(nmt[k], "date", "place", "level"),
                         "sources": _ids(nmt[k]["source_id"])})
    for k in rows["removed"]:
        meetings.append({"change": "removed", "meeting_id": k, **_pick(omt[k], "date", "place", "level"),
                         "sources": _ids(omt[k]["source_id"])})
    for k in sorted(set(omt) & set(nmt)):
        oa, na = omt[k]["attendance"], nmt[k]["attendance"]
        moved = {a: v for a, v in na.items() if (oa.get(a) or {}).get("status") != v["status"]}
        gone = [a for a in oa if a not in na]
        if moved or gone:
            meetings.append({"change": "attendance", "meeting_id": k, **_pick(nmt[k], "date", "place", "level"),
                             "statuses": {a: [(oa.get(a) or {}).get("status"), v["status"]]
                                          for a, v in sorted(moved.items())},
                             "dropped": sorted(gone),
                             "sources": _ids(*(v["source_id"] for _, v in sorted(moved.items())))})
    out["meetings"] = meetings

    # aid: per donor, measure and type (Kiel), then curated announcements
    aid = []
    oa, na = old.get("aid") or {}, new.get("aid") or {}
    orows, nrows = old.get("aid_rows") or {}, new.get("aid_rows") or {}
    for donor in sorted(set(oa) | set(na)):
        for measure in MEASURES:
            for typ in AID_TYPES:
                col = f"{measure}_{typ}"
                ov, nv = (oa.get(donor) or {}).get(col), (na.get(donor) or {}).get(col)
                key = f"{donor}|{measure}|{typ}"
                orow, nrow = orows.get(key) or {}, nrows.get(key) or {}
                d_rows = nrow.get("rows", 0) - orow.get("rows", 0)
                d_eur = (nrow.get("eur") or 0) - (orow.get("eur") or 0)
                if (ov or 0) == (nv or 0) and not d_rows and not d_eur:
                    continue  # a donor new to the data shows only the types it gave
                fresh = [s for s in nrow.get("sources", []) if s not in orow.get("sources", [])]
                aid.append({"change": "figure", "donor_id": donor, "name": names.get(donor, donor),
                            "measure": measure, "aid_type": typ, "old": ov, "new": nv,
                            "rows_added": d_rows, "rows_eur": d_eur,
                            "donor_old": (oa.get(donor) or {}).get(f"{measure}_total"),
                            "donor_new": (na.get(donor) or {}).get(f"{measure}_total"),
                            "sources": _ids(fresh or nrow.get("sources") or orow.get("sources"))})
    oan, nan_ = old.get("announcements") or {}, new.get("announcements") or {}
    rows = _changed_rows(oan, nan_)
    for change in ("new", "corrected", "removed"):
        for k in rows[change]:
            r = (oan if change == "removed" else nan_)[k]
            if r.get("same_as"):
                change_kind = f"{change}_source"  # restates another announcement: an extra source
            else:
                change_kind = change
            aid.append({"change": f"announcement_{change_kind}", "announcement_id": k,
                        "name": names.get(r["donor_id"], r["donor_id"]),
                        **_pick(r, "donor_id", "date", "aid_type", "amount", "currency", "qualifier", "description",
                                "same_as"),
                        "sources": _ids(r["source_id"])})
    out["aid"] = aid

    # positions: stances that moved, new or corrected statements
    positions = []
    ost, nst = old.get("stances") or {}, new.get("stances") or {}
    for k in sorted(set(ost) | set(nst)):
        o, n = ost.get(k), nst.get(k)
        if n and (o is None or o["stance"] != n["stance"]):
            positions.append({"change": "moved" if o else "new_stance", **_pick(n, "actor_id", "actor", "topic",
                                                                              "topic_label", "stance", "date"),
                              "old_stance": o["stance"] if o else None, "old_date": o["date"] if o else None,
                              "sources": _ids(n["source_id"])})
        elif o and not n:
            positions.append({"change": "no_stance", **_pick(o, "actor_id", "actor", "topic", "topic_label"),
                              "old_stance": o["stance"], "sources": _ids(o["source_id"])})
    shown = {(p["actor_id"], p["topic"]) for p in positions}
    op, np_ = old.get("positions") or {}, new.get("positions") or {}
    rows = _changed_rows(op, np_)
    for change in ("new", "corrected", "removed"):
        for k in rows[change]:
            r = (op if change == "removed" else np_)[k]
            newest = (nst.get(f"{r['actor_id']}|{r['topic']}") or {}).get("position_id") == k
            if change == "new" and newest and (r["actor_id"], r["topic"]) in shown:
                continue  # already listed as the stance that moved
            positions.append({"change": f"statement_{change}", "position_id": k,
                              "actor": names.get(r["actor_id"], r["actor_id"]),
                              **_pick(r, "actor_id", "topic", "stance", "date"),
                              "topic_label": (nst.get(f"{r['actor_id']}|{r['topic']}") or
                                              ost.get(f"{r['actor_id']}|{r['topic']}") or {}).get("topic_label")
                              or r["topic"],
                              "sources": _ids(r["source_id"])})
    out["positions"] = positions

    # events
    events = []
    oe, ne = old.get("events") or {}, new.get("events") or {}
    rows = _changed_rows(oe, ne)
    for change in ("new", "corrected", "removed"):
        for k in rows[change]:
            r = (oe if change == "removed" else ne)[k]
            events.append({"change": change, "event_id": k, **_pick(r, "date", "kind", "title", "actor_id"),
                           "sources": _ids(r["source_id"])})
    out["events"] = sorted(events, key=lambda e: (e["change"] != "new", e["date"] or "", e["event_id"]))

    # sources
    sources = []
    os_, ns = old.get("sources") or {}, new.get("sources") or {}
    rows = _changed_rows(os_, ns)
    for change in ("new", "corrected", "removed"):
        for k in rows[change]:
            r = (os_ if change == "removed" else ns)[k]
            sources.append({"change": change, "source_id": k, **_pick(r, "publisher", "title", "published"),
                            "sources": [k]})
    out["sources"] = sources
    return out


#: The parts of a comparison, in the order the section lists them.
PARTS = ("headline", "members", "meetings", "aid", "positions", "events", "sources")


def has_changes(diff: Mapping[str, Any]) -> bool:
    """True when a comparable diff lists at least one item."""
    return bool(diff.get("comparable")) and any(diff.get(p) for p in PARTS)
