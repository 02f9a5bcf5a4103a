"""Rule set snapshots: the files behind a hash, written out again and loaded as an Engine.

The files come from the loaded model itself (the bytes that were hashed), never from disk
again: `rules/` may have moved on between loading and logging."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from eligibility.diagnostics import Diagnostic, RuleSetError
from eligibility.source.loader import OVERLAY_PREFIX, ruleset_digest


@dataclass(frozen=True)
class Snapshot:
    sha256: str
    name: str
    version: str
    files: tuple[tuple[str, bytes], ...]


def snapshot_of(engine: object) -> Snapshot:
    """The snapshot of a loaded engine's rule set."""
    model = engine.compiled.model  # type: ignore[attr-defined]
    return Snapshot(model.sha256, model.manifest.name, model.manifest.version, tuple(model.raw_files))


def _safe_part(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or any(p in ("", ".", "..") for p in path.parts):
        raise RuleSetError([Diagnostic("E020", f"snapshot file name '{name}' is not a relative path", name)])
    return path


def engine_from_snapshot(snap: Snapshot) -> object:
    """An Engine for the snapshot's rule set, checked to have the snapshot's hash."""
    from eligibility.engine import Engine

    if ruleset_digest(snap.files) != snap.sha256:
        raise RuleSetError([Diagnostic("E020", f"snapshot {snap.sha256[:12]} does not match its hash", snap.sha256)])
    with tempfile.TemporaryDirectory(prefix="eligibility-snapshot-") as tmp:
        root = Path(tmp) / "rules"
        root.mkdir()
        overlays: list[str] = []
        for name, raw in snap.files:
            if name.startswith(OVERLAY_PREFIX):
                # One folder per overlay: two overlays may share a file name (the hash uses it).
                folder = Path(tmp) / "overlays" / str(len(overlays))
                target = folder / _safe_part(name[len(OVERLAY_PREFIX) :]).name
                overlays.append(str(target))
            else:
                target = root / _safe_part(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(raw)
        engine = Engine.load(root, overlays)
    if engine.info.sha256 != snap.sha256:
        raise RuleSetError(
            [Diagnostic("E020", f"snapshot {snap.sha256[:12]} loads as {engine.info.sha256[:12]}", snap.sha256)]
        )
    return engine
