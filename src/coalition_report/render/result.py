"""What a build produced."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BuildResult"]


@dataclass
class BuildResult:
    """What :func:`render_report` produced."""

    notebook: str
    params: dict[str, Any]
    out_dir: Path
    outputs: dict[str, Path]
    manifest_path: Path
    timings: dict[str, float]
    data_hash: str | None
    title: str = ""
    as_of: str | None = None
    warnings: list[str] = field(default_factory=list)
    #: The snapshot written beside the manifest (what the next build compares with), if any.
    snapshot: Path | None = None
    #: ``"built"`` (executed and exported), ``"re-exported"`` (code, parameters and data
    #: unchanged: the cached execution was exported again) or ``"unchanged"`` (nothing to do).
    cache: str = "built"
