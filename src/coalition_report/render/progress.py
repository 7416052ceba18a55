"""Step lines on stderr, or step events for a batch display."""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from .signals import check_stop

__all__ = ["Progress", "STEPS"]

#: The steps of a build, in order (the progress lines number them).
STEPS = ("validate", "execute", "html", "pdf", "manifest")
_log = logging.getLogger(__name__)


class Progress:
    """Step lines on stderr; or, given a callable, ``callback(step, state, seconds)`` calls
    (state ``"start"``, ``"done"`` or ``"failed"``) so that a batch can show many reports."""

    def __init__(self, enabled: bool | Callable[[str, str, float], None], label: str):
        self.console = None
        self.label = label
        self.timings: dict[str, float] = {}
        self.callback = enabled if callable(enabled) else None
        if enabled and self.callback is None:
            from rich.console import Console

            self.console = Console(stderr=True, highlight=False)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        n = STEPS.index(name) + 1 if name in STEPS else 0
        t0 = time.perf_counter()
        status = None
        if self.console is not None and self.console.is_terminal:
            status = self.console.status(f"[{n}/{len(STEPS)}] {self.label}: {name} …")
            status.start()
        self._notify(name, "start", 0.0)
        try:
            yield
            check_stop()  # a stop signal Python dropped during the step fails the step
        except BaseException:
            if status:
                status.stop()
            self._notify(name, "failed", time.perf_counter() - t0)
            if self.console is not None:
                self.console.print(f"[red]✗[/red] [{n}/{len(STEPS)}] {name:<8} "
                                   f"{time.perf_counter() - t0:6.2f}s  failed")
            raise
        dt = time.perf_counter() - t0
        self.timings[name] = round(dt, 3)
        if status:
            status.stop()
        self._notify(name, "done", dt)
        if self.console is not None:
            self.console.print(f"[green]✓[/green] [{n}/{len(STEPS)}] {name:<8} {dt:6.2f}s")

    def say(self, text: str) -> None:
        if self.console is not None:
            self.console.print(text)

    def _notify(self, name: str, state: str, seconds: float) -> None:
        if self.callback is not None:
            try:
                self.callback(name, state, seconds)
            except Exception as exc:  # a display problem must never fail the build
                _log.warning("progress display failed: %r", exc)
