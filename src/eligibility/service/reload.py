"""The service's rule set holder: the engine that requests use, and the thread that reloads it
when the rule files change.

A reload is all or nothing. A change is first debounced (the files' fingerprint must be the
same on two polls in a row, so a file caught while an editor or `cp` is still writing it is
not read), then the whole rule set is loaded and checked as `eligibility validate` checks
it, plus what only a running service can see: a rule or outcome of the running set that the
new files no longer have, and a rule file that became empty. Only an error-free set is
swapped in, by one reference assignment, so a request sees either the old or the new engine.
Anything else (a diagnostic, a `RecursionError`, any exception) keeps the last good set and is
reported by `/healthz` as codes, files and lines."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import os
import stat
import threading
from pathlib import Path
from typing import Any

from eligibility.diagnostics import Diagnostic, RuleSetError
from eligibility.engine import Engine, default_rules_dir
from eligibility.source.loader import _rule_files

log = logging.getLogger("eligibility.service.app")

# A rule file larger than this is not read to decide whether it is "empty": such a file is
# not empty, and the loader's own size limit judges it.
_EMPTY_PROBE_BYTES = 64 * 1024


@dataclasses.dataclass(frozen=True)
class ReloadFailure:
    """Why the last reload was refused: what /healthz shows. Rule files hold no personal
    data, so messages may quote them; nothing from a request ever gets here."""

    at: str
    diagnostics: tuple[Diagnostic, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "diagnostics": [
                {
                    "code": d.code,
                    "severity": d.severity,
                    "file": d.file,
                    "line": d.line,
                    "column": d.column,
                    "message": d.message,
                }
                for d in self.diagnostics
            ],
        }


def regular_file_problems(files: list[Path]) -> list[Diagnostic]:
    """A diagnostic for each rule file that is not a regular file. Checked with `os.stat`
    before anything opens a file: opening a FIFO named *.yaml blocks until a writer comes,
    and a device such as /dev/zero never ends."""
    out: list[Diagnostic] = []
    for p in files:
        try:
            st = os.stat(p)
        except OSError as exc:
            out.append(Diagnostic("E061", f"rule file cannot be read: {exc.strerror or type(exc).__name__}", str(p)))
            continue
        if not stat.S_ISREG(st.st_mode):
            out.append(
                Diagnostic(
                    "E060",
                    "rule file is not a regular file (a FIFO, device or socket); it is not read",
                    str(p),
                    hint="rule files must be ordinary files",
                )
            )
    return out


def _is_empty(p: Path) -> bool:
    """A file with nothing but blank lines and comments: an editor or copy cut it short,
    never a rule-set author's intent (a file without content is deleted, not emptied)."""
    try:
        if p.stat().st_size > _EMPTY_PROBE_BYTES:
            return False
        text = p.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return False
    return all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines())


def _rules_of(engine: Engine) -> dict[tuple[str, str, str], str]:
    """(entity, outcome, rule id) → the file that defines the rule, for the running set."""
    model = engine.compiled.model
    out: dict[tuple[str, str, str], str] = {}
    for ename, ent in model.entities.items():
        for oid, spec in ent.outcomes.items():
            for rule in spec.rules:
                origin = model.origin("rule", ename, rule.id)
                out[(ename, oid, rule.id)] = origin.file.path if origin else ""
    return out


def _outcomes_of(engine: Engine) -> dict[tuple[str, str], str]:
    model = engine.compiled.model
    out: dict[tuple[str, str], str] = {}
    for ename, ent in model.entities.items():
        for oid in ent.outcomes:
            origin = model.origin("outcome", ename, oid)
            out[(ename, oid)] = origin.file.path if origin else ""
    return out


def losses(running: Engine, new: Engine) -> list[Diagnostic]:
    """What the running set decides and the new one no longer does. `validate` cannot see
    this (an emptied file leaves a smaller but consistent rule set); a service that
    silently answers with one outcome less is worse than one that keeps yesterday's rules.
    Removing rules on purpose takes a restart, which loads whatever the files say."""
    diags: list[Diagnostic] = []
    new_outcomes = _outcomes_of(new)
    for (ename, oid), file in sorted(_outcomes_of(running).items()):
        if (ename, oid) not in new_outcomes:
            diags.append(
                Diagnostic(
                    "E063",
                    f"outcome '{oid}' ({ename}) of the running rule set is missing from the new files",
                    file,
                    hint="restart the service to remove an outcome on purpose",
                )
            )
    new_rules = _rules_of(new)
    for (ename, oid, rid), file in sorted(_rules_of(running).items()):
        if (ename, oid) in new_outcomes and (ename, oid, rid) not in new_rules:
            diags.append(
                Diagnostic(
                    "E064",
                    f"rule '{rid}' of outcome '{oid}' ({ename}) is in the running rule set but missing from the new files",
                    file,
                    hint="restart the service to remove a rule on purpose",
                )
            )
    return diags


