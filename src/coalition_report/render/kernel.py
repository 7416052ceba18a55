"""The kernel: its kernelspec, executing a notebook with papermill, stopping it whatever happens.

The kernel manager is ours, not nbclient's, so that however execution ends (an error, a signal
turned into :class:`~coalition_report.errors.BuildInterrupted` in the middle of a cell) the
kernel is killed and its connection file and sockets removed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

from ..files import write_atomic
from .kernel_launch import NO_DEBUGGER
from .locks import Scratch, sweep
from .signals import check_stop, signals_deferred

__all__ = ["KERNEL_NAME", "KERNEL_PREFIX", "ensure_kernelspec", "execute", "kill_kernel", "stop_kernel", "failed_cell_number",
           "source_position", "failed_line", "reuse_kernels", "stop_warm_kernels", "kill_warm_kernels",
           "warm_runs"]

KERNEL_NAME = "coalition-report"
#: What the kernelspec runs (see :mod:`.kernel_launch`); builds add ``--no-debugger``.
LAUNCHER = "coalition_report.render.kernel_launch"
#: Prefix of the kernels' private folders under TMPDIR (connection file, IPC sockets).
KERNEL_PREFIX = "cr-kernel-"
_log = logging.getLogger(__name__)


def ensure_kernelspec(name: str = KERNEL_NAME) -> str:
    """Make sure kernel ``name`` runs *this* interpreter; install it into ``sys.prefix`` if not.

    Returns the kernel name to use. The spec pins ``PYTHONHASHSEED=0`` so set iteration order,
    and with it any output that depends on it, is the same in every build, and runs
    :mod:`.kernel_launch`. A spec of that name that differs (``ipykernel install``'s, which pins
    no hash seed) is replaced.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    def matches(kname: str) -> bool:
        try:
            spec = KernelSpecManager().get_kernel_spec(kname)
        except NoSuchKernel:
            return False
        return (bool(spec.argv) and os.path.abspath(spec.argv[0]) == os.path.abspath(sys.executable)
                and spec.argv[1:] == _kernel_argv()[1:] and (spec.env or {}).get("PYTHONHASHSEED") == "0")

    if matches(name):
        return name
    target = Path(sys.prefix) / "share" / "jupyter" / "kernels" / name
    if _install_kernelspec(target, name) and matches(name):
        return name
    # A spec of that name elsewhere (user dir) shadows ours: use an interpreter-specific name.
    alt = f"{name}-{hashlib.sha256(sys.executable.encode()).hexdigest()[:8]}"
    if not matches(alt):
        _install_kernelspec(Path(sys.prefix) / "share" / "jupyter" / "kernels" / alt, alt)
    return alt


def _kernel_argv() -> list[str]:
    # -Xfrozen_modules=off as in ipykernel's own spec: JupyterLab's debugger can then stop in the
    # standard library (no measurable cost to a build's kernel start).
    return [sys.executable, "-Xfrozen_modules=off", "-m", LAUNCHER, "-f", "{connection_file}"]


def _install_kernelspec(target: Path, name: str) -> bool:
    spec = {
        "argv": _kernel_argv(),
        "display_name": f"Python ({name})",
        "language": "python",
        "env": {"PYTHONHASHSEED": "0"},
        "metadata": {"debugger": True},
    }
    try:
        target.mkdir(parents=True, exist_ok=True)
        write_atomic(target / "kernel.json", json.dumps(spec, indent=1))  # parallel builds never see half
        return True
    except OSError as exc:
        _log.info("cannot install kernelspec %s: %s", target, exc)
        return False


