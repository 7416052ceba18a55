"""Rules a Table Schema cannot express: keys, cross-field consistency, FX coverage, plausibility.

Split from :mod:`coalition_report.validate`; :func:`coalition_report.validate.parse_package` runs
:func:`check_keys` and :class:`Rules` after every table is parsed. The curation rules (source
tiers, coding against text) are in :mod:`coalition_report.validate_sources`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from .errors import Problem
from .validate_spec import (DISPLAY_CURRENCIES, NEEDS_ROWS, PLAUSIBLE, ParsedTable, known_country,
                            known_currency)

def _keys(rows: list[dict], cols) -> list[tuple]:
    """Each row's key as a tuple of its ``cols`` (one column: a comprehension without a loop per cell)."""
    if len(cols) == 1:
        c = cols[0]
        return [(r[c],) for r in rows]
    return [tuple(r[c] for c in cols) for r in rows]


def check_keys(specs: dict[str, dict[str, Any]], tables: dict[str, ParsedTable], problems: list[Problem]) -> None:
    index: dict[tuple[str, tuple[str, ...]], set[tuple]] = {}

    def key_set(resource: str, cols: tuple[str, ...]) -> set[tuple]:
        if (resource, cols) not in index:
            index[(resource, cols)] = set(_keys(tables[resource].rows, cols))
        return index[(resource, cols)]

    for name, spec in specs.items():
        t = tables.get(name)
        if t is None:
            continue
        pk = spec["primaryKey"]
        if pk and all(c in t.header for c in pk):
            first: dict[tuple, int] = {}
            col_text = ",".join(pk)
            keys = _keys(t.rows, pk)
            for key, row, line in zip(keys, t.rows, t.lines):
                if None in key:
                    continue
                seen = first.setdefault(key, line)
                if seen != line:
                    row["__invalid__"] = True  # not counted again by the rules (sums, coverage)
                    problems.append(Problem(t.path, line, col_text, ",".join(map(str, key)),
                                            "primary-key", f"duplicate key; first used on line {seen}"))
        for cols, target, rcols in spec["foreignKeys"]:
            tt = tables.get(target)
            # a column missing on either side, or a target that could not be read or whose schema is
            # not usable, is reported once already: no per-row follow-on problems
            if tt is None or not tt.complete or not all(c in t.header for c in cols) \
                    or not all(c in tt.header for c in rcols) or (target != name and not tt.shape_ok) \
                    or tt.bad_columns.intersection(rcols) or not tt.records:  # empty: reported as no-rows
                continue
            known = key_set(target, rcols)
            col_text, what = ",".join(cols), f"no such {'/'.join(rcols)} in {target}"
            for key, line in zip(_keys(t.rows, cols), t.lines):
                if None in key or key in known:
                    continue
                problems.append(Problem(t.path, line, col_text, ",".join(map(str, key)), "foreign-key", what))


