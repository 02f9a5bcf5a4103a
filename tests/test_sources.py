"""The law behind every answer: the source register, citations by id, and no output that
names a source of the project's own making ("Seed", "domain.md", "Offene Frage", ...)."""

import re
import shutil
from pathlib import Path

import openpyxl
import pytest
import yaml
from click.testing import CliRunner

from eligibility import Engine
from eligibility.apps.cases import load_case
from eligibility.apps.docs import render_docs
from eligibility.cli.main import main
from eligibility.source.citations import KIND_LABELS, Cited, localize

ROOT = Path(__file__).resolve().parents[1]
ENGINE = Engine.load()
GOEPPINGEN = Engine.load(overlays=[ROOT / "rules" / "overlays" / "goeppingen.yaml"])
CASES = sorted((ROOT / "cases").rglob("*.yaml"))

# Words that name the project's own working material, never a document a court can look up.
NON_CITATIONS = re.compile(
    r"\bSeeds?\b|domain\.md|Offene Frage|Open question|Standard des Regelwerks|"
    r"Produktentscheidung|[Pp]roduct decision|Abschnitt 4\b",
    re.I,
)


def _every_source(engine: Engine):
    """(where, source) for every place a rule set cites: rules, outcomes, defaults, derived
    facts, parameter versions, amendments and overlays."""
    model = engine.compiled.model
    for ename in engine.entities:
        ent = engine.entity(ename)
        for oid, oc in ent.outcomes.items():
            yield f"{ename}/{oid}", oc.spec.source
            if oc.spec.default is not None:
                yield f"{ename}/{oid}/default", oc.spec.default.source
            for r in oc.rules:
                yield f"{ename}/{oid}/{r.id}", r.spec.source
        for name, d in ent.derived.items():
            yield f"{ename}/derived/{name}", d.spec.source
    for name, p in model.parameters.items():
        for v in p.versions:
            yield f"parameter/{name}/{v.valid_from}", v.source
    for a in model.amendments:
        yield f"amendment/{a.date}", a.source
    for o in model.overlays:
        yield f"overlay/{o.name}", o.source


@pytest.mark.parametrize("engine", [ENGINE, GOEPPINGEN], ids=["rules", "goeppingen"])
def test_every_citation_resolves_to_the_register(engine):
    register = engine.compiled.model.sources
    assert len(register) >= 20
    for where, src in _every_source(engine):
        assert isinstance(src, Cited) and src.refs, f"{where} cites no register entry: {src!r}"
        for ref in src.refs:
            assert ref.id in register, where
        # the printed citation says what kind of source each part is
        for kind in src.kinds(register):
            assert f"[{KIND_LABELS[kind][0]}]" in src, where


def test_register_entries_are_cited_and_complete():
    model = ENGINE.compiled.model
    used = {ref.id for _, src in _every_source(ENGINE) for ref in src.refs}
    assert set(model.sources) == used, f"never cited: {sorted(set(model.sources) - used)}"
    for sid, spec in model.sources.items():
        assert spec.issuer and spec.title and spec.cite_as, sid
        assert not NON_CITATIONS.search(f"{spec.issuer} {spec.title} {spec.cite_as}"), sid


def test_a_citation_prints_pinpoint_document_and_kind_in_both_languages():
    d = ENGINE.decide(
        {"aufenthaltsstatus": "fluechtling", "aufenthaltstitel_datum": "2017-01-01", "unterbringung": "anschluss"},
        on="2018-09-15",
    )
    assert d.outcomes["anschlussunterbringung"].source == "§ 9 Abs. 1 Nr. 3 FlüAG [Gesetz]"
    assert d.outcomes["anschlussunterbringung"].reason.en.endswith("(§ 9 Abs. 1 Nr. 3 FlüAG [statute])")
    assert (
        localize("VwV Integrationsmanagement vom 11.12.2017 [Verwaltungsvorschrift]", "en")
        == "VwV Integrationsmanagement vom 11.12.2017 [administrative regulation]"
    )
    prio = d.outcomes["prioritaet"]
    assert "[Verwaltungspraxis eines Kreises]" in prio.source and "[Annahme des Regelwerks]" in prio.source


def _decisions():
    for path in CASES:
        case = load_case(path)
        engine = GOEPPINGEN if case.overlays else ENGINE
        yield path.name, engine, engine.decide(case.record, case.on, entity=case.entity, explain=True)


