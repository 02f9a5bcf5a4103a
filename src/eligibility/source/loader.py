"""Load a rule set directory (and optional county overlays) into one validated model.

Files are read in sorted order and merged by name, so neither the order of files
nor of keys changes the result; every definition remembers its file and YAML path
for diagnostics."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from eligibility.diagnostics import Diagnostic, RuleSetError, did_you_mean
from eligibility.source.citations import RegisterEntry
from eligibility.source.model import (
    Amendment,
    DerivedSpec,
    FactSpec,
    Manifest,
    OutcomeSpec,
    OverlayFile,
    OverlaySpec,
    ParameterSpec,
    RuleFile,
    SourceRegisterFile,
    SourceSpec,
    Text,
)
from eligibility.source.safe_yaml import LoadedFile, load_yaml, read_rule_file

OVERLAY_DIR = "overlays"


@dataclasses.dataclass
class Origin:
    file: LoadedFile
    path: tuple[Any, ...]

    def diagnostic(
        self,
        code: str,
        message: str,
        sub: tuple[Any, ...] = (),
        hint: str = "",
        column_offset: int = 0,
        key: bool = False,
    ) -> Diagnostic:
        return self.file.diagnostic(code, message, self.path + sub, hint, key=key, column_offset=column_offset)


@dataclasses.dataclass
class EntityModel:
    name: str
    label: Text | None = None
    id_field: str | None = None
    facts: dict[str, FactSpec] = dataclasses.field(default_factory=dict)
    derived: dict[str, DerivedSpec] = dataclasses.field(default_factory=dict)
    outcomes: dict[str, OutcomeSpec] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class RuleSetModel:
    root: str
    manifest: Manifest
    amendments: list[Amendment]
    parameters: dict[str, ParameterSpec]
    entities: dict[str, EntityModel]
    overlays: list[OverlaySpec]
    files: list[str]
    sha256: str
    origins: dict[tuple[Any, ...], Origin]
    manifest_origin: Origin | None = None
    # The source register (id -> document); empty for a rule set that cites in free text.
    sources: dict[str, SourceSpec] = dataclasses.field(default_factory=dict)
    # The bytes that were hashed, as (name, bytes): rule files by their path in the rule set,
    # overlays as "overlay:<file name>". The decision log stores them as the rule set's
    # snapshot, so that the hash and the files can never come from two different moments.
    raw_files: tuple[tuple[str, bytes], ...] = ()

    def origin(self, *key: Any) -> Origin | None:
        return self.origins.get(tuple(key))


def _form_collisions(lf: LoadedFile, name: str, spec: FactSpec) -> list[Diagnostic]:
    """A written form that two values claim: a roster cell in that form has no answer."""
    from eligibility.source.forms import collisions

    return [
        lf.diagnostic(
            "E028",
            f"fact '{name}': '{later.text}' is a form of both '{first.value}' and '{later.value}'",
            ("facts", name) + later.where,
            "forms match in any case and with or without umlauts and spaces; give each form to one value",
        )
        for first, later in collisions(spec)
    ]


def _pydantic_diagnostics(exc: ValidationError, lf: LoadedFile, model_fields: set[str]) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        # pydantic adds union-member names and "function-after" markers to loc; keep
        # only the parts that are real keys or indexes of the YAML data.
        clean: list[Any] = []
        node: Any = lf.data
        for part in loc:
            real = (
                isinstance(node, dict)
                and part in node
                or isinstance(node, list)
                and isinstance(part, int)
                and 0 <= part < len(node)
            )
            if real:
                clean.append(part)
                node = node[part]
        etype = err.get("type", "")
        last = loc[-1] if loc else ""
        if etype == "unknown_source":
            ctx = err.get("ctx", {})
            hint = did_you_mean(str(ctx.get("id", "")), str(ctx.get("known", "")).split(","))
            diags.append(
                lf.diagnostic(
                    "E026",
                    f"source id '{ctx.get('id', '')}' is not in the source register",
                    tuple(clean),
                    hint or "add the document to the register (sources.yaml) first",
                )
            )
            continue
        if etype == "source_not_cited":
            diags.append(
                lf.diagnostic(
                    "E027",
                    str(err.get("msg", "")),
                    tuple(clean),
                    'cite a document of the register by its id: source: {id: ..., at: "§ ..."}',
                )
            )
            continue
        if etype == "extra_forbidden":
            parent: Any = lf.data
            for part in clean[:-1]:
                parent = parent[part] if isinstance(parent, (dict, list)) else None
            allowed = _allowed_keys(exc, clean[:-1])
            hint = did_you_mean(str(last), allowed) if allowed else ""
            diags.append(
                lf.diagnostic(
                    "E004",
                    f"unknown key '{last}'",
                    tuple(clean),
                    hint or (f"allowed here: {', '.join(sorted(allowed))}" if allowed else ""),
                    key=True,
                )
            )
        elif etype == "missing":
            diags.append(lf.diagnostic("E005", f"missing required key '{last}'", tuple(clean), f"add '{last}:' here"))
        elif etype.startswith("date"):
            diags.append(
                lf.diagnostic(
                    "E007",
                    f"'{last}' is not a valid date",
                    tuple(clean),
                    "write dates as YYYY-MM-DD, and check the day exists",
                )
            )
        elif etype == "value_error":
            msg = str(err.get("msg", "")).removeprefix("Value error, ")
            diags.append(lf.diagnostic("E006", msg, tuple(clean)))
        elif etype == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            diags.append(lf.diagnostic("E006", f"'{last}' must be one of {expected}", tuple(clean)))
        elif etype == "string_type" and isinstance(err.get("input"), bool):
            diags.append(
                lf.diagnostic(
                    "E006",
                    f"'{last}' must be text, but YAML read a yes/no value",
                    tuple(clean),
                    'YAML reads no, yes, on, off as true/false: put the text in quotes ("no")',
                )
            )
        else:
            what = ".".join(str(p) for p in clean) or "file"
            diags.append(
                lf.diagnostic("E006", f"{what}: {err.get('msg', 'wrong type')}", tuple(clean), _type_hint(etype))
            )
    # One error per place is enough: pydantic reports each union member separately.
    seen: set[tuple[str, int, int, str]] = set()
    out = []
    for d in diags:
        k = (d.code, d.line, d.column, d.message.split(":")[0])
        if k not in seen:
            seen.add(k)
            out.append(d)
    return out


_KEYS_CACHE: dict[str, set[str]] = {}


def _allowed_keys(exc: ValidationError, clean_parent: list[Any]) -> set[str]:
    """The keys allowed at the error's place, found by walking the file model."""
    from eligibility.source import model as m

    cls: Any = getattr(m, exc.title, None)
    if cls is None:
        return set()
    for part in clean_parent:
        if cls is None:
            return set()
        if isinstance(part, int):
            continue
        fields = getattr(cls, "model_fields", {})
        if part in fields:
            cls = _inner_model(fields[part].annotation)
        else:
            # a dict of models keyed by name: stay on the value model
            cls = cls if not fields else cls
    return set(getattr(cls, "model_fields", {}) or {})


