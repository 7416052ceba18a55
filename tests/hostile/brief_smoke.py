"""Run the code cells of the real notebooks in-process, without papermill and without export.

A package that ``coalition-report validate`` accepts must get through this; the hostile-data
tests use it to show that exit 0 means the build can run (well under a second per notebook
instead of a real build per case). The cells are read from ``notebooks/*.ipynb`` each time, so
the check follows the notebooks as they change. Each cell's last expression is evaluated as
Jupyter would display it; ``mimebundles=True`` also renders it (slower: charts become SVG).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent.parent / "notebooks"


def run_notebook(name: str, params: dict[str, Any], *, mimebundles: bool = False) -> list[Any]:
    """Execute notebook ``name``'s code cells with ``params`` overriding its parameters cell."""
    nb = json.loads((NOTEBOOK_DIR / f"{name}.ipynb").read_text(encoding="utf-8"))
    ns: dict[str, Any] = {"__name__": "__smoke__"}
    shown = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        tree = ast.parse(source)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(compile(tree, f"<{name} cell>", "exec"), ns)
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            ns.update(params)
            continue
        if last is not None:
            value = eval(compile(ast.Expression(last.value), f"<{name} cell>", "eval"), ns)
            shown.append(value)
            if mimebundles and hasattr(value, "_repr_mimebundle_"):
                value._repr_mimebundle_()
    return shown


def run_brief(data_dir: Path, *, currency: str = "EUR", as_of: str = "", mimebundles: bool = False) -> list:
    return run_notebook("coalition_brief", {"data_dir": str(data_dir), "currency": currency, "as_of": as_of},
                        mimebundles=mimebundles)


def run_profile(data_dir: Path, country: str, *, currency: str = "EUR", as_of: str = "",
                mimebundles: bool = False) -> list:
    return run_notebook("country_profile", {"data_dir": str(data_dir), "country": country, "currency": currency,
                                            "as_of": as_of}, mimebundles=mimebundles)
