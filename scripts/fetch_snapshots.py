"""Fetch the published reports' snapshots into an output folder, so that the next build's
"What changed since the last brief" compares with what readers last saw (CI builds start empty).

    python scripts/fetch_snapshots.py https://OWNER.github.io/REPO reports

Fetches ``coalition-brief.snapshot.json`` and ``country-<ISO3>.snapshot.json`` for every state in
``data/actors.csv``; a report that was never published is skipped. Nothing else is touched; a
snapshot that is not valid JSON is not kept (the build would then say there is no previous
brief). Exit 0 even when the site is unreachable: the build then compares with nothing.
"""

from __future__ import annotations

import csv
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(site: str, out: str) -> int:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    with open(ROOT / "data" / "actors.csv", newline="", encoding="utf-8") as f:
        states = [r["actor_id"] for r in csv.DictReader(f) if r["actor_type"] == "state"]
    got = 0
    for name in ["coalition-brief", *(f"country-{s}" for s in states)]:
        url = f"{site.rstrip('/')}/{name}.snapshot.json"
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                body = resp.read(5_000_000)
            json.loads(body)
        except (urllib.error.URLError, TimeoutError, ValueError, OSError):
            continue
        (folder / f"{name}.snapshot.json").write_bytes(body)
        got += 1
    print(f"fetched {got} published snapshot(s) from {site}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
