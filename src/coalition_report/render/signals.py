"""Stop signals: SIGINT, SIGTERM and SIGHUP become :class:`~coalition_report.errors.BuildInterrupted`.

Without this, SIGTERM (``timeout``, ``kill``, CI cancelling a job) ends the process on the spot:
no ``finally`` runs, so the kernel, its sockets and the temporary build folder stay behind.
:func:`signals_deferred` and :func:`hold_signals`/:func:`release_signals` hold a signal while
clean-up runs or while a set of outputs is published, so neither is cut short.
"""

from __future__ import annotations

import functools
import gc
import logging
import signal
import sys
import threading
import warnings
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from ..errors import BuildInterrupted

__all__ = ["stop_on_signals", "stops_on_signals", "signals_deferred", "check_stop", "hold_signals",
           "release_signals", "propagated", "interrupted_message", "settle_after_stop"]

_STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
#: ``pending``: a signal that arrived inside a deferred block; ``raised``: the last signal
#: raised as BuildInterrupted and not yet seen to propagate (main thread only).
_DEFERRED: dict[str, Any] = {"depth": 0, "pending": None, "raised": None}


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _on_stop_signal(signum: int, frame: Any) -> None:
    if _DEFERRED["depth"]:
        _DEFERRED["pending"] = _DEFERRED["pending"] or signum
        return
    # Remembered as well: raised while Python runs a finalizer or a weakref callback, the
    # exception is dropped ("Exception ignored in ..."); check_stop raises it again later.
    _DEFERRED["raised"] = signum
    raise BuildInterrupted(signum)


def check_stop() -> None:
    """Raise a stop signal whose exception Python dropped (see :func:`_on_stop_signal`).
    Called before publishing, after the kernel is stopped and when the build returns."""
    if _main_thread() and _DEFERRED["raised"] is not None:
        signum, _DEFERRED["raised"] = _DEFERRED["raised"], None
        raise BuildInterrupted(signum)


def propagated() -> None:
    """A BuildInterrupted reached its handler: nothing to raise again."""
    _DEFERRED["raised"] = None


class _DropInterruptedTasks(logging.Filter):
    """On asyncio's logger: a task that a stop signal ended is not a traceback for the user.

    The signal's exception is raised wherever the main thread is; when that is inside a task the
    event loop is not waiting on (nbclient polls the kernel's output in a task of its own), the
    build stops, and later, when the task is collected, asyncio logs "Task exception was never
    retrieved" with the traceback (seen once in a stopped batch's stderr). It is debris of the
    stop, which the build reports in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, BuildInterrupted)


_TASK_FILTER = _DropInterruptedTasks()


def _hide_dropped_interrupts(unraisable: Any) -> None:
    """``sys.unraisablehook`` while signals stop builds: a BuildInterrupted Python could not
    raise is not a traceback for the user (it is raised again by check_stop)."""
    if isinstance(unraisable.exc_value, BuildInterrupted):
        return
    sys.__unraisablehook__(unraisable)


def _drop_unraisable(unraisable: Any) -> None:
    """``sys.unraisablehook`` once a stopped process is exiting: see :func:`settle_after_stop`."""


def settle_after_stop() -> None:
    """Finalise what a stop signal cut short, quietly; call it where a stopped process reports
    its one line and exits (the CLI, a batch worker).

    The signal's exception can land inside any constructor, such as asyncio's event loop in the
    middle of ``__init__``; that half-built object later fails in its finaliser ("Exception
    ignored in ... AttributeError"), and a coroutine it never ran warns "never awaited". Both
    are debris of the stop, not faults, and a traceback would bury the line that says what
    happened to the outputs. So from here on the process drops finaliser errors and that
    warning, and collects the debris now rather than at exit.
    """
    sys.unraisablehook = _drop_unraisable
    warnings.filterwarnings("ignore", message=r"coroutine .* was never awaited", category=RuntimeWarning)
    gc.collect()


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGINT, SIGTERM and SIGHUP into :class:`~coalition_report.errors.BuildInterrupted`.

    Only the main thread receives signals, so elsewhere this does nothing; a signal the
    process ignores (``nohup``, a background job) stays ignored. Re-entrant.
    """
    if not _main_thread():
        yield
        return
    previous = {}
    for name in _STOP_SIGNALS:
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        current = signal.getsignal(sig)
        if current in (signal.SIG_IGN, None) or current is _on_stop_signal:
            continue
        previous[sig] = current
        signal.signal(sig, _on_stop_signal)
    hook = sys.unraisablehook
    if hook is sys.__unraisablehook__:
        sys.unraisablehook = _hide_dropped_interrupts
    logging.getLogger("asyncio").addFilter(_TASK_FILTER)  # kept: a stopped task is collected later
    try:
        yield
    except KeyboardInterrupt:
        propagated()
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sys.unraisablehook = hook
    check_stop()


def stops_on_signals(fn: Callable) -> Callable:
    """Decorator: run ``fn`` inside :func:`stop_on_signals`."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with stop_on_signals():
            return fn(*args, **kwargs)
    return wrapper


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold a stop signal until the block ends: clean-up is not cut short and a set of outputs
    is published whole. If the block ends normally the held signal is raised then; if it ends
    with an exception, the build is stopping anyway and the signal is dropped."""
    if not _main_thread():
        yield
        return
    _DEFERRED["depth"] += 1
    try:
        yield
    except BaseException:
        _DEFERRED["depth"] -= 1
        if not _DEFERRED["depth"]:
            _DEFERRED["pending"] = None
        raise
    _DEFERRED["depth"] -= 1
    if not _DEFERRED["depth"] and _DEFERRED["pending"] is not None:
        signum, _DEFERRED["pending"] = _DEFERRED["pending"], None
        raise BuildInterrupted(signum)


def hold_signals() -> bool:
    """Start holding stop signals (see :func:`signals_deferred`); returns whether it did."""
    if not _main_thread():
        return False
    check_stop()  # a stop signal Python dropped earlier: nothing gets published
    _DEFERRED["depth"] += 1
    return True


def release_signals(held: bool, *, drop: bool = False) -> bool:
    """Undo :func:`hold_signals`; a signal that came meanwhile is raised now (or, with
    ``drop``, forgotten: the build is stopping anyway). Returns ``False`` (no longer held)."""
    if not held:
        return False
    _DEFERRED["depth"] -= 1
    if not _DEFERRED["depth"] and _DEFERRED["pending"] is not None:
        signum, _DEFERRED["pending"] = _DEFERRED["pending"], None
        if not drop:
            raise BuildInterrupted(signum)
    return False


def interrupted_message(notebook: str, exc: BaseException, step: str, out: Any, stem: str) -> BuildInterrupted:
    """The one line an interrupted build ends with: which step, and what happened to the outputs."""
    signum = getattr(exc, "signum", signal.SIGINT)
    why = BuildInterrupted(signum).signame
    if step == "published":
        what = f"after its outputs were published: {stem} in {out} is complete"
    else:
        what = (f"during {step}: nothing published, the previous {stem} outputs in {out} are "
                "untouched and temporary files removed")
    return BuildInterrupted(signum, f"{notebook}: interrupted by {why} {what}")
