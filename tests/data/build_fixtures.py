"""Write the data fixtures: one small valid package and one broken package per rule.

Run ``python tests/data/build_fixtures.py`` after changing the schema; the output is committed so
that ``coalition-report validate --data tests/data/<case>`` works from a fresh clone.
Each broken case differs from ``valid`` by exactly the defect its name says.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
DESCRIPTOR = HERE.parent.parent / "data" / "datapackage.json"

VALID = {
    "sources.csv": """source_id,publisher,title,url,local_path,published,accessed,known_from,kind,tier,original_publisher,original_url,owner_state,licence,note
ref-001,Example Wire,Leaders meet in London,https://example.org/a,,2025-03-02,,,news,record,,,,,
kiel-r28,Kiel Institute for the World Economy,Ukraine Support Tracker R28,https://www.kielinstitut.de/,,2026,2026-06-01,,dataset,record,,,,,
ecb-2025,European Central Bank,Reference rates,https://example.org/ecb,,2025,,,official,official,,,,,
""",
    "actors.csv": """actor_id,name,actor_type,iso3,kiel_name,eu_member,nato_member,europe,membership_source_id,nato_source_id,gdp_usd,gdp_year,population,population_year,gdp_source_id,source_id
GBR,United Kingdom,state,GBR,United Kingdom,false,true,true,ref-001,ref-001,3600000000000,2024,69000000,2024,kiel-r28,ref-001
FRA,France,state,FRA,France,true,true,true,ref-001,ref-001,3100000000000,2024,68000000,2024,kiel-r28,ref-001
RUS,Russia,state,RUS,,,,,,,,,,,,ref-001
nato,NATO,organisation,,,,,,,,,,,,,ref-001
""",
    "meetings.csv": '''meeting_id,date,end_date,place,format,level,hosts,participation_as_reported,outcome,source_id,confidence
2025-03-02-london,2025-03-02,,"London, Lancaster House",in_person,leaders,Starmer,"16 states + EU + NATO","4-point plan, ""coalition of the willing""",ref-001,high
2025-03-27-paris,2025-03-27,,Paris,in_person,leaders,"Macron, Starmer",31 countries,No consensus,ref-001,high
''',
    "attendance.csv": """meeting_id,actor_id,status,level,mode,note,source_id,confidence
2025-03-02-london,GBR,attended,leader,in_person,,ref-001,high
2025-03-02-london,FRA,attended,leader,in_person,,ref-001,high
2025-03-27-paris,GBR,attended,leader,in_person,,ref-001,high
""",
    "contributions.csv": """contribution_id,actor_id,date,role,as_reported,conditions,source_id,confidence
gbr-2025-03-02,GBR,2025-03-02,lead_nation,Co-lead; ground and air,After a ceasefire,ref-001,high
fra-2025-03-02,FRA,2025-03-02,lead_nation,Co-lead,,ref-001,high
""",
    "positions.csv": """position_id,actor_id,date,topic,stance,summary,quote,speaker,source_id,confidence
rus-coalition-2025-03-06,RUS,2025-03-06,coalition_force,oppose,Rejects any European force,We see no room for compromise,Sergei Lavrov,ref-001,high
gbr-ceasefire-2025-03-15,GBR,2025-03-15,ceasefire,support,Calls on Russia to agree to a ceasefire,,,ref-001,high
""",
    "events.csv": """event_id,date,end_date,kind,actor_id,title,description,source_id,confidence
truce-2025-03-02,2025-03-02,,truce_proposal,FRA,One-month truce proposed,"Air, sea and energy",ref-001,high
""",
    "claims.csv": """claim_id,topic,actor_id,meeting_id,date,statement,quote,speaker,value,unit,qualifier,source_id,confidence
london-count,coalition,,2025-03-02-london,2025-03-02,18 leaders attended,,,18,leaders,exact,ref-001,medium
""",
    "aid_announcements.csv": """announcement_id,donor_id,date,aid_type,amount,currency,qualifier,description,same_as,source_id,confidence
gbr-missiles-2025-03-02,GBR,2025-03-02,military,1600000000,GBP,exact,Missile deal,,ref-001,high
gbr-missiles-2025-03-02-b,GBR,2025-03-02,military,1600000000,GBP,exact,The same deal reported again,gbr-missiles-2025-03-02,kiel-r28,medium
""",
    "aid_activities.csv": """activity_id,donor_id,date,undated,aid_type,measure,value_eur,value_eur_redistributed,activity_value_eur,correction,source_id,kiel_sheet,kiel_row
kiel-r28-00001,GBR,2025-03-10,false,military,allocation,1000000.0,1000000.0,1000000.0,false,kiel-r28,bilateral_activities.csv,2
kiel-r28-00002,FRA,,true,humanitarian,allocation,500000.0,500000.0,500000.0,false,kiel-r28,bilateral_activities.csv,3
""",
    "aid_totals.csv": """donor_id,aid_type,measure,value_eur,source_id,kiel_sheet,kiel_row
GBR,military,allocation,1000000.0,kiel-r28,country_summary.csv,2
FRA,humanitarian,allocation,500000.0,kiel-r28,country_summary.csv,3
""",
    "outlook.csv": """outlook_id,date,order,question,text,source_id,other_source_ids
outlook-ceasefire,2025-03-27,1,Will there be a ceasefire to enforce?,Russia rejects a European force.,ref-001,ref-001
""",
    "fx_rates.csv": """currency,period_start,period_end,per_eur,rate_type,source_id
GBP,2025-01-01,2025-12-31,0.85,annual average,ecb-2025
USD,2025-01-01,2025-12-31,1.10,annual average,ecb-2025
USD,2024-01-01,2024-12-31,1.25,annual average,ecb-2025
GBP,2024-01-01,2024-12-31,0.80,annual average,ecb-2025
""",
}


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def _descriptor(edit: Callable[[dict[str, Any]], None]) -> Callable[[str], str]:
    """A mutation of datapackage.json's text: parse, ``edit`` in place, write back indented."""
    def mutate(text: str) -> str:
        desc = json.loads(text)
        edit(desc)
        return json.dumps(desc, indent=2, ensure_ascii=False) + "\n"
    return mutate


def _resource(desc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in desc["resources"] if r["name"] == name)


def _field(desc: dict[str, Any], res: str, name: str) -> dict[str, Any]:
    return next(f for f in _resource(desc, res)["schema"]["fields"] if f["name"] == name)


#: case name -> (file, function turning the valid text into the broken text, or bytes)
BROKEN = {
    "missing_column": ("positions.csv", lambda t: "\n".join(
        ",".join(c for i, c in enumerate(l.split(",")) if i != 4) for l in t.splitlines()) + "\n"),
    "wrong_type": ("aid_totals.csv", lambda t: _replace(t, "1000000.0,kiel", "12.5bn,kiel")),
    "bad_date": ("meetings.csv", lambda t: _replace(t, "2025-03-27,,Paris", "2025-02-30,,Paris")),
    "duplicate_id": ("meetings.csv", lambda t: _replace(t, "2025-03-27-paris,2025-03-27", "2025-03-02-london,2025-03-27")),
    "dangling_source": ("positions.csv", lambda t: _replace(t, "Calls on Russia to agree to a ceasefire,,,ref-001", "Calls on Russia to agree to a ceasefire,,,ref-999")),
    "dangling_actor": ("attendance.csv", lambda t: _replace(t, "2025-03-27-paris,GBR", "2025-03-27-paris,DEU")),
    "unknown_country": ("actors.csv", lambda t: _replace(t, "RUS,Russia,state,RUS", "RUS,Russia,state,XYZ")),
    "unknown_currency": ("aid_announcements.csv", lambda t: _replace(t, ",GBP,", ",GPB,")),
    "negative_amount": ("aid_activities.csv", lambda t: _replace(t, "allocation,500000.0", "allocation,-500000.0")),
    "ragged_rows": ("events.csv", lambda t: _replace(t, "ref-001,high", "ref-001,high,extra")),
    "bad_quoting": ("meetings.csv", lambda t: _replace(t, '"Macron, Starmer"', '"Macron, "Starmer"')),
    "bom": ("sources.csv", lambda t: "\ufeff" + t),
    "empty_file": ("claims.csv", lambda t: ""),
    # hostile input (issue 10): each a single defect, each one clear problem line
    "control_char": ("meetings.csv", lambda t: _replace(t, "No consensus", "No \x1b[31mconsensus")),
    "formula": ("sources.csv", lambda t: _replace(t, "Leaders meet in London", '=HYPERLINK(""http://x"")')),
    "implausible_amount": ("aid_activities.csv", lambda t: _replace(t, "military,allocation,1000000.0", "military,allocation,1e30")),
    "no_fx_rate": ("aid_announcements.csv", lambda t: _replace(t, "1600000000,GBP,exact,Missile", "1600000000,JPY,exact,Missile")),
    "header_only": ("attendance.csv", lambda t: t.splitlines(True)[0]),
    "latin1": ("sources.csv", lambda t: _replace(t, "Leaders meet in London", "Leaders meet in Zürich").encode("latin-1")),
    "utf16": ("claims.csv", lambda t: t.encode("utf-16")),
    "descriptor_type": ("datapackage.json", _descriptor(lambda d: _field(d, "meetings", "date").update(type="string"))),
    "no_path": ("datapackage.json", _descriptor(lambda d: _resource(d, "fx_rates").pop("path"))),
    "missing_resource": ("datapackage.json", _descriptor(lambda d: d["resources"].remove(_resource(d, "fx_rates")))),
}


def write_package(dest: Path, files: dict[str, str | bytes]) -> None:
    """Write ``files`` (text as UTF-8, bytes as they are) beside a copy of the project's descriptor;
    a ``datapackage.json`` in ``files`` replaces that copy."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    shutil.copy(DESCRIPTOR, dest / "datapackage.json")
    for name, content in files.items():
        if isinstance(content, bytes):
            (dest / name).write_bytes(content)
        else:
            (dest / name).write_text(content, encoding="utf-8", newline="")


def main() -> None:
    write_package(HERE / "valid", VALID)
    for case, (name, mutate) in BROKEN.items():
        files: dict[str, str | bytes] = dict(VALID)
        original = DESCRIPTOR.read_text(encoding="utf-8") if name == "datapackage.json" else VALID[name]
        files[name] = mutate(original)
        write_package(HERE / case, files)
    print(f"wrote valid + {len(BROKEN)} broken packages under {HERE}")


if __name__ == "__main__":
    main()
