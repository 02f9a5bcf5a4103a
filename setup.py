"""Build hooks: the wheel carries the shipped rule set (`rules/`, the source of truth in the
checkout) as package data `eligibility/_rules`, so an installed package decides from any
folder; and two optional C extensions, plain C against CPython's limited API (one abi3 wheel for
every Python >= 3.11): the scanner of the .xlsx reader (`eligibility.io._xlsxscan`) and the
batch path's reader of row dicts (`eligibility.eval._factorize`). Without a compiler the install
still succeeds and both stay on their Python paths (docs/developer.md).
Everything else is declared in pyproject.toml."""

from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithRules(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads rules/ of the checkout itself
        target = Path(self.build_lib) / "eligibility" / "_rules"
        for src in sorted((ROOT / "rules").rglob("*")):
            if src.is_file() and src.suffix in (".yaml", ".yml"):
                out = target / src.relative_to(ROOT / "rules")
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(src.read_bytes())


# optional=True: a failed compile is a warning, not a failed install (the Python reader is the
# reference and reads every file). CI builds it for sure: scripts/test sets
# ELIGIBILITY_REQUIRE_NATIVE=1 and a test then fails if the extension does not import.
def _native(name: str, source: str) -> Extension:
    return Extension(
        name,
        sources=[source],
        py_limited_api=True,
        define_macros=[("Py_LIMITED_API", "0x030B0000")],
        extra_compile_args=["-O2", "-Wall", "-Wextra", "-std=c99"],
        optional=True,
    )


SCANNER = _native("eligibility.io._xlsxscan", "src/eligibility/io/_xlsxscan.c")
# The batch path's reader of row dicts: built, and required, the same way.
FACTORIZE = _native("eligibility.eval._factorize", "src/eligibility/eval/_factorize.c")

setup(
    cmdclass={"build_py": BuildWithRules},
    ext_modules=[SCANNER, FACTORIZE],
    options={"bdist_wheel": {"py_limited_api": "cp311"}},
)