def execute(nb_path: Path, params: dict, out_nb: Path, kernel: str, timeout: int | None) -> Any:
    """Run the notebook with papermill on a kernel this function starts and always stops.

    Connection file and IPC sockets live in a private (0700) folder under TMPDIR instead of
    loopback TCP: no port is open to other local users, ipykernel stops warning about
    unencrypted TCP, and one rmtree removes everything. The socket prefix must be absolute
    (manager and kernel have different cwds) and short (Unix socket paths are limited to
    ~107 bytes). The folder is locked while in use, so that a later build removes it if this
    process is killed (see :func:`~coalition_report.render.locks.sweep`).
    """
    import papermill as pm

    scratch = km = None
    started: list[str] = []  # ids of the cells started, for "cell N" when the kernel dies
    key = (kernel, str(nb_path))
    try:
        with signals_deferred():  # taken whole from the warm slot, so the finally can stop it
            km, scratch = _take_warm(key, str(nb_path.parent))
        if km is None:
            with signals_deferred():  # created and assigned whole, so the finally can remove it
                sweep(Path(tempfile.gettempdir()), KERNEL_PREFIX)
                scratch = Scratch(KERNEL_PREFIX)
            km = _kernel_manager_class()(kernel_name=kernel, connection_file=str(scratch.path / "kernel.json"))
            if len(str(scratch.path)) <= 100:  # "<path>/k-5" < 108 bytes; else loopback TCP
                km.transport, km.ip = "ipc", str(scratch.path / "k")
        # nbclient logs "Kernel died while waiting for execute reply" and the like through
        # papermill's logger: the BuildError says it once, naming the cell.
        _quiet_logger("papermill")
        nb = pm.execute_notebook(
            str(nb_path), str(out_nb), parameters=params, kernel_name=kernel,
            language="python", progress_bar=False, log_output=False, start_timeout=120,
            # papermill rewrites the whole output notebook after every cell by default: with
            # ~2 MB of chart specs and SVG that was over half the execution time. It still
            # writes it at the end and when a cell fails.
            request_save_on_cell_execute=False,
            extra_arguments=[NO_DEBUGGER],  # nbclient appends them to the spec's argv
            execution_timeout=timeout, km=km,
            on_cell_start=lambda cell, cell_index, **_: started.append(cell.get("id")),
            # nbclient starts the kernel in resources.metadata.path: no process-wide chdir.
            resources={"metadata": {"path": str(nb_path.parent)}})
        if _REUSE:
            with signals_deferred():
                _keep_warm(key, km, scratch)
                km = scratch = None  # kept for the next notebook: not stopped below
        return nb
    except Exception as exc:
        if started:
            exc.cr_running_cell = started[-1]  # type: ignore[attr-defined]
        raise
    finally:
        with signals_deferred():  # a second Ctrl-C must not cut the clean-up short
            try:
                if km is not None:
                    _stop_kernel(km)
            finally:
                if scratch is not None:
                    scratch.remove()
        check_stop()


# ---------------------------------------------------------------------------------------------
# A warm kernel for a batch: the next profile runs in the kernel the last one ran in
# ---------------------------------------------------------------------------------------------
_REUSE = False
_WARM: dict[tuple[str, str], tuple[Any, Any]] = {}
_RAN_WARM = [0]  # executions in this process that ran in a kept kernel
# Run (silently) in a kept kernel before the next notebook: what one notebook leaves behind that
# the next would see. The namespace, output history and prompt numbers (a new history session,
# so prompt 1 is not a duplicate line in IPython's history database), the working folder, the
# brief's colours, pandas' display options; imported modules stay (that is the saving).
_RESET = """\
get_ipython().reset(new_session=True)
import os as _os, sys as _sys
_os.chdir({cwd!r})
if "coalition_report.style" in _sys.modules:
    _sys.modules["coalition_report.style"].theme(reset=True)
for _group in ("display", "styler", "compute"):  # not "all": it loads the plotting backend
    if "pandas" in _sys.modules:
        _sys.modules["pandas"].reset_option(_group)
del _os, _sys, _group
"""


def reuse_kernels() -> None:
    """From now on in this process (a batch's worker, or a batch run in one process), a kernel
    that ran a notebook to the end is kept and runs the next execution of the same notebook file,
    after :data:`_RESET`; a notebook that fails, or a kernel that does not answer, is not reused.
    Saves the kernel's start and imports (~1.5 s a profile). The kept kernel is stopped when the
    process ends, or by :func:`stop_warm_kernels`."""
    global _REUSE
    if not _REUSE:
        import atexit
        from multiprocessing import util

        atexit.register(stop_warm_kernels)
        util.Finalize(None, stop_warm_kernels, exitpriority=10)  # a pool worker skips atexit
    _REUSE = True


