"""The `eligibility` command line. Exit codes: 0 decided, 1 test failures or rule set
errors found by a check, 2 bad input (with a clear message, never a traceback).

Each command group lives in its own module (check, rosters, rules, serve); this one only
assembles them under one group."""

from __future__ import annotations

import click

from eligibility.cli import check, rosters, rules, serve
from eligibility.cli.errors import Group


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="eligibility")
def main() -> None:
    """Entscheidet, ob eine Person zu einer gesetzlich bestimmten Zielgruppe gehört, und erklärt warum."""


for _command in (
    check.check,
    check.timeline,
    rosters.evaluate,
    rosters.report,
    rosters.allocation,
    rosters.convert,
    rosters.upcoming,
    rosters.generate_roster,
    rules.validate,
    rules.test_cmd,
    rules.impact,
    rules.applied,
    rules.schema,
    rules.docs,
    serve.serve,
):
    main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    main()
