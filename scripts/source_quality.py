"""Print the sourcing mix of the data package: tiers of the sources and of the cited rows.

    .venv/bin/python scripts/source_quality.py [DATA_DIR] [--rows] [--as-of=YYYY-MM-DD]

Cited rows are the rows of the curated tables (``validate_sources.CITED_TABLES``); a row rests
only on weak sources when every source it cites has a tier in ``WEAK_TIERS`` (copy, state media,
aggregator). ``--rows`` lists those rows. Uses the validator's own reading of the package, so the
numbers are the ones the shipped-data tests check (at most 5% weak-only; no row about another
actor resting only on a belligerent's state media). Last, the mix the brief's Methods prints
(``coalition_report.sourcing.sourcing_mix``: only the sources the brief cites at its date).
"""

from __future__ import annotations

import sys
from pathlib import Path

from coalition_report.data import load_data
from coalition_report.sourcing import sourcing_mix
from coalition_report.validate import parse_package
from coalition_report.validate_sources import TIERS, source_quality


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    data = Path(args[0]) if args else Path(__file__).resolve().parent.parent / "data"
    q = source_quality(parse_package(data).tables)
    order = [*TIERS, "(none)"]
    print("tier          sources  cited sources  rows (by strongest source)")
    for t in order:
        if q.tiers_all[t] or q.tiers_cited[t] or q.rows_by_best_tier[t]:
            print(f"{t:<13} {q.tiers_all[t]:>7}  {q.tiers_cited[t]:>13}  {q.rows_by_best_tier[t]:>6}")
    print(f"cited rows: {q.rows}; resting only on weak sources: {q.weak_only} ({100 * q.weak_share:.1f}%)")
    print(f"rows about another actor resting only on a belligerent's state media: {len(q.state_media_other)}")
    print(f"warning: own positions or offers resting only on copies whose original cannot be had: "
          f"{len(q.own_position_accepted)}")
    for path, line, actor, ids in q.own_position_accepted:
        print(f"  {path}:{line}  {actor}  {ids}")
    if "--rows" in argv:
        for path, line, actor, ids in q.weak_rows:
            print(f"  {path}:{line}  {actor or '-'}  {ids}")
    as_of = next((a.split("=", 1)[1] for a in argv if a.startswith("--as-of=")), None)
    mix = sourcing_mix(load_data(data, as_of=as_of or None))
    print(f"\nthe brief's Methods{' as of ' + as_of if as_of else ''}: cited sources by tier")
    for r in mix["tiers"].itertuples():
        print(f"  {r.label:<22} {r.sources:>5}")
    print(f"  cited rows shown: {mix['rows']}; resting only on weak sources: {mix['weak_only']} "
          f"({100 * mix['weak_share']:.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
