"""Build hook: the wheel carries the shipped rule set (`rules/`, the source of truth in the
checkout) as package data `eligibility/_rules`, so an installed package decides from any
folder. Everything else is declared in pyproject.toml."""

from pathlib import Path

from setuptools import setup
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


setup(cmdclass={"build_py": BuildWithRules})
