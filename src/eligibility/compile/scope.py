"""Name resolution: which names an entity's expressions can see, and of which kind."""

from __future__ import annotations

from eligibility.compile.ir import REFERENCE_DATE
from eligibility.lang.types import Type
from eligibility.source.loader import EntityModel


class Scope:
    """Names visible to one entity's expressions, with their kind and type."""

    def __init__(self, entity: EntityModel, fact_types: dict[str, Type], param_types: dict[str, Type]) -> None:
        self.entity = entity
        self.fact_types = fact_types
        self.param_types = param_types
        self.derived_types: dict[str, Type] = {}
        self.outcome_types: dict[str, Type] = {}

    def kind(self, name: str) -> str | None:
        if name == REFERENCE_DATE:
            return "stichtag"
        if name in self.entity.facts:
            return "fact"
        if name in self.entity.derived:
            return "derived"
        if name in self.entity.outcomes:
            return "outcome"
        if name in self.param_types:
            return "param"
        return None

    def all_names(self) -> list[str]:
        return [REFERENCE_DATE, *self.entity.facts, *self.entity.derived, *self.entity.outcomes, *self.param_types]
