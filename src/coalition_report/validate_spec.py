"""What the validator and the code rely on: pinned fields, keys, enums, limits, parsed-table types.

Split from :mod:`coalition_report.validate` (which re-exports the public names); the values here
are the contract the descriptor may not break (see that module's docstring).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pycountry

# ---------------------------------------------------------------------------------------------
# what the code relies on (pinned: an edit of datapackage.json the code cannot follow is a problem)

#: Every resource the loader, analysis and notebooks use, with its fields as ``name:type`` and
#: ``!`` where the code relies on every row having a value. The descriptor may add fields and
#: resources; it may not drop or retype these.
EXPECTED_FIELDS: dict[str, str] = {
    "sources": "source_id:string! publisher:string! title:string url:string local_path:string "
               "published:string accessed:date kind:string! tier:string original_publisher:string original_url:string "
               "owner_state:string licence:string note:string",
    "actors": "actor_id:string! name:string! actor_type:string! iso3:string kiel_name:string "
              "eu_member:boolean nato_member:boolean europe:boolean membership_source_id:string "
              "nato_source_id:string gdp_usd:number gdp_year:integer population:integer "
              "population_year:integer gdp_source_id:string source_id:string!",
    "meetings": "meeting_id:string! date:date! end_date:date place:string! format:string! level:string! "
                "hosts:string! participation_as_reported:string outcome:string source_id:string! "
                "confidence:string!",
    "attendance": "meeting_id:string! actor_id:string! status:string! level:string mode:string note:string "
                  "source_id:string! confidence:string!",
    "contributions": "contribution_id:string! actor_id:string! date:date! role:string! as_reported:string! "
                     "conditions:string source_id:string! confidence:string!",
    "positions": "position_id:string! actor_id:string! date:date! topic:string! stance:string! "
                 "summary:string! quote:string speaker:string source_id:string! confidence:string!",
    "events": "event_id:string! date:date! end_date:date kind:string! actor_id:string title:string! "
              "description:string source_id:string! confidence:string!",
    "claims": "claim_id:string! topic:string! actor_id:string meeting_id:string date:date statement:string! "
              "quote:string speaker:string value:number unit:string qualifier:string source_id:string! "
              "confidence:string!",
    "aid_announcements": "announcement_id:string! donor_id:string! date:date! aid_type:string! amount:number "
                         "currency:string qualifier:string description:string! same_as:string "
                         "source_id:string! confidence:string!",
    "aid_activities": "activity_id:string! donor_id:string! date:date undated:boolean! aid_type:string! "
                      "measure:string! value_eur:number! value_eur_redistributed:number "
                      "activity_value_eur:number correction:boolean! source_id:string!",
    "aid_totals": "donor_id:string! aid_type:string! measure:string! value_eur:number! source_id:string!",
    "fx_rates": "currency:string! period_start:date! period_end:date! per_eur:number! rate_type:string! "
                "source_id:string!",
    "outlook": "outlook_id:string! date:date! order:integer! question:string! text:string! source_id:string! "
               "other_source_ids:string",
}

#: Pinned resources the brief can do without (it then says so): checked only when declared.
OPTIONAL_RESOURCES = {"outlook"}

#: Primary keys the code relies on (look-ups by id assume one row per key).
EXPECTED_KEYS: dict[str, tuple[str, ...]] = {
    "sources": ("source_id",), "actors": ("actor_id",), "meetings": ("meeting_id",),
    "attendance": ("meeting_id", "actor_id"), "contributions": ("contribution_id",),
    "positions": ("position_id",), "events": ("event_id",), "claims": ("claim_id",),
    "aid_announcements": ("announcement_id",), "aid_activities": ("activity_id",),
    "aid_totals": ("donor_id", "aid_type", "measure"), "fx_rates": ("currency", "period_start"),
    "outlook": ("outlook_id",),
}

#: Foreign keys the code relies on, as ``field>resource`` (the target's key field of that name).
EXPECTED_FOREIGN_KEYS: dict[str, str] = {
    "actors": "source_id>sources membership_source_id>sources gdp_source_id>sources nato_source_id>sources",
    "meetings": "source_id>sources",
    "attendance": "meeting_id>meetings actor_id>actors source_id>sources",
    "contributions": "actor_id>actors source_id>sources",
    "positions": "actor_id>actors source_id>sources",
    "events": "actor_id>actors source_id>sources",
    "claims": "actor_id>actors meeting_id>meetings source_id>sources",
    "aid_announcements": "donor_id>actors source_id>sources same_as>aid_announcements",
    "aid_activities": "donor_id>actors source_id>sources",
    "aid_totals": "donor_id>actors source_id>sources",
    "fx_rates": "source_id>sources",
    "outlook": "source_id>sources",
}

_CONFIDENCE = ("high", "medium", "low")
_AID_TYPES = ("military", "financial", "humanitarian")
#: Values the code maps to labels, colours or ranks: the descriptor may allow fewer, not more.
EXPECTED_ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("actors", "actor_type"): ("state", "organisation"),
    ("attendance", "status"): ("attended", "observer", "absent"),
    ("contributions", "role"): ("lead_nation", "ground_forces", "air_maritime", "logistics_training",
                                "political_support", "observer", "declined_troops", "outside_coalition"),
    ("positions", "topic"): ("coalition_force", "ceasefire", "security_guarantees"),
    ("positions", "stance"): ("support", "conditional", "oppose", "neutral"),
    ("aid_announcements", "aid_type"): (*_AID_TYPES, "mixed"),
    ("aid_activities", "aid_type"): _AID_TYPES, ("aid_activities", "measure"): ("allocation", "commitment"),
    ("aid_totals", "aid_type"): _AID_TYPES, ("aid_totals", "measure"): ("allocation", "commitment"),
    **{(t, "confidence"): _CONFIDENCE for t in ("meetings", "attendance", "contributions", "positions",
                                                 "events", "claims", "aid_announcements")},
}

#: Tables the brief cannot be built from when they have no rows, and why. The other tables may
#: be header-only: the brief then shows an empty section.
NEEDS_ROWS: dict[str, str] = {
    "sources": "every row cites a source",
    "actors": "every row names its actors",
    "meetings": "the brief starts at the first coalition meeting",
    "attendance": "membership is read from attendance",
    "fx_rates": "amounts are converted with recorded rates",
    "aid_activities": "the aid charts are drawn from Kiel's activity rows",
}

#: Display currencies of the brief other than EUR (the ``currency`` parameter's rule in
#: ``render.NOTEBOOKS``; a test keeps the two equal).
DISPLAY_CURRENCIES: tuple[str, ...] = ("USD", "GBP")

#: Plausibility limits, stated once; each problem message repeats the limit it breaks.
PLAUSIBLE: dict[str, Any] = {
    # money
    "max_amount_eur": 1e12,        # one row, EUR (or converted to EUR at its date's rate)
    "max_share_of_gdp_pct": 10.0,  # a donor's total allocations against its GDP
    "min_gdp_usd": 1e7, "max_gdp_usd": 1e14,
    "max_population": 2_000_000_000,
    "max_per_eur": 1e6,            # units of a currency per EUR (must also be > 0)
    "max_count": 10_000_000,       # claims counted in states, leaders, troops, days ...
    "max_amount_units_no_rate": 1e15,  # a claim in a currency with no recorded rate
    # dates (inclusive); any date field not listed uses "default"
    "dates": {
        "default": ("1999-01-01", "2030-12-31"),
        ("meetings", "date"): ("2025-01-01", "2030-12-31"),
        ("meetings", "end_date"): ("2025-01-01", "2030-12-31"),
        ("contributions", "date"): ("2025-01-01", "2030-12-31"),
        ("positions", "date"): ("2025-01-01", "2030-12-31"),
        ("events", "date"): ("2022-01-01", "2030-12-31"),
        ("events", "end_date"): ("2022-01-01", "2030-12-31"),
        ("claims", "date"): ("2022-01-01", "2030-12-31"),
        ("aid_announcements", "date"): ("2022-01-01", "2030-12-31"),
        ("aid_activities", "date"): ("2022-01-01", "2030-12-31"),
        ("outlook", "date"): ("2025-01-01", "2030-12-31"),
    },
}
WHY_DATES = {
    "2025-01-01": "coalition events are dated from 2025 (the coalition first met in March 2025)",
    "2022-01-01": "aid, events and claims are dated from 2022 (the full-scale invasion)",
    "1999-01-01": "dates before the euro (1999) are not plausible in this package",
}

SUPPORTED_TYPES = ("string", "integer", "number", "boolean", "date")
X_CODES = ("country-alpha3", "currency")
SUPPORTED_CONSTRAINTS = {"required", "enum", "pattern", "minimum", "maximum", "minLength", "maxLength"}
TRUE_VALUES = {"true"}
FALSE_VALUES = {"false"}
INT64 = 2 ** 63

#: Control characters refused in every cell: C0/C1 controls except tab, line feed and carriage
#: return (multi-line cells, CRLF files), DEL, bidirectional embeddings/overrides/isolates (they
#: reorder how text reads) and a byte-order mark inside the text.
CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff]")
#: First characters that make a spreadsheet evaluate a cell as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@")
RESOURCE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")



@dataclass
class ParsedTable:
    """One resource after parsing: typed rows plus the physical line of each row."""

    name: str
    path: str
    fields: list[dict[str, Any]]
    rows: list[dict[str, Any]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    #: False when the file could not be read to its end (missing, empty, undecodable, bad CSV);
    #: foreign keys pointing into it are then not checked, to avoid a cascade of false alarms.
    complete: bool = True
    #: False when the header lacks a column or the descriptor's schema for it is not what the
    #: code expects: its rows are then not checked by cross-field rules (follow-on problems).
    shape_ok: bool = True
    header: list[str] = field(default_factory=list)
    #: Data records read, including blank and ragged ones that have no typed row.
    records: int = 0
    #: Columns with at least one invalid cell: foreign keys into them are not checked (a row
    #: whose id is misspelt would otherwise make every reference to it a second problem).
    bad_columns: set[str] = field(default_factory=set)


@dataclass
class ParsedPackage:
    descriptor: dict[str, Any]
    tables: dict[str, ParsedTable]
    problems: list[Problem]


@lru_cache(maxsize=4096)
def known_country(code: str) -> bool:
    return pycountry.countries.get(alpha_3=code) is not None


@lru_cache(maxsize=4096)
def known_currency(code: str) -> bool:
    return pycountry.currencies.get(alpha_3=code) is not None
