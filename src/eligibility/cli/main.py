"""The `eligibility` command line. Exit codes: 0 decided, 1 test failures or rule set
errors found by a check, 2 bad input (with a clear message, never a traceback).

Each command group lives in its own module (check, rosters, rules, serve); this one only
assembles them under one group."""

from __future__ import annotations

import click

from eligibility.cli import check, decisionlog, rosters, rules, serve
from eligibility.cli.errors import Group
from eligibility.cli.i18n import option, say
from eligibility.cli.options import lang_option


def _show_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    # Click's own version option translates its message when it is declared (at import),
    # not when it is shown: this one follows --lang.
    if not value or ctx.resilient_parsing:
        return
    from eligibility import __version__

    click.echo(say(f"eligibility, Version {__version__}", f"eligibility, version {__version__}"))
    ctx.exit()


@click.group(
    cls=Group,
    context_settings={"help_option_names": ["-h", "--help"]},
    help_en="Decides whether a person belongs to a legally defined target group, and explains why.",
)
@option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_show_version,
    help=("Die Version anzeigen und beenden.", "Show the version and exit."),
)
@lang_option
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
    decisionlog.log_group,
):
    main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    main()
