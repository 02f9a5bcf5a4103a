"""eligibility: an explaining rules engine for legally defined target groups."""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

try:
    __version__ = _version("eligibility")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0+unknown"

from eligibility.decision.model import Decision, InvalidRecord, OutcomeDecision  # noqa: E402
from eligibility.diagnostics import Diagnostic, RuleSetError  # noqa: E402
from eligibility.engine import Engine  # noqa: E402

__all__ = ["Engine", "Decision", "OutcomeDecision", "InvalidRecord", "RuleSetError", "Diagnostic", "__version__"]