class Rules:
    """Rules a Table Schema cannot express, plus what the build needs and plausibility limits."""

    def __init__(self, tables: dict[str, ParsedTable], problems: list[Problem]):
        self.tables, self.problems = tables, problems
        self.fx: dict[str, list[tuple[date, date, float]]] = {}
        self._valid: dict[str, list] = {}  # each(): the valid rows, listed once per table

    def usable(self, *names: str) -> bool:
        return all(n in self.tables and self.tables[n].shape_ok for n in names)

    def complete(self, name: str) -> bool:
        """Usable, read to its end, not empty, every row valid: rules over the whole table may run."""
        t = self.tables.get(name)
        return self.usable(name) and t.complete and bool(t.rows) and t.records == len(t.rows) \
            and not any(r.get("__invalid__") for r in t.rows)

    def each(self, name: str):
        """Valid rows of a usable table, with their file and line."""
        if not self.usable(name):
            return []
        if name not in self._valid:  # the rules ask for a table many times
            t = self.tables[name]
            self._valid[name] = [(t.path, r, ln) for r, ln in zip(t.rows, t.lines) if not r.get("__invalid__")]
        return self._valid[name]

    def add(self, path, line, col, value, rule, msg):
        self.problems.append(Problem(path, line, col, None if value is None else _fmt_value(value), rule, msg))

    def rate(self, currency: str, day: date) -> float | None:
        if currency == "EUR":
            return 1.0
        for start, end, per_eur in self.fx.get(currency, ()):
            if start <= day <= end:
                return per_eur
        return None

    def fx_periods(self, currency: str) -> str:
        spans = [f"{s}..{e}" for s, e, _ in self.fx.get(currency, ())]
        return "recorded periods: " + ", ".join(spans) if spans else "no rate recorded for it"

    # -- rules ---------------------------------------------------------------------------------

    def run(self) -> None:
        self.rows_needed()
        self.consistency()
        # coverage only from a rate table that is whole and plausible (else its own problem says why)
        if self.complete("fx_rates") and all(0 < r["per_eur"] <= PLAUSIBLE["max_per_eur"]
                                             for r in self.tables["fx_rates"].rows):
            for _, r, _ in self.each("fx_rates"):
                if r["per_eur"] > 0:
                    self.fx.setdefault(r["currency"], []).append((r["period_start"], r["period_end"], r["per_eur"]))
            for items in self.fx.values():
                items.sort()
            self.fx_coverage()
        self.plausibility()

    def rows_needed(self) -> None:
        for name, why in NEEDS_ROWS.items():
            t = self.tables.get(name)
            if t is not None and t.complete and t.header and not t.records:
                self.add(t.path, None, None, None, "no-rows",
                         f"{t.path} has a header but no rows; the brief cannot be built without it ({why})")
        acts = self.tables.get("aid_activities")
        if self.complete("aid_activities") and acts.rows and not any(
                r["date"] is not None and r["measure"] == "allocation" for r in acts.rows):
            self.add(acts.path, None, "date", None, "no-rows",
                     "no dated allocation row: the monthly aid chart needs at least one")

    def consistency(self) -> None:
        add = self.add
        for name in ("meetings", "events"):
            for path, r, ln in self.each(name):
                if r.get("end_date") and r["end_date"] < r["date"]:
                    add(path, ln, "end_date", r["end_date"], "date-order", "end_date is before date")
        for path, r, ln in self.each("fx_rates"):
            if r["period_end"] < r["period_start"]:
                add(path, ln, "period_end", r["period_end"], "date-order", "period_end is before period_start")
        for path, r, ln in self.each("actors"):
            if r["actor_type"] == "state":
                if r["iso3"] != r["actor_id"]:
                    add(path, ln, "iso3", r["iso3"], "state-iso3", "a state's iso3 must equal its actor_id")
                if not known_country(r["actor_id"]):
                    add(path, ln, "actor_id", r["actor_id"], "iso-country",
                        "a state's actor_id must be an ISO 3166-1 alpha-3 code")
            elif r["iso3"]:
                add(path, ln, "iso3", r["iso3"], "state-iso3", "organisations have no iso3")
            if (r["gdp_usd"] is not None or r["population"] is not None) and not r["gdp_source_id"]:
                add(path, ln, "gdp_source_id", None, "sourced", "GDP/population need gdp_source_id")
            if (r["eu_member"] is not None or r.get("europe") is not None) and not r["membership_source_id"]:
                add(path, ln, "membership_source_id", None, "sourced", "eu_member/europe need membership_source_id")
            if r["nato_member"] is not None and not r.get("nato_source_id"):
                add(path, ln, "nato_source_id", None, "sourced", "nato_member needs nato_source_id")
            if r["gdp_usd"] is not None and r["gdp_year"] is None:
                add(path, ln, "gdp_year", None, "gdp-year", "gdp_usd needs gdp_year (the year the GDP is for)")
            if r["population"] is not None and r["population_year"] is None:
                add(path, ln, "population_year", None, "gdp-year", "population needs population_year")
        for path, r, ln in self.each("sources"):
            if r["published"] and not _partial_date_ok(r["published"]):
                add(path, ln, "published", r["published"], "plausible-date",
                    "published must be a calendar date YYYY, YYYY-MM or YYYY-MM-DD from 1900 to 2030")
        sources = self.tables.get("sources")
        if self.usable("sources") and sources.complete and sources.records and "source_id" not in sources.bad_columns:
            known = {r["source_id"] for r in sources.rows}
            for path, r, ln in self.each("outlook"):
                for sid in (r["other_source_ids"] or "").split(";"):
                    if sid and sid not in known:
                        add(path, ln, "other_source_ids", sid, "foreign-key", "no such source_id in sources")
        for path, r, ln in self.each("aid_activities"):
            if (r["date"] is None) != bool(r["undated"]):
                add(path, ln, "undated", r["undated"], "undated-flag",
                    "undated must be true exactly when date is empty")
            for col in ("value_eur", "value_eur_redistributed", "activity_value_eur"):
                if r[col] is not None and r[col] < 0 and not r["correction"]:
                    add(path, ln, col, r[col], "negative-amount",
                        "amounts must be >= 0; only a row flagged correction=true may be negative")
        for path, r, ln in self.each("aid_announcements"):
            if r["amount"] is not None and not r["currency"]:
                add(path, ln, "currency", None, "currency-required", "an amount needs its currency")
        for path, r, ln in self.each("claims"):
            if r["value"] is not None and not r["unit"]:
                add(path, ln, "unit", None, "unit-required", "a value needs its unit")
            if r["unit"] and _is_currency_like(r["unit"]) and not known_currency(r["unit"]):
                add(path, ln, "unit", r["unit"], "iso-currency", "not an ISO 4217 currency code")
        # overlapping FX periods would make a conversion ambiguous
        spans: dict[str, list[tuple]] = {}
        for path, r, ln in self.each("fx_rates"):
            spans.setdefault(r["currency"], []).append((r["period_start"], r["period_end"], ln, path))
        for cur, items in spans.items():
            items.sort()
            for (s0, e0, l0, _), (s1, e1, l1, path) in zip(items, items[1:]):
                if s1 <= e0:
                    add(path, l1, "period_start", s1, "fx-overlap",
                        f"{cur} period overlaps the one on line {l0}")

    def fx_coverage(self) -> None:
        """Every conversion the brief makes has a recorded rate (else FxError in a notebook)."""
        # announcements: converted at the rate of their own date, to every display currency
        for path, r, ln in self.each("aid_announcements"):
            if r["amount"] is None or not r["currency"]:
                continue
            # one problem per row, naming every currency without a rate for its date
            missing = [c for c in dict.fromkeys((r["currency"], *DISPLAY_CURRENCIES)) if self.rate(c, r["date"]) is None]
            if missing:
                own = r["currency"] in missing
                col, value = ("currency", r["currency"]) if own else ("date", r["date"])
                self.add(path, ln, col, value, "fx-missing",
                         f"no {' or '.join(missing)} rate in fx_rates.csv for {r['date']}: each amount is converted "
                         f"at the rate of its own date, to EUR and to each display currency "
                         f"({'; '.join(c + ': ' + self.fx_periods(c) for c in missing)})")
        # EUR sums: shown at the rate in force on the as-of date, which is on or after the first meeting
        first = min((r["date"] for _, r, _ in self.each("meetings")), default=None)
        fx = self.tables["fx_rates"]
        if first is not None:
            for cur in DISPLAY_CURRENCIES:
                if not any(s <= first for s, _, _ in self.fx.get(cur, ())):
                    self.add(fx.path, None, "currency", cur, "fx-missing",
                             f"no {cur} rate in force on or before {first} (the first meeting, the earliest "
                             f"as-of date): the brief in {cur} converts EUR sums at the rate of the as-of date")
        # share of GDP: a donor's allocations are converted to USD at the GDP year's mid-year rate
        donors = self.donor_ids()
        for path, r, ln in self.each("actors"):
            if r["gdp_usd"] is None or r["gdp_year"] is None or r["actor_id"] not in donors:
                continue
            day = date(r["gdp_year"], 7, 1) if 1 <= r["gdp_year"] <= 9999 else None
            if day is not None and self.rate("USD", day) is None:
                self.add(path, ln, "gdp_year", r["gdp_year"], "fx-missing",
                         f"no USD rate in fx_rates.csv for {day}: aid as a share of GDP converts allocations "
                         f"to USD at the GDP year's mid-year rate ({self.fx_periods('USD')})")

    def donor_ids(self) -> set[str]:
        return {r["donor_id"] for name in ("aid_totals", "aid_activities") for _, r, _ in self.each(name)}

    def plausibility(self) -> None:
        lim = PLAUSIBLE
        cap = lim["max_amount_eur"]
        flagged: set[str] = set()  # donors with an implausible row: no per-donor follow-on problem

        def ceiling(path, ln, col, value, eur, donor, what):
            if eur is not None and abs(eur) > cap:
                self.add(path, ln, col, value, "plausible-amount",
                         f"{what} of EUR {_num(eur)} is above the ceiling of EUR {_num(cap)} per row "
                         "(larger than any single aid package); check the units")
                if donor:
                    flagged.add(donor)

        for path, r, ln in self.each("aid_activities"):
            for col in ("value_eur", "value_eur_redistributed", "activity_value_eur"):
                v = r[col]
                if v is not None and abs(v) > cap:  # the common case decided here, not in a call per cell
                    ceiling(path, ln, col, v, v, r["donor_id"], "an amount")
        for path, r, ln in self.each("aid_totals"):
            if r["value_eur"] < 0:
                self.add(path, ln, "value_eur", r["value_eur"], "negative-amount", "a donor total must be >= 0")
            ceiling(path, ln, "value_eur", r["value_eur"], r["value_eur"], r["donor_id"], "a donor total")
        for path, r, ln in self.each("aid_announcements"):
            if r["amount"] is None or not r["currency"]:
                continue
            if r["amount"] < 0:
                self.add(path, ln, "amount", r["amount"], "negative-amount", "an announced amount must be >= 0")
            rate = self.rate(r["currency"], r["date"]) if self.fx else None
            if rate is not None:
                ceiling(path, ln, "amount", r["amount"], r["amount"] / rate, None,
                        f"{r['currency']} {_num(r['amount'])}, an announcement")
        for path, r, ln in self.each("claims"):
            v, unit = r["value"], r["unit"]
            if v is None or not unit:
                continue
            if v < 0:
                self.add(path, ln, "value", v, "negative-amount", "a reported figure must be >= 0")
            elif _is_currency_like(unit):
                rates = [per for _, _, per in self.fx.get(unit, ())] or ([1.0] if unit == "EUR" else [])
                if rates:  # the most lenient recorded rate: never a false alarm from the choice of period
                    ceiling(path, ln, "value", v, v / max(rates), None, f"{unit} {_num(v)}, a reported figure")
                elif v > lim["max_amount_units_no_rate"]:
                    self.add(path, ln, "value", v, "plausible-amount",
                             f"{unit} {_num(v)} is above {_num(lim['max_amount_units_no_rate'])} units "
                             "(no rate recorded to convert it); check the units")
            elif v > lim["max_count"]:
                self.add(path, ln, "value", v, "plausible-count",
                         f"{_num(v)} {unit} is above the ceiling of {lim['max_count']:,} for a count; check the units")
        for path, r, ln in self.each("fx_rates"):
            if not 0 < r["per_eur"] <= lim["max_per_eur"]:
                self.add(path, ln, "per_eur", r["per_eur"], "plausible-rate",
                         f"a rate must be above 0 and at most {lim['max_per_eur']:,.0f} units per EUR")
        for path, r, ln in self.each("actors"):
            g, p = r["gdp_usd"], r["population"]
            if g is not None and not lim["min_gdp_usd"] <= g <= lim["max_gdp_usd"]:
                self.add(path, ln, "gdp_usd", g, "plausible-gdp",
                         f"GDP must be from USD {_num(lim['min_gdp_usd'])} to USD {_num(lim['max_gdp_usd'])} "
                         "(current USD, whole units)")
                flagged.add(r["actor_id"])
            if p is not None and not 1 <= p <= lim["max_population"]:
                self.add(path, ln, "population", p, "plausible-population",
                         f"population must be from 1 to {lim['max_population']:,}")
        self.share_of_gdp(flagged)

    def share_of_gdp(self, flagged: set[str]) -> None:
        """A donor's total allocations against its GDP, as the brief's share-of-GDP chart does."""
        if not self.usable("actors"):
            return
        sums: dict[tuple[str, str], float] = {}
        biggest: dict[tuple[str, str], tuple[float, str, int, str]] = {}
        for name in ("aid_totals", "aid_activities"):
            for path, r, ln in self.each(name):
                if r["measure"] != "allocation":
                    continue
                key = (name, r["donor_id"])
                sums[key] = sums.get(key, 0.0) + r["value_eur"]
                if key not in biggest or r["value_eur"] > biggest[key][0]:
                    biggest[key] = (r["value_eur"], path, ln, r["donor_id"])
        gdp = {r["actor_id"]: (r["gdp_usd"], r["gdp_year"], ln) for _, r, ln in self.each("actors")
               if r["gdp_usd"] and r["gdp_year"]}
        limit = PLAUSIBLE["max_share_of_gdp_pct"]
        for (name, donor), total in sums.items():
            if donor in flagged or donor not in gdp:
                continue
            g, year, gline = gdp[donor]
            usd = self.rate("USD", date(year, 7, 1)) if 1 <= year <= 9999 else None
            if usd is None:
                continue  # reported by fx_coverage
            share = 100 * total * usd / g
            if share > limit:
                value, path, ln, _ = biggest[(name, donor)]
                self.add(path, ln, "value_eur", value, "share-of-gdp",
                         f"{donor}'s allocations in {name}.csv total EUR {_num(total)}, {share:,.1f}% of its {year} "
                         f"GDP (actors.csv line {gline}); the ceiling is {limit:g}%: check the units "
                         "(this is the donor's largest row)")


def _partial_date_ok(text: str) -> bool:
    """``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``, a real calendar day, 1900 to 2030."""
    try:
        day = date.fromisoformat((text + "-01-01")[:10] if len(text) < 10 else text)
    except ValueError:
        return False
    return len(text) in (4, 7, 10) and date(1900, 1, 1) <= day <= date(2030, 12, 31)


def _is_currency_like(unit: str) -> bool:
    return len(unit) == 3 and unit.isupper()


def _num(x: float) -> str:
    """``1,500,000,000`` up to 10^15; beyond, ``1e+30`` (thirty digits help nobody)."""
    return f"{x:,.0f}" if abs(x) < 1e15 else f"{x:.3g}"


def _fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) >= 1e15 else f"{value:g}" if value != int(value) else f"{value:.0f}"
    return str(value)


