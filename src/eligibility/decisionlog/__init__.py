"""The decision log (issue 17): every decision the service makes, kept in SQLite or
PostgreSQL, hash-chained, with the rule set it was made under; found, reproduced, re-checked
and erased again. See docs/service.md for what is stored and for how long."""

from eligibility.decisionlog.records import Erasure, NewDecision, Page, StoredDecision
from eligibility.decisionlog.store import DecisionLog, LogError, open_log
from eligibility.decisionlog.verify import Verification

__all__ = ["DecisionLog", "Erasure", "LogError", "NewDecision", "Page", "StoredDecision", "Verification", "open_log"]
