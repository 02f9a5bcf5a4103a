"""eligibility: an explaining rules engine for legally defined target groups."""

__version__ = "0.1.0"

from .decision import Decision, InvalidRecord, OutcomeDecision  # noqa: E402
from .diagnostics import Diagnostic, RuleSetError  # noqa: E402
from .engine import Engine  # noqa: E402

__all__ = ["Engine", "Decision", "OutcomeDecision", "InvalidRecord", "RuleSetError", "Diagnostic", "__version__"]
