"""The floor for case (c) of `make bench`: the notebook's code run in this one Python process (no
kernel, no papermill), then the same HTML and PDF exports the build uses.

    python benchmarks/floor.py NOTEBOOK.ipynb OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from IPython.core.displayhook import DisplayHook
from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell

from coalition_report.render import export_notebook


def execute_in_process(nb) -> None:
    """Run every code cell in one IPython shell, recording its displays as notebook outputs."""
    shell = InteractiveShell.instance()
    outputs: list = []

    class Publisher(DisplayPublisher):
        def publish(self, data, metadata=None, **kwargs):
            outputs.append(nbformat.v4.new_output("display_data", data=data, metadata=metadata or {}))

    class Hook(DisplayHook):
        def __call__(self, result=None):
            if result is not None:
                data, md = self.shell.display_formatter.format(result)
                outputs.append(nbformat.v4.new_output("execute_result", data=data, metadata=md,
                                                      execution_count=None))

    shell.display_pub = Publisher(shell=shell)
    shell.displayhook = Hook(shell=shell)
    shell.display_trap.hook = shell.displayhook  # the trap installs its hook as sys.displayhook
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs.clear()
        result = shell.run_cell(cell.source, store_history=True)
        if not result.success:
            raise SystemExit(f"cell failed: {result.error_in_exec or result.error_before_exec}")
        cell.outputs = list(outputs)


def main(path: str, out: str) -> None:
    nb = nbformat.read(path, as_version=4)
    execute_in_process(nb)
    export_notebook(nb, "coalition_brief", {}, Path(out), "coalition-brief", notebook_dir=Path(path).parent)


if __name__ == "__main__":
    main(*sys.argv[1:3])