def _inner_model(annotation: Any) -> Any:
    import typing

    from pydantic import BaseModel

    stack = [annotation]
    while stack:
        a = stack.pop()
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
        stack.extend(typing.get_args(a))
    return None


def _type_hint(etype: str) -> str:
    if etype.startswith("bool"):
        return "write true or false"
    if etype.startswith("int") or etype.startswith("decimal"):
        return "write a number"
    if etype.startswith("string"):
        return "write text (quote it if it starts with a special character)"
    if etype.startswith("list"):
        return "write a list: one '- item' per line"
    if etype.startswith("dict") or etype.startswith("model"):
        return "write a mapping: 'key: value' lines"
    return ""


def _rule_files(root: Path) -> list[Path]:
    files = [p for p in root.rglob("*.yaml") if OVERLAY_DIR not in p.relative_to(root).parts[:-1]]
    files += [p for p in root.rglob("*.yml") if OVERLAY_DIR not in p.relative_to(root).parts[:-1]]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


OVERLAY_PREFIX = "overlay:"


def ruleset_digest(raw_files: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...]) -> str:
    """The rule set's SHA-256 over its files in load order (rule files sorted by path, then
    overlays in the order given). The one definition of the hash: `load_model` and the
    decision log's snapshots both compute it here."""
    digest = hashlib.sha256()
    for name, raw in raw_files:
        if name.startswith(OVERLAY_PREFIX):
            digest.update(b"overlay:" + name[len(OVERLAY_PREFIX) :].encode() + b"\0" + raw + b"\0")
        else:
            digest.update(name.encode() + b"\0" + raw + b"\0")
    return digest.hexdigest()


