"""The kernel process: ``python -m coalition_report.render.kernel_launch -f FILE [--no-debugger]``.

The ``coalition-report`` kernelspec (:func:`coalition_report.render.kernel.ensure_kernelspec`)
starts this instead of ``ipykernel_launcher``; it is the same IPython kernel. Builds add
``--no-debugger``: ipykernel then runs without debugpy, which it otherwise imports at start for
a debugger a headless build never uses (~0.1 s of the ~0.45 s of CPU a kernel takes to start,
measured), its garbage collector runs less often (:data:`BUILD_GC_THRESHOLDS`) and it keeps no
input history (:data:`NO_HISTORY`). JupyterLab starts the kernel without the flag and keeps its
debugger, its history and Python's defaults.

Imports nothing from the engine: it runs in the kernel process.
"""

import sys

#: The flag builds add to the kernelspec's command line (kernel.execute, preview).
NO_DEBUGGER = "--no-debugger"
#: A build's kernel keeps no input history: IPython otherwise writes every cell to a SQLite
#: database in the user's profile from a thread of its own, which a build never reads back, and
#: which every kernel of a parallel batch or test run writes to (~3% of a brief build's CPU).
NO_HISTORY = "--HistoryManager.enabled=False"
#: The garbage collector's thresholds in a build's kernel. Python collects its youngest generation
#: after 700 new container objects; a brief's cells make millions (pandas, Altair's schema
#: objects) and almost no reference cycles. After 20,000: ~6% less CPU in the brief's kernel
#: (3.57 -> 3.36 s, four alternating builds each); cycles are still collected.
BUILD_GC_THRESHOLDS = (20_000, 20, 20)


def main() -> None:
    if NO_DEBUGGER in sys.argv:
        sys.argv.remove(NO_DEBUGGER)
        # An import of debugpy now raises ImportError, which ipykernel takes as "not installed".
        sys.modules["debugpy"] = None  # type: ignore[assignment]
        import gc

        gc.set_threshold(*BUILD_GC_THRESHOLDS)
        sys.argv.append(NO_HISTORY)
    if sys.path and sys.path[0] == "":  # as ipykernel_launcher: the kernel's folder is not a package root
        del sys.path[0]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
