"""A package people can deploy: the wheel carries the rules, the engine pickles and runs in
a process pool, Dask and Spark, and decide_table reads Arrow streams batch by batch."""

import concurrent.futures as cf
import datetime as dt
import functools
import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest

from eligibility import Engine, __version__

ROOT = Path(__file__).resolve().parents[1]
ENGINE = Engine.load()
ON = dt.date(2018, 9, 15)
RECORDS = [
    {
        "person_id": f"P{i}",
        "aufenthaltsstatus": s,
        "unterbringung": u,
        "zugang_bw_datum": z,
        "aufnahme_uab_datum": "2015-12-01",
        "aufenthaltstitel_datum": "2016-06-01" if i % 4 else None,
    }
    for i, (s, u, z) in enumerate(
        (s, u, z)
        for s in ("duldung", "fluechtling", "gestattung", "schutz_24")
        for u in ("anschluss", "vorlaeufig", "privat", "erstaufnahme")
        for z in ("2015-06-01", "2019-01-01")
    )
]


def _rows(table):
    return list(table.rows())


def test_engine_pickles_and_decides_the_same():
    clone = pickle.loads(pickle.dumps(ENGINE))
    assert clone.info == ENGINE.info
    for r in RECORDS:
        assert clone.decide(r, ON).to_json() == ENGINE.decide(r, ON).to_json()


def _decide_part(args):
    engine, part = args
    return _rows(engine.decide_table(part, ON))


def test_a_process_pool_gives_what_decide_table_gives():
    parts = [RECORDS[i : i + 8] for i in range(0, len(RECORDS), 8)]
    with cf.ProcessPoolExecutor(max_workers=2) as pool:
        got = [row for rows in pool.map(_decide_part, [(ENGINE, p) for p in parts]) for row in rows]
    assert got == _rows(ENGINE.decide_table(RECORDS, ON))


def test_dask_map_partitions_gives_what_decide_table_gives():
    dd = pytest.importorskip("dask.dataframe")
    import pandas as pd

    df = pd.DataFrame(RECORDS)
    expected = ENGINE.decide_table(df, ON).to_pandas()
    engine = ENGINE

    def decide(part):
        return engine.decide_table(part, ON).to_pandas()

    ddf = dd.from_pandas(df, npartitions=3)
    got = ddf.map_partitions(decide, meta=expected.iloc[:0]).compute(scheduler="processes")
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True))


def test_spark_map_in_arrow_gives_what_decide_table_gives():
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs a Java runtime")
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.master("local[1]").appName("eligibility-test").getOrCreate()
    try:
        engine = ENGINE
        expected = ENGINE.decide_table(pa.Table.from_pylist(RECORDS), ON).to_pandas()

        def decide(batches):
            for batch in batches:
                yield pa.RecordBatch.from_pandas(engine.decide_table(pa.Table.from_batches([batch]), ON).to_pandas())

        df = spark.createDataFrame(pa.Table.from_pylist(RECORDS).to_pandas())
        schema = spark.createDataFrame(expected.astype(str).iloc[:1]).schema
        got = df.mapInArrow(decide, schema).toPandas()
        assert len(got) == len(expected)
    finally:
        spark.stop()


def test_an_arrow_record_batch_reader_is_read_batch_by_batch():
    table = pa.Table.from_pylist(RECORDS)
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=5))
    got = ENGINE.decide_table(reader, ON)
    assert len(got) == len(RECORDS)
    assert _rows(got) == _rows(ENGINE.decide_table(RECORDS, ON))


def test_an_object_with_arrow_c_stream_and_a_duckdb_relation_are_read():
    class Stream:
        def __init__(self, table):
            self.table = table

        def __arrow_c_stream__(self, requested_schema=None):
            return self.table.__arrow_c_stream__(requested_schema)

    table = pa.Table.from_pylist(RECORDS)
    assert _rows(ENGINE.decide_table(Stream(table), ON)) == _rows(ENGINE.decide_table(RECORDS, ON))
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()
    rel = con.from_arrow(table)
    assert _rows(ENGINE.decide_table(rel, ON)) == _rows(ENGINE.decide_table(RECORDS, ON))