def load_model(root: str | Path, overlays: list[str | Path] | tuple[str | Path, ...] = ()) -> RuleSetModel:
    """Read and validate every rule file; raise RuleSetError with all diagnostics."""
    root_path = Path(root)
    if not root_path.is_dir():
        raise RuleSetError(
            [
                Diagnostic(
                    "E020",
                    f"rule set directory '{root}' does not exist",
                    str(root),
                    hint="pass the folder that holds ruleset.yaml",
                )
            ]
        )
    diags: list[Diagnostic] = []
    hashed: list[tuple[str, bytes]] = []
    shown_files: list[str] = []
    manifest: Manifest | None = None
    manifest_origin: Origin | None = None
    amendments: list[Amendment] = []
    parameters: dict[str, ParameterSpec] = {}
    entities: dict[str, EntityModel] = {}
    origins: dict[tuple[Any, ...], Origin] = {}

    def shown(p: Path) -> str:
        try:
            return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
        except ValueError:
            return str(p)

    loaded: list[LoadedFile] = []
    for path in _rule_files(root_path):
        rel = path.relative_to(root_path).as_posix()
        raw, file_diags = read_rule_file(path, shown(path))
        shown_files.append(rel)
        if raw is None:
            diags.extend(file_diags)
            continue
        hashed.append((rel, raw))
        lf, file_diags = load_yaml(path, shown(path), raw)
        diags.extend(file_diags)
        if lf is None or file_diags:
            continue
        if lf.data is None:
            continue
        if not isinstance(lf.data, dict):
            diags.append(
                lf.diagnostic(
                    "E006",
                    "a rule file must be a mapping of sections",
                    (),
                    "start with 'entity:', 'parameters:' or 'ruleset:'",
                )
            )
            continue
        loaded.append(lf)
    # The register first: every citation in every file is resolved against it.
    sources, source_files, source_diags, broken, broken_ids = _register(loaded)
    diags.extend(source_diags)
    # Ids of broken entries stay citable (already reported): the rule set does not load anyway.
    context = {"register": {**{i: RegisterEntry("annahme", i) for i in broken_ids}, **sources}}
    for lf in loaded:
        if lf.path in broken:
            continue
        try:
            rf = RuleFile.model_validate(lf.data, context=context)
        except ValidationError as exc:
            diags.extend(_pydantic_diagnostics(exc, lf, set()))
            continue
        if rf.ruleset is not None:
            if manifest is not None:
                diags.append(
                    lf.diagnostic(
                        "E020",
                        "a second 'ruleset:' manifest",
                        ("ruleset",),
                        "a rule set has exactly one manifest",
                        key=True,
                    )
                )
            else:
                manifest = rf.ruleset
                manifest_origin = Origin(lf, ("ruleset",))
                if manifest.valid_to is not None and manifest.valid_to < manifest.valid_from:
                    diags.append(
                        manifest_origin.diagnostic(
                            "E018",
                            f"the rule set ends ({manifest.valid_to}) before it starts ({manifest.valid_from})",
                            ("valid_to",),
                            "check valid_from and valid_to of the manifest",
                        )
                    )
        if rf.amendments:
            amendments.extend(rf.amendments)
        for name, spec in (rf.parameters or {}).items():
            if name in parameters:
                diags.append(
                    lf.diagnostic(
                        "E008",
                        f"parameter '{name}' is defined twice",
                        ("parameters", name),
                        f"first in {origins[('parameter', name)].file.path}",
                        key=True,
                    )
                )
                continue
            parameters[name] = spec
            origins[("parameter", name)] = Origin(lf, ("parameters", name))
        if rf.entity:
            ent = entities.setdefault(rf.entity, EntityModel(rf.entity))
            if rf.label:
                ent.label = rf.label
            if rf.id_field:
                ent.id_field = rf.id_field
            for section, target, kind in (
                ("facts", ent.facts, "fact"),
                ("derived", ent.derived, "derived"),
                ("outcomes", ent.outcomes, "outcome"),
            ):
                for name, spec in (getattr(rf, section) or {}).items():
                    key = (kind, rf.entity, name)
                    if name in target:
                        diags.append(
                            lf.diagnostic(
                                "E008",
                                f"{kind} '{name}' is defined twice",
                                (section, name),
                                f"first in {origins[key].file.path}",
                                key=True,
                            )
                        )
                        continue
                    target[name] = spec
                    origins[key] = Origin(lf, (section, name))
                    if kind == "fact":
                        diags.extend(_form_collisions(lf, name, spec))
                    if kind == "outcome":
                        for i, rule in enumerate(spec.rules):
                            rkey = ("rule", rf.entity, rule.id)
                            if rkey in origins:
                                diags.append(
                                    lf.diagnostic(
                                        "E008",
                                        f"rule id '{rule.id}' is used twice",
                                        (section, name, "rules", i, "id"),
                                        f"first in {origins[rkey].file.path}",
                                    )
                                )
                                continue
                            origins[rkey] = Origin(lf, (section, name, "rules", i))
    overlay_specs: list[OverlaySpec] = []
    for ov in overlays:
        ov_path = Path(ov)
        raw, file_diags = read_rule_file(ov_path, shown(ov_path))
        if raw is None:
            diags.extend(file_diags)
            continue
        hashed.append((OVERLAY_PREFIX + ov_path.name, raw))
        lf, file_diags = load_yaml(ov_path, shown(ov_path), raw)
        diags.extend(file_diags)
        if lf is None or file_diags:
            continue
        try:
            of = OverlayFile.model_validate(lf.data, context=context)
        except ValidationError as exc:
            diags.extend(_pydantic_diagnostics(exc, lf, set()))
            continue
        overlay_specs.append(of.overlay)
        shown_files.append(f"overlay:{ov_path.name}")
        for name, override in of.parameters.items():
            if name not in parameters:
                diags.append(
                    lf.diagnostic(
                        "E022",
                        f"overlay sets parameter '{name}', which the rule set does not have",
                        ("parameters", name),
                        did_you_mean(name, list(parameters)),
                        key=True,
                    )
                )
                continue
            parameters[name] = parameters[name].model_copy(update={"versions": override.versions})
            origins[("parameter", name)] = Origin(lf, ("parameters", name))
    # Only when no file has a manifest at all: one that failed validation is reported already.
    has_manifest_key = any(isinstance(lf.data, dict) and "ruleset" in lf.data for lf in loaded)
    if manifest is None and not has_manifest_key and not any(d.code == "E001" for d in diags):
        diags.append(
            Diagnostic(
                "E020",
                "no 'ruleset:' manifest found",
                str(root),
                hint="add a ruleset.yaml with name, version, jurisdiction, title and valid_from",
            )
        )
    if diags:
        raise RuleSetError(diags)
    assert manifest is not None
    for name in sources:
        origins.setdefault(("source", name), Origin(source_files[name], ("sources", name)))
    return RuleSetModel(
        str(root_path),
        manifest,
        sorted(amendments, key=lambda a: a.date),
        parameters,
        entities,
        overlay_specs,
        shown_files,
        ruleset_digest(hashed),
        origins,
        manifest_origin,
        sources,
        tuple(hashed),
    )


