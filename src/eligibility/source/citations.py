"""The source register: every document a rule set rests on, and citations of it.

A rule file cites a source by its register id with a pinpoint (`{id: flueag, at: "§ 9 Abs. 1
Nr. 3"}`); the loader resolves the id against the register and keeps the citation as a
`Cited` string, the full German citation with its kind ("§ 9 Abs. 1 Nr. 3 FlüAG [Gesetz]").
Being a `str`, a citation travels unchanged into decisions, texts, spreadsheets and docs,
while `Cited.refs` keeps the register ids for checks, coverage and the bibliography."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import GetCoreSchemaHandler, ValidationInfo
from pydantic_core import PydanticCustomError, core_schema

SourceKind = Literal[
    "gesetz",
    "verordnung",
    "verwaltungsvorschrift",
    "erlass",
    "amtlich",
    "rechtsprechung",
    "praxis",
    "presse",
    "annahme",
]

KIND_LABELS: dict[str, tuple[str, str]] = {
    "gesetz": ("Gesetz", "statute"),
    "verordnung": ("Verordnung", "ordinance"),
    "verwaltungsvorschrift": ("Verwaltungsvorschrift", "administrative regulation"),
    "erlass": ("Erlass", "decree"),
    "amtlich": ("amtliche Veröffentlichung", "official publication"),
    "rechtsprechung": ("Gerichtsentscheidung", "court decision"),
    "praxis": ("Verwaltungspraxis eines Kreises", "practice of one county"),
    "presse": ("Presse/Sekundärquelle", "press or secondary source"),
    "annahme": ("Annahme des Regelwerks", "assumption of the rule set"),
}

# Kinds that bind or document the administration's own position; an outcome resting only on
# the others (practice, press, assumptions) is worth a warning.
PRIMARY_KINDS = frozenset({"gesetz", "verordnung", "verwaltungsvorschrift", "erlass", "amtlich", "rechtsprechung"})
# Norms are cited pinpoint first ("§ 9 Abs. 1 FlüAG"); documents name themselves first.
_PINPOINT_FIRST = frozenset({"gesetz", "verordnung"})


@dataclasses.dataclass(frozen=True)
class Ref:
    id: str
    at: str | None = None


@dataclasses.dataclass(frozen=True)
class RegisterEntry:
    """What a citation needs of a register entry (the pydantic `SourceSpec` in model.py)."""

    kind: str
    cite_as: str


def kind_label(kind: str, lang: str = "de") -> str:
    de, en = KIND_LABELS.get(kind, (kind, kind))
    return en if lang == "en" else de


def format_ref(ref: Ref, entry: RegisterEntry | None, lang: str = "de") -> str:
    if entry is None:
        return f"{ref.at} {ref.id}".strip() if ref.at else ref.id
    if not ref.at:
        body = entry.cite_as
    elif entry.kind in _PINPOINT_FIRST:
        body = f"{ref.at} {entry.cite_as}"
    else:
        body = f"{entry.cite_as}, {ref.at}"
    return f"{body} [{kind_label(entry.kind, lang)}]"


def format_refs(refs: tuple[Ref, ...], register: Mapping[str, RegisterEntry], lang: str = "de") -> str:
    return "; ".join(format_ref(r, register.get(r.id), lang) for r in refs)


class Cited(str):
    """A source as written in a rule file: the formatted citation (German), with the
    register ids it cites in `refs` (empty for free text in a rule set without a register)."""

    refs: tuple[Ref, ...] = ()

    @classmethod
    def make(cls, text: str, refs: tuple[Ref, ...] = ()) -> Cited:
        c = cls(text)
        c.refs = refs
        return c

    def kinds(self, register: Mapping[str, Any]) -> set[str]:
        return {register[r.id].kind for r in self.refs if r.id in register}

    def text(self, register: Mapping[str, RegisterEntry], lang: str = "de") -> str:
        """The citation in `lang` (the string itself is the German one)."""
        return format_refs(self.refs, register, lang) if self.refs and lang != "de" else str(self)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.with_info_plain_validator_function(
            cls._validate,
            serialization=core_schema.to_string_ser_schema(),
            json_schema_input_schema=core_schema.union_schema(
                [
                    core_schema.str_schema(),
                    core_schema.typed_dict_schema(
                        {
                            "id": core_schema.typed_dict_field(core_schema.str_schema()),
                            "at": core_schema.typed_dict_field(core_schema.str_schema(), required=False),
                        }
                    ),
                    core_schema.list_schema(
                        core_schema.typed_dict_schema(
                            {
                                "id": core_schema.typed_dict_field(core_schema.str_schema()),
                                "at": core_schema.typed_dict_field(core_schema.str_schema(), required=False),
                            }
                        )
                    ),
                ]
            ),
        )

    @classmethod
    def _validate(cls, value: Any, info: ValidationInfo) -> Cited:
        if isinstance(value, Cited):
            return value
        register: Mapping[str, RegisterEntry] | None = (info.context or {}).get("register") if info.context else None
        if isinstance(value, str):
            if register:
                raise PydanticCustomError(
                    "source_not_cited",
                    "the source '{text}' is free text, but this rule set has a source register",
                    {"text": value[:60]},
                )
            return cls.make(value)
        items = [value] if isinstance(value, dict) else value
        if not isinstance(items, list) or not items:
            raise PydanticCustomError("source_shape", "a source is {{id: ..., at: ...}} or a list of them", {})
        refs: list[Ref] = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str) or set(item) - {"id", "at"}:
                raise PydanticCustomError("source_shape", "a source is {{id: ..., at: ...}} or a list of them", {})
            at = item.get("at")
            if at is not None and not isinstance(at, (str, int)):
                raise PydanticCustomError("source_shape", "'at' is the pinpoint as text, e.g. \"§ 9 Abs. 1\"", {})
            if register is not None and item["id"] not in register:
                raise PydanticCustomError(
                    "unknown_source",
                    "source id '{id}' is not in the register",
                    {"id": item["id"], "known": ",".join(sorted(register))},
                )
            refs.append(Ref(item["id"], str(at) if at is not None else None))
        t = tuple(refs)
        return cls.make(format_refs(t, register or {}), t)


def localize(text: str | None, lang: str) -> str:
    """A citation as stored (German kind labels) in `lang`: only the kind in brackets
    changes, since the documents keep their German names."""
    if not text:
        return ""
    if lang == "de":
        return text
    for de, en in KIND_LABELS.values():
        text = text.replace(f"[{de}]", f"[{en}]")
    return text


def date_text(value: dt.date | int | None) -> str:
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else value.strftime("%d.%m.%Y")