def warm_runs() -> int:
    """How many executions in this process ran in a kernel kept from the one before."""
    return _RAN_WARM[0]


def kill_warm_kernels() -> None:
    """Kill the kept kernel's process group and remove its folder at once: no event loop, no
    waiting on clients (for a signal handler; :func:`stop_warm_kernels` is the orderly way)."""
    while _WARM:
        _, (km, scratch) = _WARM.popitem()
        proc = getattr(getattr(km, "provisioner", None), "process", None)
        try:
            if proc is not None:
                os.killpg(proc.pid, signal.SIGKILL)  # jupyter_client starts it in a session of its own
                proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass  # already gone, or a zombie at worst: the process is ending anyway
        scratch.remove()


def stop_warm_kernels() -> None:
    """Stop the kernel kept by :func:`reuse_kernels`, if any, and stop keeping kernels."""
    global _REUSE
    _REUSE = False
    while _WARM:
        _, (km, scratch) = _WARM.popitem()
        try:
            _stop_kernel(km)
        finally:
            scratch.remove()


def _keep_warm(key: tuple[str, str], km: Any, scratch: Any) -> None:
    for kc in km.__dict__.pop("_cr_clients", []):  # nbclient's client: its channels close now
        try:
            kc.stop_channels()
        except Exception as exc:  # a client of a dying kernel: the next reset finds out
            _log.debug("stop_channels: %r", exc)
    for other in [k for k in _WARM if k != key]:  # one kernel kept at a time
        okm, oscratch = _WARM.pop(other)
        try:
            _stop_kernel(okm)
        finally:
            oscratch.remove()
    _WARM[key] = (km, scratch)


def _take_warm(key: tuple[str, str], cwd: str) -> tuple[Any, Any]:
    """The kept kernel for ``key``, reset and answering, else ``(None, None)``."""
    if key not in _WARM:
        return None, None
    km, scratch = _WARM.pop(key)
    if _reset(km, cwd):
        _RAN_WARM[0] += 1
        return km, scratch
    try:
        _stop_kernel(km)
    finally:
        scratch.remove()
    return None, None


def _reset(km: Any, cwd: str) -> bool:
    from jupyter_core.utils import run_sync

    async def reset() -> bool:
        if not await km.is_alive():
            return False
        kc = km.client()
        kc.start_channels(hb=False)  # no heartbeat thread: nothing left running if this is interrupted
        try:
            await kc.wait_for_ready(timeout=30)
            reply = await kc.execute_interactive(_RESET.format(cwd=cwd), silent=True, store_history=False,
                                                 timeout=30, output_hook=lambda msg: None)
            return reply["content"]["status"] == "ok"
        finally:
            kc.stop_channels()
            km.__dict__.pop("_cr_clients", None)

    try:
        return run_sync(reset)()
    except Exception as exc:  # no answer: a cold kernel instead
        _log.info("warm kernel not reusable: %r", exc)
        return False


def _quiet_logger(name: str) -> None:
    log = logging.getLogger(name)
    if not log.handlers:  # unless the caller configured it: then it is theirs
        log.addHandler(logging.NullHandler())
        log.propagate = False


@functools.lru_cache(maxsize=None)
def _kernel_manager_class() -> type:
    from jupyter_client import AsyncKernelManager

    class _KernelManager(AsyncKernelManager):
        """Remembers the clients nbclient creates, so that they can be closed too."""

        def client(self, **kwargs: Any) -> Any:
            kc = super().client(**kwargs)
            self.__dict__.setdefault("_cr_clients", []).append(kc)
            return kc

    return _KernelManager