def _register(
    files: list[LoadedFile],
) -> tuple[dict[str, SourceSpec], dict[str, LoadedFile], list[Diagnostic], set[str], set[str]]:
    """The source register from every file's `sources:` section, entry by entry: a broken
    entry is reported once here and drops only itself (its id stays citable, so one typo
    in the register does not turn every citation of it into a second error). Returns the
    register, where each entry stands, the diagnostics, the files whose section is not a
    mapping at all, and the ids of broken entries."""
    sources: dict[str, SourceSpec] = {}
    source_files: dict[str, LoadedFile] = {}
    diags: list[Diagnostic] = []
    broken: set[str] = set()
    broken_ids: set[str] = set()
    for lf in files:
        if not isinstance(lf.data, dict) or "sources" not in lf.data:
            continue
        section = lf.data["sources"]
        entries = section.items() if isinstance(section, dict) else [(None, section)]
        for name, raw in entries:
            try:
                reg = SourceRegisterFile.model_validate({"sources": {name: raw} if name is not None else raw})
            except ValidationError as exc:
                diags.extend(_pydantic_diagnostics(exc, lf, set()))
                if name is None:
                    broken.add(lf.path)
                else:
                    broken_ids.add(str(name))
                continue
            for sid, spec in reg.sources.items():
                if sid in sources:
                    diags.append(
                        lf.diagnostic(
                            "E008",
                            f"source '{sid}' is defined twice",
                            ("sources", sid),
                            f"first in {source_files[sid].path}",
                            key=True,
                        )
                    )
                    continue
                sources[sid] = spec
                source_files[sid] = lf
    return sources, source_files, diags, broken, broken_ids