def load_checked(
    rules: Path, overlays: list[str], running: Engine | None = None, validate_samples: int | None = None
) -> Engine:
    """The rule set under `rules` with `overlays`, loaded and checked completely; raises
    RuleSetError with every diagnostic that makes it unfit to serve."""
    from eligibility.apps.validate import SAMPLES_PER_OUTCOME, validate

    files = _rule_files(rules) + [Path(o) for o in overlays]
    not_regular = regular_file_problems(files)
    if not_regular:
        raise RuleSetError(not_regular)
    empty = [
        Diagnostic("E062", "rule file is empty (only blank lines or comments)", str(p), hint="finish writing the file")
        for p in files
        if _is_empty(p)
    ]
    if empty:
        raise RuleSetError(empty)
    engine = Engine.load(rules, overlays=overlays)
    report = validate(engine, SAMPLES_PER_OUTCOME if validate_samples is None else validate_samples)
    diags = list(report.errors)
    if running is not None:
        diags += losses(running, engine)
    if diags:
        raise RuleSetError(diags)
    return engine


class EngineHolder:
    """The current engine; a background thread swaps in a new one when the rule files
    change. A request takes the reference once, so a reload never changes the rules
    under a running request."""

    def __init__(self, rules: str | Path | None, overlays: list[str], poll_seconds: float = 2.0) -> None:
        self.rules = Path(rules) if rules is not None else default_rules_dir()
        self.overlays = overlays
        # At start the same pre-checks as a reload (a FIFO must not hang start-up either),
        # but no comparison: what the files say at start is the rule set.
        not_regular = regular_file_problems(_rule_files(self.rules) + [Path(o) for o in overlays])
        if not_regular:
            raise RuleSetError(not_regular)
        self.engine = Engine.load(self.rules, overlays=overlays)
        self._stamp = self._fingerprint()
        self._pending: str | None = None
        self.failure: ReloadFailure | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._poll = poll_seconds
        self._thread: threading.Thread | None = None

    @property
    def last_error(self) -> str | None:
        """The last refused reload as `file:line: CODE` lines, or None after a good one."""
        if self.failure is None:
            return None
        return "\n".join(d.format() for d in self.failure.diagnostics)

    def _fingerprint(self) -> str:
        # stat only, never open: cheap every poll, and safe on a FIFO.
        h = hashlib.sha256()
        files = _rule_files(self.rules) + [Path(o) for o in self.overlays]
        for p in files:
            try:
                st = os.stat(p)
                h.update(f"{p}:{st.st_mode}:{st.st_ino}:{st.st_mtime_ns}:{st.st_size}\0".encode())
            except OSError:
                h.update(f"{p}:missing\0".encode())
        return h.hexdigest()

    def check_reload(self) -> bool:
        """One poll. True when a new rule set was swapped in."""
        with self._lock:
            stamp = self._fingerprint()
            if stamp == self._stamp:
                self._pending = None
                return False
            if stamp != self._pending:
                # Changed since the last poll: wait until the files hold still.
                self._pending = stamp
                return False
            self._pending = None
            # Whatever the outcome, these files are judged; the next change is read anew.
            self._stamp = stamp
            running = self.engine
            try:
                new = load_checked(self.rules, self.overlays, running)
            except RuleSetError as exc:
                self._refuse(tuple(exc.diagnostics))
                return False
            except Exception as exc:  # noqa: BLE001 - RecursionError, MemoryError, a bug: all refusals
                log.debug("rule reload failed", exc_info=True)
                self._refuse((Diagnostic("E065", f"rule set could not be loaded: {type(exc).__name__}", ""),))
                return False
            if new.info.sha256 == running.info.sha256:
                self.failure = None
                return False
            self.engine = new  # the one assignment a request can observe
            self.failure = None
            log.info("rule set reloaded: sha256 %s", new.info.sha256[:12])
            return True

    def _refuse(self, diagnostics: tuple[Diagnostic, ...]) -> None:
        self.failure = ReloadFailure(dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), diagnostics)
        log.error(
            "rule set not reloaded, keeping sha256 %s:\n%s",
            self.engine.info.sha256[:12],
            "\n".join(d.format() for d in diagnostics),
        )

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