def test_no_output_of_the_shipped_rules_names_a_non_citation(tmp_path):
    texts: list[tuple[str, str]] = []
    for name, engine, d in _decisions():
        texts.append((f"{name} json", d.to_json()))
        for lang in ("de", "en"):
            for fmt in ("text", "markdown"):
                texts.append((f"{name} {fmt} {lang}", engine.render(d, fmt, lang, detail=True)))
    texts.append(("docs/rules.md", (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")))
    texts.append(("rules html", render_docs(ENGINE, "html")))
    texts.append(("rules en", render_docs(ENGINE, "markdown", "en")))
    example = ROOT / "examples" / "ukraine_in_gu.yaml"
    html = tmp_path / "t.html"
    r = CliRunner().invoke(main, ["timeline", str(example), "--format", "html", "--out", str(html)])
    assert r.exit_code == 0, r.output
    texts.append(("timeline html", html.read_text(encoding="utf-8")))
    roster = tmp_path / "roster.csv"
    shutil.copy(ROOT / "examples" / "roster_landkreis_beispiel.csv", roster)
    report = tmp_path / "bericht.html"
    r = CliRunner().invoke(main, ["report", str(roster), "--on", "2018-09-15", "--out", str(report)])
    assert r.exit_code in (0, 1), r.output
    texts.append(("report html", report.read_text(encoding="utf-8")))
    xlsx = tmp_path / "ergebnis.xlsx"
    r = CliRunner().invoke(main, ["evaluate", str(roster), "--on", "2018-09-15", "--out", str(xlsx)])
    assert r.exit_code in (0, 1), r.output
    wb = openpyxl.load_workbook(xlsx, read_only=True)
    cells = " ".join(str(c) for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for c in row if c)
    texts.append(("evaluate xlsx", cells))
    r = CliRunner().invoke(main, ["applied", "--on", "2022-06-01"])
    texts.append(("applied", r.output))
    for where, text in texts:
        m = NON_CITATIONS.search(text)
        assert m is None, f"{where}: '{m.group(0)}' near …{text[max(0, m.start() - 80) : m.end() + 40]}…"


def test_rule_files_do_not_point_outside_the_repository():
    for path in (ROOT / "rules").rglob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        assert "../shared" not in text and not NON_CITATIONS.search(text), path


def test_docs_end_with_the_register_as_bibliography():
    text = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    tail = text[text.index('## <a id="quellen"></a>Quellenverzeichnis') :]
    for spec in ENGINE.compiled.model.sources.values():
        assert spec.cite_as.replace("|", "\\|") in tail


def test_validate_checks_overlays_under_the_rule_set(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    (rules / "overlays" / "kaputt.yaml").write_text(
        "overlay:\n  name: kaputt\n  label: {de: Kaputt}\n  source: {id: lra_goepingen_2018}\n"
        "parameters:\n  option_im_beratung_in_gu:\n    versions:\n      - valid_from: 2014-01-01\n"
        "        value: true\n        source: {id: lra_goeppingen_2018}\n",
        encoding="utf-8",
    )
    r = CliRunner().invoke(main, ["validate", str(rules), "--lang", "en"])  # the English message ids
    assert r.exit_code == 1, r.output
    assert "kaputt.yaml:4:11: E026 error: source id 'lra_goepingen_2018' is not in the source register" in r.output
    assert "hint: did you mean 'lra_goeppingen_2018'?" in r.output
    (rules / "overlays" / "kaputt.yaml").unlink()
    r = CliRunner().invoke(main, ["validate", str(rules)])
    assert r.exit_code == 0 and "ist in Ordnung" in r.output


def test_a_free_text_source_in_a_rule_set_with_a_register_is_refused(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    path = rules / "person" / "anschlussunterbringung.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace('source: {id: flueag, at: "§ 9 Abs. 1 Nr. 3"}', 'source: "§ 9 Abs. 1 Nr. 3 FlüAG"', 1),
        encoding="utf-8",
    )
    r = CliRunner().invoke(main, ["validate", str(rules), "--lang", "en"])  # the English message ids
    assert r.exit_code == 1 and "E027 error" in r.output and "anschlussunterbringung.yaml:" in r.output


def test_register_yaml_is_plain_data():
    data = yaml.safe_load((ROOT / "rules" / "sources.yaml").read_text(encoding="utf-8"))
    kinds = {v["kind"] for v in data["sources"].values()}
    assert kinds <= set(KIND_LABELS)
    assert {"gesetz", "verwaltungsvorschrift", "erlass", "amtlich", "praxis", "presse", "annahme"} <= kinds
