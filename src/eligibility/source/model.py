"""The validated shape of rule files (pydantic). Unknown keys are errors, so a typo in
a key never silently drops a rule."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from eligibility.source.citations import Cited, SourceKind

FactType = Literal["bool", "int", "decimal", "date", "enum", "text", "list"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Strict):
    """A label or text in German and English. German is required: it is the language
    of the law and of the caseworkers."""

    de: str
    en: str = ""

    def get(self, lang: str) -> str:
        return (self.en or self.de) if lang == "en" else self.de


class Manifest(_Strict):
    name: str
    version: str
    jurisdiction: str
    title: Text
    valid_from: dt.date
    valid_to: dt.date | None = None
    default_entity: str = "person"
    description: Text | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, (int, float)) else v


class SourceSpec(_Strict):
    """One document of the source register: what a caseworker or a court can look up."""

    kind: SourceKind
    issuer: str
    title: str
    # How citations name it, after or before the pinpoint: "FlüAG", "VwV Integrationsmanagement vom 11.12.2017".
    cite_as: str
    # A day, or a year where only the year is known.
    date: dt.date | int | None = None
    # Where to find it: a gazette, a URL, a file number.
    locator: str | None = None
    note: Text | None = None


class Amendment(_Strict):
    """A dated change of the law that the rule set records, even where its content is
    not (yet) encoded: the history stays visible."""

    date: dt.date
    title: Text
    source: Cited
    note: Text | None = None
    encoded: bool = True


class FactSpec(_Strict):
    type: FactType
    label: Text
    question: Text
    values: list[str] | None = None
    value_labels: dict[str, Text] | None = None
    item_type: FactType | None = None
    event: bool = False
    id: bool = False
    pattern: str | None = None
    aliases: list[str] = Field(default_factory=list)
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    source: Cited | None = None
    # Read by reports and tools (e.g. the Gemeinde for counts), not by rules.
    informational: bool = False
    # How people write the values, besides the code and the labels: per value (an enum
    # value, or for a fact with `format` the canonical code) the forms a roster may hold.
    # Matched in any case, with or without umlauts, spaces folded (records.fold); two
    # values claiming one form are a load-time error (E028).
    forms: dict[str, list[str]] | None = None
    # A named reading of a text fact: iso3166_alpha3 accepts alpha-3 codes and German and
    # English country names (ISO 3166 via pycountry) and stores the alpha-3 code.
    format: Literal["iso3166_alpha3"] | None = None

    @model_validator(mode="after")
    def _check(self) -> FactSpec:
        if self.forms is not None:
            if self.type == "enum":
                unknown = sorted(set(self.forms) - set(self.values or ()))
                if unknown:
                    raise ValueError(f"'forms' names values the fact does not have: {', '.join(unknown)}")
            elif not self.format:
                raise ValueError("'forms' is only for enum facts and facts with a 'format'")
        if self.format and self.type != "text":
            raise ValueError("'format' is only for text facts")
        if self.type == "enum" and not self.values:
            raise ValueError("an enum fact needs 'values'")
        if self.type != "enum" and self.values:
            raise ValueError("'values' is only for enum facts")
        if self.event and self.type != "date":
            raise ValueError("only date facts can be event dates ('event: true')")
        if self.type == "list" and not self.item_type:
            raise ValueError("a list fact needs 'item_type'")
        return self


ParamValue = bool | int | Decimal | dt.date | str | list[bool | int | Decimal | dt.date | str]


class ParameterVersion(_Strict):
    valid_from: dt.date
    valid_to: dt.date | None = None
    value: ParamValue
    source: Cited
    assumption: bool = False
    note: Text | None = None


class ParameterSpec(_Strict):
    type: FactType
    label: Text
    unit: str | None = None
    item_type: FactType | None = None
    description: Text | None = None
    versions: list[ParameterVersion]
    # A setting a county may switch in an overlay: checks consider every value.
    option: bool = False
    # Read by tools (allocation, reports), not by rules.
    informational: bool = False


class DerivedSpec(_Strict):
    label: Text
    # The label when the fact does not hold, for explanations: a label such as "noch nicht
    # aufgenommen" cannot be negated by putting "nicht" in front of it.
    label_false: Text | None = None
    expr: str
    source: Cited | None = None
    assumption: bool = False
    note: Text | None = None


class RuleSpec(_Strict):
    id: str
    label: Text
    # What explanations say when the rule's condition does not hold ("nicht eingebürgert"):
    # an exclusion's label negated mechanically would read as a double negative.
    label_false: Text | None = None
    source: Cited | None = None
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    when: str | bool = True
    then: bool | int | Decimal | str | None = None
    compute: str | None = None
    overrides: list[str] | Literal["all"] = Field(default_factory=list)
    assumption: bool = False
    note: Text | None = None

    @model_validator(mode="after")
    def _check(self) -> RuleSpec:
        if (self.then is None) == (self.compute is None):
            raise ValueError("a rule needs exactly one of 'then' (a value) or 'compute' (an expression)")
        return self


class DefaultSpec(_Strict):
    value: bool | int | Decimal | str
    label: Text
    source: Cited | None = None


class OutcomeSpec(_Strict):
    type: Literal["bool", "enum", "decimal", "int"]
    label: Text
    values: list[str] | None = None
    value_labels: dict[str, Text] | None = None
    unit: str | None = None
    source: Cited | None = None
    description: Text | None = None
    default: DefaultSpec | None = None
    rules: list[RuleSpec]
    # The period the outcome is meant to be decided in (default: the rule set's range).
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None

    @model_validator(mode="after")
    def _check(self) -> OutcomeSpec:
        if self.type == "enum" and not self.values:
            raise ValueError("an enum outcome needs 'values'")
        return self


class OverlaySpec(_Strict):
    name: str
    label: Text
    source: Cited
    note: Text | None = None


class ParameterOverride(_Strict):
    versions: list[ParameterVersion]


class RuleFile(_Strict):
    """One YAML file of a rule set. A file may hold any of these sections; the loader
    merges them, so the layout of files is the editors' choice."""

    ruleset: Manifest | None = None
    sources: dict[str, SourceSpec] | None = None
    amendments: list[Amendment] | None = None
    parameters: dict[str, ParameterSpec] | None = None
    entity: str | None = None
    label: Text | None = None
    id_field: str | None = None
    facts: dict[str, FactSpec] | None = None
    derived: dict[str, DerivedSpec] | None = None
    outcomes: dict[str, OutcomeSpec] | None = None

    @model_validator(mode="after")
    def _check(self) -> RuleFile:
        if (self.facts or self.derived or self.outcomes or self.id_field or self.label) and not self.entity:
            raise ValueError(
                "facts, derived facts and outcomes belong to a record type: add 'entity: person' (or the record type's name)"
            )
        return self


class SourceRegisterFile(BaseModel):
    """The register section of a file, read before everything else: citations need it."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    sources: dict[str, SourceSpec]


class OverlayFile(_Strict):
    """A county's overlay: replaces parameter histories (e.g. switches an option on)
    without copying the rule set."""

    overlay: OverlaySpec
    parameters: dict[str, ParameterOverride] = Field(default_factory=dict)


def rule_file_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a rule file or a county overlay, generated from the
    models above, so that YAML editors complete and check keys (yaml-language-server)."""
    from pydantic.json_schema import models_json_schema

    _, defs = models_json_schema(
        [(RuleFile, "validation"), (OverlayFile, "validation")], ref_template="#/$defs/{model}"
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "eligibility rule file or overlay",
        "description": "A file of a rule set folder (rules/*.yaml) or of its overlays/ folder.",
        "anyOf": [{"$ref": "#/$defs/RuleFile"}, {"$ref": "#/$defs/OverlayFile"}],
        "$defs": defs["$defs"],
    }