async def kill_kernel(km: Any) -> None:
    """SIGKILL the kernel's process group and reap the process; nothing if it has none.

    Not ``shutdown_kernel(now=True)``: jupyter_client interrupts (SIGINT) before it kills, and a
    kernel still importing when a build is stopped then wrote the start of a KeyboardInterrupt
    traceback into the build's stderr before the SIGKILL landed (seen in a loaded test run).
    The connection file and sockets are removed by ``cleanup_resources``."""
    import asyncio

    if not km.has_kernel:
        return
    await km.provisioner.kill()
    process = getattr(km.provisioner, "process", None)
    if process is not None:  # reaped as soon as it is gone: the provisioner's wait polls every 0.1 s
        try:
            process.wait(timeout=5)
        except Exception as exc:  # still there after 5 s, or not a Popen: the wait below decides
            _log.debug("waiting for the killed kernel: %r", exc)
    await asyncio.wait_for(km.provisioner.wait(), timeout=5)


def _stop_kernel(km: Any) -> None:
    """Stop what :func:`execute` started: the cell's task, the clients, the kernel process.
    Best effort at every stage (the kernel may be dead already): failures are logged, and the
    next stage still runs."""
    import asyncio

    from jupyter_core.utils import run_sync

    async def cancel_tasks() -> None:
        # A signal raised out of the event loop leaves nbclient's task suspended mid-cell;
        # cancel it, or it would resume (and talk to a dying kernel) the next time the loop runs.
        me = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            done, _ = await asyncio.wait(pending, timeout=5)
            for task in done:  # retrieved, so asyncio does not log "never retrieved" later
                if not task.cancelled():
                    task.exception()

    run_sync(cancel_tasks)()
    stop_kernel(km, km.__dict__.get("_cr_clients", []))


def stop_kernel(km: Any, clients: Any = ()) -> None:
    """Close ``clients``' channels, SIGKILL the kernel of ``km`` (one recorded or not), and clean
    up the manager's resources; closing is waited for :data:`CLOSE_SECONDS` at most. For the
    build's kernels and the preview's (a sync or an async manager). Best effort at every stage
    (the kernel may be dead already): failures are logged, and the next stage still runs."""
    import inspect

    from jupyter_core.utils import run_sync

    def cleanup() -> None:  # connection file, IPC sockets, the manager's ZMQ context
        result = km.cleanup_resources()
        if inspect.isawaitable(result):  # an async manager's
            async def wait() -> None:
                await result
            run_sync(wait)()

    _bounded(lambda: [kc.stop_channels() for kc in clients], "closing the kernel client's channels")
    try:
        run_sync(kill_kernel)(km)
    except Exception as exc:  # already dead: the scratch folder removal cleans up
        _log.debug("kill_kernel: %r", exc)
    _kill_unrecorded(km.connection_file)
    _bounded(cleanup, "cleaning up the kernel's resources")


def _kill_unrecorded(connection_file: str) -> None:
    """Kill and reap a child of this process started with ``connection_file`` that jupyter_client
    never recorded: a stop signal landing after the kernel's Popen and before the provisioner
    keeps it leaves no process to kill, and the kernel outlived the build by a second (until
    ipykernel noticed its parent gone; seen in 2 of ~120 builds interrupted at random). Reads
    /proc (Linux); elsewhere it does nothing. Only this process's own children are touched."""
    if not connection_file:
        return
    me, needle = os.getpid(), os.fsencode(connection_file)
    try:
        pids = [int(n) for n in os.listdir("/proc") if n.isdigit()]
    except OSError:
        return
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
            if ppid != me:
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if needle not in fh.read():
                    continue
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (OSError, ValueError, IndexError):  # gone meanwhile, or reaped by its Popen
            continue


#: Seconds the stop waits for a kernel client's or manager's close (:func:`_bounded`).
CLOSE_SECONDS = 5.0


