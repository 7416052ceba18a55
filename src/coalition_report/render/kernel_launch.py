"""The kernel process: ``python -m coalition_report.render.kernel_launch -f FILE [--no-debugger]``.

The ``coalition-report`` kernelspec (:func:`coalition_report.render.kernel.ensure_kernelspec`)
starts this instead of ``ipykernel_launcher``; it is the same IPython kernel. Builds add
``--no-debugger``: ipykernel then runs without debugpy, which it otherwise imports at start for
a debugger a headless build never uses (~0.1 s of the ~0.45 s of CPU a kernel takes to start,
measured). JupyterLab starts the kernel without the flag and keeps its debugger.

Imports nothing from the engine: it runs in the kernel process.
"""

import sys

#: The flag builds add to the kernelspec's command line (kernel.execute, preview).
NO_DEBUGGER = "--no-debugger"


def main() -> None:
    if NO_DEBUGGER in sys.argv:
        sys.argv.remove(NO_DEBUGGER)
        # An import of debugpy now raises ImportError, which ipykernel takes as "not installed".
        sys.modules["debugpy"] = None  # type: ignore[assignment]
    if sys.path and sys.path[0] == "":  # as ipykernel_launcher: the kernel's folder is not a package root
        del sys.path[0]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
