"""The brief as it could have been written on its as-of date, built at four dates.

What must not appear is derived here from the raw CSV files (not from the code under test): every
record dated after D, every source published after D, every ISO date after D; the counts the brief
prints must agree with each other; each top donor's figures must be readable in the PDF text.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from datetime import date, timedelta

import pytest
from bs4 import BeautifulSoup

from conftest import ROOT, pdf_pages

pytestmark = pytest.mark.slow

DATA = ROOT / "data"
DATES = ["2025-03-20", "2025-06-30", "2025-12-31", ""]  # "" = the default (newest knowledge)
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]


def _rows(name: str) -> list[dict]:
    with open(DATA / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _known(src: dict) -> date | None:
    """The rule of the README: exact published day, else known_from, else end of the partial
    published period (or accessed when earlier), else accessed."""
    pub = (src.get("published") or "").strip()
    acc = (src.get("accessed") or "").strip()
    if len(pub) == 10:
        return date.fromisoformat(pub)
    if (src.get("known_from") or "").strip():
        return date.fromisoformat(src["known_from"].strip())
    if len(pub) == 7:
        y, m = map(int, pub.split("-"))
        end = (date(y + m // 12, m % 12 + 1, 1) - timedelta(days=1))
    elif len(pub) == 4:
        end = date(int(pub), 12, 31)
    else:
        end = None
    if acc and (end is None or date.fromisoformat(acc) < end):
        return date.fromisoformat(acc)
    return end


SOURCES = {s["source_id"]: s for s in _rows("sources.csv")}
KNOWN = {sid: _known(s) for sid, s in SOURCES.items()}


def _default_date() -> date:
    """Newest record date or date a cited source became known (fx excluded), up to today."""
    cited = set()
    days = []
    for name in ("meetings", "contributions", "positions", "events", "claims", "aid_announcements",
                 "attendance", "actors", "aid_activities", "aid_totals"):
        for r in _rows(f"{name}.csv"):
            for col in ("source_id", "gdp_source_id", "membership_source_id", "nato_source_id"):
                if r.get(col):
                    cited.add(r[col])
            if r.get("date") and name != "aid_activities":
                days.append(date.fromisoformat(r["date"]))
    days += [d for d in (KNOWN.get(s) for s in cited) if d]
    days += [date.fromisoformat(r["date"]) for r in _rows("aid_activities.csv") if r["date"]]
    return max(d for d in days if d <= date.today())


def _day(as_of: str) -> date:
    return date.fromisoformat(as_of) if as_of else _default_date()


@pytest.fixture(scope="module", params=DATES, ids=lambda d: d or "default")
def built(request, build_brief):
    result = build_brief(request.param)
    html = result.outputs["html"].read_text(encoding="utf-8")
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style"]):
        tag.decompose()
    pdf = pdf_pages(result.outputs["pdf"])
    return {"day": _day(request.param), "html": html, "soup": soup,
            "text": re.sub(r"\s+", " ", soup.get_text(" ")), "pdf": re.sub(r"\s+", " ", " ".join(pdf))}


#: Series whose values carry their own dates (cut by them, not by the series' file date): the
#: Kiel release (the brief says it is a later release, reconstructed) and the ECB rates.
SERIES = {r["source_id"] for r in _rows("aid_activities.csv")} | {r["source_id"] for r in _rows("fx_rates.csv")}


def _later_sources(day: date) -> set[str]:
    return {sid for sid, k in KNOWN.items() if (k is None or k > day) and sid not in SERIES}


def _cited(sid: str, text: str) -> bool:
    if re.search(r"[\d-]", sid):  # ids such as ref-167 are cited bare in Source columns
        return bool(re.search(rf"(?<![\w-]){re.escape(sid)}(?![\w-])", text))
    return f"[{sid}]" in text  # word-like ids (article) only in brackets


def test_no_source_published_later_is_cited_or_listed(built):
    later = _later_sources(built["day"])
    for text in (built["text"], built["pdf"]):
        found = sorted(sid for sid in later if _cited(sid, text))
        assert found == [], f"sources published after {built['day']}: {found}"


def test_no_iso_date_after_the_as_of_date(built):
    """Except a series' own file date in its reference entry, which then says only earlier values
    are used."""
    day = built["day"].isoformat()
    series_dates = {d for sid in SERIES for f in ("title", "published")
                    for d in re.findall(r"20\d\d-\d\d-\d\d", SOURCES[sid][f] or "")}
    for text in (built["text"], built["pdf"]):
        later = sorted({d for d in re.findall(r"\b(20\d\d-\d\d-\d\d)\b", text) if d > day} - series_dates)
        assert later == [], later
    for sid in SERIES:
        entry = built["soup"].find(id=f"src-{sid}")
        if entry is not None and KNOWN[sid] > built["day"]:
            assert "only the values it dates on or before that day are used" in entry.get_text(" ")


def test_long_dates_after_the_as_of_date_only_name_the_kiel_release(built):
    """Long-form dates later than D may only be the Kiel release's own date and coverage end,
    in the sentences that say the aid figures are reconstructed from a later release."""
    kiel = {r["source_id"] for r in _rows("aid_activities.csv")}
    allowed = {KNOWN[k] for k in kiel} | {max(date.fromisoformat(r["date"]) for r in _rows("aid_activities.csv")
                                            if r["date"])}
    for text in (built["text"], built["pdf"]):
        for d, m, y in re.findall(r"\b(\d{1,2}) (" + "|".join(MONTHS) + r") (20\d\d)\b", text):
            when = date(int(y), MONTHS.index(m) + 1, int(d))
            if when > built["day"]:
                assert when in allowed, f"{d} {m} {y} after {built['day']}"


def test_no_record_dated_later_appears(built):
    day = built["day"]
    later = []
    for name, fields in (("positions", ("quote",)), ("events", ("title", "description")),
                         ("meetings", ("outcome",)), ("claims", ("statement",)),
                         ("aid_announcements", ("description",))):
        rows = _rows(f"{name}.csv")
        kept_text = " ".join(r[f] for r in rows for f in fields
                             if r.get("date") and date.fromisoformat(r["date"]) <= day)
        for r in rows:
            if r.get("date") and date.fromisoformat(r["date"]) > day:
                for f in fields:
                    t = (r.get(f) or "").strip()
                    if len(t) >= 30 and t not in kept_text:  # distinctive text only
                        later.append(t)
    for t in later:
        assert t not in built["text"], t


def test_member_role_and_stance_counts_agree(built):
    soup, text = built["soup"], built["text"]
    [summary_n] = re.findall(r"(\d+) states are in the coalition as of", text)
    [table_n] = re.findall(r"Coalition members by role \((\d+) states\)", text)
    kf = soup.select(".key-figures .kf")[0]
    assert kf.select_one(".kf-label").get_text() == "states in the coalition"
    map_fig = next(f for f in soup.select("figure.chart") if f["aria-label"].startswith("Map of Europe"))
    [map_n] = re.findall(r"colouring (\d+) coalition members", map_fig["aria-label"])
    assert summary_n == table_n == kf.select_one(".kf-value").get_text() == map_n
    # roles: the members table's force roles == "N offer(s) forces" in the summary == key figure
    table = next(t for t in soup.select("figure.table") if "Coalition members by role" in t.get_text())
    roles = [tr.select("td")[1].get_text() for tr in table.select("tbody tr")]
    force = sum(r in ("Lead nation (forces)", "Ground forces offered", "Air or maritime assets") for r in roles)
    # the summary and the front end's bottom line ("... and 15 offer forces") state one number
    [summary_force] = set(re.findall(r"(\d+) offers? forces", text))
    assert int(summary_force) == force == int(soup.select(".key-figures .kf .kf-value")[1].get_text())
    # stances: the summary's counts == the stance matrix's cells for the force topic
    m = re.search(r"On the reassurance force, the newest stances of the (\d+) actors tracked are: (.*?)\.", text)
    assert m
    said = {s: int(n) for s, n in re.findall(r"(support|conditional|neutral|oppose) (\d+)", m.group(2))}
    pos_fig = next(f for f in soup.select("figure.chart") if re.match(r"Matrix of \d+ actors by", f["aria-label"]))  # not the force-pledge matrix
    spec = json.loads(BeautifulSoup(built["html"], "html.parser").find(
        "script", id=f"{pos_fig['id']}-spec").string)
    cells = [v for d in spec.get("datasets", {}).values() for v in d if v.get("topic") == "coalition_force"]
    counted = defaultdict(int)
    for c in cells:
        counted[c["stance"]] += 1
    assert said == dict(counted) and int(m.group(1)) == len(cells)


def _top_donors(day: date, n: int = 15) -> dict[str, float]:
    """Top-n total allocations in EUR bn from the raw files, by the documented rule."""
    kiel = {r["source_id"] for r in _rows("aid_activities.csv")}
    released = all(KNOWN[k] and KNOWN[k] <= day for k in kiel)
    # the EU's three donors (Commission and Council, EIB, EPF) are one donor, "EU institutions"
    names = {a["actor_id"]: a["name"] for a in _rows("actors.csv")} | {"eu-institutions": "EU institutions"}
    eu = {"eib": "eu-institutions", "epf": "eu-institutions"}
    tot = defaultdict(float)
    if released:
        for r in _rows("aid_totals.csv"):
            if r["measure"] == "allocation":
                tot[eu.get(r["donor_id"], r["donor_id"])] += float(r["value_eur"])
    else:
        for r in _rows("aid_activities.csv"):
            if r["measure"] == "allocation" and r["date"] and date.fromisoformat(r["date"]) <= day:
                tot[eu.get(r["donor_id"], r["donor_id"])] += float(r["value_eur"])
    top = sorted(tot.items(), key=lambda kv: (-kv[1], names[kv[0]]))[:n]
    return {names[d]: v / 1e9 for d, v in top}


def test_each_top_donors_allocation_is_readable_in_the_pdf(built):
    for name, bn in _top_donors(built["day"]).items():
        assert re.search(rf"{re.escape(name)} [\d.,\s]*{bn:,.2f}", built["pdf"]), (name, f"{bn:,.2f}")


def test_rates_listed_are_published_by_the_date(built):
    soup = built["soup"]
    table = next(t for t in soup.select("figure.table") if "Exchange rates used" in t.get_text())
    for tr in table.select("tbody tr"):
        cells = [td.get_text() for td in tr.select("td")]
        if len(cells) >= 4:
            assert cells[3] <= built["day"].isoformat(), cells
