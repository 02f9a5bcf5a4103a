"""The service's rule set holder: the engine that requests use, and the thread that reloads it
when the rule files change."""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path

from eligibility.diagnostics import RuleSetError
from eligibility.engine import Engine, default_rules_dir
from eligibility.source.loader import _rule_files

log = logging.getLogger("eligibility.service.app")


class EngineHolder:
    """The current engine; a background thread swaps in a new one when the rule files
    change. A request takes the reference once, so a reload never changes the rules
    under a running request."""

    def __init__(self, rules: str | Path | None, overlays: list[str], poll_seconds: float = 2.0) -> None:
        self.rules = Path(rules) if rules is not None else default_rules_dir()
        self.overlays = overlays
        self.engine = Engine.load(self.rules, overlays=overlays)
        self._stamp = self._fingerprint()
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._poll = poll_seconds
        self._thread: threading.Thread | None = None

    def _fingerprint(self) -> str:
        h = hashlib.sha256()
        files = _rule_files(self.rules) + [Path(o) for o in self.overlays]
        for p in files:
            try:
                st = p.stat()
                h.update(f"{p}:{st.st_mtime_ns}:{st.st_size}".encode())
            except OSError:
                h.update(f"{p}:missing".encode())
        return h.hexdigest()

    def check_reload(self) -> bool:
        stamp = self._fingerprint()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            new = Engine.load(self.rules, overlays=self.overlays)
        except RuleSetError as exc:
            # Keep serving the last good rules; the diagnostics name files and lines only.
            self.last_error = exc.format()
            log.error("rule set not reloaded, keeping sha256 %s:\n%s", self.engine.info.sha256[:12], exc.format())
            return False
        self.engine = new
        self.last_error = None
        log.info("rule set reloaded: sha256 %s", new.info.sha256[:12])
        return True

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="rules-reload", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._poll):
            try:
                self.check_reload()
            except Exception:  # noqa: BLE001 - the watcher must never die
                log.exception("rule reload check failed")
