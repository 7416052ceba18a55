"""Paths the project owns. Everything else asks this module where things live."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
#: Repository root when running from a checkout (src layout: src/coalition_report -> ../..).
PROJECT_DIR = PACKAGE_DIR.parent.parent
#: Default data package; ``COALITION_DATA`` overrides it (useful for CI fixtures).
DATA_DIR = Path(os.environ.get("COALITION_DATA", PROJECT_DIR / "data"))
NOTEBOOK_DIR = PROJECT_DIR / "notebooks"
REPORTS_DIR = PROJECT_DIR / "reports"
TEMPLATE_DIR = PACKAGE_DIR / "templates"
ASSET_DIR = PACKAGE_DIR / "assets"
DESCRIPTOR_NAME = "datapackage.json"