def _bounded(fn: Callable[[], Any], what: str) -> None:
    """Run ``fn`` in a daemon thread and stop waiting for it after :data:`CLOSE_SECONDS`.

    Closing a kernel client or manager ends in ZMQ's context termination, which blocks until
    every socket of the context is closed. A stop signal that lands inside pyzmq's ``socket()``,
    after the socket exists and before pyzmq tracks it, leaves one that nothing closes, and the
    interrupted build hung there for good (seen once in ~80 interrupted builds under load; the
    stack was ``Context.term`` under ``KernelClient.stop_channels``). The build must still end;
    the thread is left to the process's exit. Errors are logged, as the other stages' are."""
    def run() -> None:
        try:
            fn()
        except Exception as exc:
            _log.debug("%s: %r", what, exc)

    worker = threading.Thread(target=run, name=f"cr-{what}", daemon=True)
    worker.start()
    worker.join(CLOSE_SECONDS)
    if worker.is_alive():
        _log.info("%s did not finish in %.1f s; left to the process's exit", what, CLOSE_SECONDS)


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: A frame of code typed in a cell: IPython 8+ ``Cell In[7], line 2``; older ``<ipython-input-7-…>``.
_CELL_FRAME = re.compile(r"Cell In\s*\[(\d+)\],\s*line (\d+)|<ipython-input-(\d+)-[0-9a-f]+>")
_ARROW = re.compile(r"^-+>\s*(\d+)", re.M)


def failed_line(executed: Path, exc: Any) -> tuple[int, str] | None:
    """``(line, code)`` of the failing cell where the error arose, from the kernel's traceback
    (papermill's ``PapermillExecutionError.traceback``); ``None`` when it names no line of the
    cell (``sys.exit``, an error raised by IPython itself)."""
    import nbformat

    try:
        ran = nbformat.read(str(executed), as_version=4)
    except (OSError, ValueError):
        return None
    cell = next((c for c in ran.cells if "papermill-error-cell-tag" not in c.metadata.get("tags", [])
                 and any(o.get("output_type") == "error" for o in c.get("outputs", []))), None)
    if cell is None:
        return None
    text = _ANSI.sub("", "\n".join(getattr(exc, "traceback", None) or []))
    frames = list(_CELL_FRAME.finditer(text))
    count = str(cell.get("execution_count"))
    # the failing cell's own frame (a helper defined in an earlier cell may be deeper)
    frame = next((f for f in frames if count in (f.group(1), f.group(3))), frames[0] if frames else None)
    if frame is None:
        return None
    if frame.group(2):
        line = int(frame.group(2))
    else:  # old style: the number follows the "---->" arrow of that frame
        arrow = _ARROW.search(text, frame.end())
        if arrow is None:
            return None
        line = int(arrow.group(1))
    lines = cell.source.splitlines()
    if not 1 <= line <= len(lines):
        return None
    return line, lines[line - 1].strip()


def failed_cell_number(executed: Path, source: Path, exc: Any) -> int | None:
    """1-based position of the failing cell in the *source* notebook (all cell types)."""
    import nbformat

    try:
        ran = nbformat.read(str(executed), as_version=4)
        src = nbformat.read(str(source), as_version=4)
    except (OSError, ValueError) as err:  # unreadable: fall back to papermill's index
        _log.debug("cannot read %s or %s: %r", executed, source, err)
    else:
        failed_id = None
        for cell in ran.cells:
            if "papermill-error-cell-tag" in cell.metadata.get("tags", []):
                continue
            if any(o.get("output_type") == "error" for o in cell.get("outputs", [])) or \
                    cell.metadata.get("papermill", {}).get("exception"):
                failed_id = cell.get("id")
                break
        for i, cell in enumerate(src.cells):
            if failed_id and cell.get("id") == failed_id:
                return i + 1
    # Fallback: papermill's 0-based index counts its injected-parameters cell, which sits
    # before every cell that can fail after the parameters; so it equals the 1-based position.
    return getattr(exc, "cell_index", None)


def source_position(source: Path, cell_id: str | None) -> int | None:
    """1-based position of the cell ``cell_id`` in the source notebook; ``None`` when unknown
    (papermill's injected-parameters cell, or no cell had started)."""
    import nbformat

    if not cell_id:
        return None
    try:
        ids = [c.get("id") for c in nbformat.read(str(source), as_version=4).cells]
        return ids.index(cell_id) + 1
    except (OSError, ValueError):
        return None