_STREAM_SCRIPT = textwrap.dedent("""
    import datetime as dt, resource, sys
    import pyarrow as pa
    from eligibility import Engine
    n = int(sys.argv[1]); batch = 50_000
    engine = Engine.load()
    schema = pa.schema([("person_id", pa.string()), ("aufenthaltsstatus", pa.string()),
                        ("unterbringung", pa.string()), ("zugang_bw_datum", pa.string())])
    def batches():
        for start in range(0, n, batch):
            k = min(batch, n - start)
            yield pa.RecordBatch.from_pydict({
                "person_id": [f"P{start + i}" for i in range(k)],
                "aufenthaltsstatus": ["duldung", "fluechtling", "gestattung"] * (k // 3) + ["duldung"] * (k % 3),
                "unterbringung": ["anschluss"] * k, "zugang_bw_datum": ["2015-06-01"] * k}, schema=schema)
    rows = yes = 0
    for part in engine.decide_stream(pa.RecordBatchReader.from_batches(schema, batches()), dt.date(2018, 9, 15)):
        rows += len(part)
        yes += sum(1 for v in part.columns["anschlussunterbringung"] if v is True)
    print(rows, yes, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
""")


def test_an_arrow_stream_of_a_million_rows_runs_in_bounded_memory(tmp_path):
    script = tmp_path / "stream.py"
    script.write_text(_STREAM_SCRIPT, encoding="utf-8")
    peaks = {}
    for n in (100_000, 1_000_000):
        out = subprocess.run(
            [sys.executable, str(script), str(n)], capture_output=True, text=True, check=True, timeout=600
        )
        rows, yes, peak = map(int, out.stdout.split())
        assert rows == n and yes == n
        peaks[n] = peak
    # Ten times the rows, (almost) the same peak: batches are decided and let go one by one.
    assert peaks[1_000_000] < peaks[100_000] + 80, peaks


def test_python_dash_m_and_the_version_from_the_package_metadata():
    out = subprocess.run([sys.executable, "-m", "eligibility", "--version"], capture_output=True, text=True, check=True)
    assert __version__ in out.stdout and __version__ != "0.0.0+unknown"


def test_an_installed_wheel_decides_from_another_folder(tmp_path):
    """The wheel carries rules/ as eligibility/_rules: installed outside the checkout, it
    decides with the same rules (same hash) from any folder."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = wheels.glob("eligibility-*.whl")
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "p.yaml").write_text("aufenthaltsstatus: duldung\nunterbringung: anschluss\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "ELIGIBILITY_RULES"}
    env["PYTHONPATH"] = str(target)
    out = subprocess.run(
        [sys.executable, "-m", "eligibility", "check", "p.yaml", "--on", "2018-06-01", "--format", "json"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert f'"sha256": "{ENGINE.info.sha256}"' in out.stdout
    where = subprocess.run(
        [sys.executable, "-c", "import eligibility.engine as e; print(e.default_rules_dir())"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.strip() == str(target / "eligibility" / "_rules")
    # The decision log's migrations travel in the wheel: a log opens (and migrates) from it.
    opened = subprocess.run(
        [
            sys.executable,
            "-c",
            "import eligibility.decisionlog as d, sqlalchemy as s; d.open_log('sqlite:///log.db').close(); "
            "print(d.__file__); print(sorted(s.inspect(s.create_engine('sqlite:///log.db')).get_table_names()))",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.startswith(str(target))
    assert "'decision_log'" in opened.stdout and "'alembic_version'" in opened.stdout


_WITHOUT_BATCH = (
    "import sys; sys.modules['numpy'] = None; sys.modules['pyarrow'] = None; from eligibility.cli import main; main()"
)


def test_one_record_is_decided_without_numpy_and_pyarrow(tmp_path):
    """numpy and pyarrow are the `batch` extra: the single-record path (check, decide,
    decide_data) never imports them; a batch command says which extra to install."""
    person = tmp_path / "p.yaml"
    person.write_text("aufenthaltsstatus: duldung\nunterbringung: anschluss\n", encoding="utf-8")
    run = functools.partial(subprocess.run, capture_output=True, text=True, timeout=120)
    out = run([sys.executable, "-c", _WITHOUT_BATCH, "check", str(person), "--on", "2018-06-01", "--format", "json"])
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["outcomes"]["anschlussunterbringung"]["value"] is True
    roster = tmp_path / "r.csv"
    roster.write_text("person_id;aufenthaltsstatus\nP1;duldung\n", encoding="utf-8")
    out = run([sys.executable, "-c", _WITHOUT_BATCH, "evaluate", str(roster), "--on", "2018-06-01", "--out", "-"])
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "pip install 'eligibility[batch]'" in out.stderr
