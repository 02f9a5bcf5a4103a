"""`serve`: the HTTP service (JSON API and the caseworker's page)."""

from __future__ import annotations

import logging

import click

from eligibility.cli.errors import fail, rule_set_failed
from eligibility.cli.i18n import command, option, say
from eligibility.cli.options import lang_option, overlay_option, rules_option
from eligibility.diagnostics import RuleSetError


@command(
    help_en="Starts the HTTP service: the JSON API under /v1 and the caseworker page under /.\n\nAccess token from the file named in ELIGIBILITY_TOKEN_FILE or from ELIGIBILITY_TOKEN."
)
@rules_option
@overlay_option
@option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help=("Adresse (Standard: nur dieser Rechner).", "Address (default: this machine only)."),
)
@option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8080,
    show_default=True,
    help=("Port des Dienstes.", "Port of the service."),
)
@option(
    "--token-env",
    default="ELIGIBILITY_TOKEN",
    show_default=True,
    help=(
        "Umgebungsvariable mit dem Bearer-Token für /v1 (leer: kein Token).",
        "Environment variable holding the bearer token for /v1 (empty: no token).",
    ),
)
@option(
    "--max-body",
    type=click.IntRange(1024),
    default=10 * 1024 * 1024,
    show_default=True,
    help=("Größte Anfrage in Bytes (darüber 413).", "Largest request in bytes (above: 413)."),
)
@option(
    "--reload-seconds",
    type=float,
    default=2.0,
    show_default=True,
    help=(
        "Wie oft die Regeldateien auf Änderungen geprüft werden (0: nie).",
        "How often the rule files are checked for changes, in seconds (0: never).",
    ),
)
@option(
    "--allow-unauthenticated",
    is_flag=True,
    help=(
        "Ohne Zugangsschlüssel auf einer anderen Adresse als 127.0.0.1 lauschen (nur wenn davor eine Anmeldung liegt).",
        "Listen on an address other than 127.0.0.1 without an access token (only behind a login).",
    ),
)
@option(
    "--max-records",
    type=click.IntRange(1),
    default=100_000,
    show_default=True,
    help=("Größter Stapel (Datensätze).", "Largest batch (records)."),
)
@option(
    "--body-seconds",
    type=click.FloatRange(1),
    default=60.0,
    show_default=True,
    help=(
        "So lange darf das Hochladen einer Anfrage dauern (darüber 408).",
        "How long uploading a request may take (above: 408).",
    ),
)
@option(
    "--header-seconds",
    type=click.FloatRange(0.5),
    default=10.0,
    show_default=True,
    help=(
        "So lange darf eine Verbindung für Anfragezeile und Kopfzeilen brauchen (sonst getrennt).",
        "How long a connection may take for the request line and headers (else it is closed).",
    ),
)
@option(
    "--job-seconds",
    type=click.FloatRange(1),
    default=120.0,
    show_default=True,
    help=("Zeitbudget für die Auswertung einer hochgeladenen Liste.", "Time budget for evaluating an uploaded roster."),
)
@option(
    "--job-memory-mb",
    type=click.IntRange(64),
    default=2048,
    show_default=True,
    help=(
        "Speicherbudget des Prozesses, der eine Liste auswertet (MB).",
        "Memory budget of the process that evaluates a roster (MB).",
    ),
)
@option(
    "--secure-cookie/--no-secure-cookie",
    default=None,
    help=(
        "Anmelde-Cookie nur über https senden (Standard: wenn die Anfrage über https kam).",
        "Send the login cookie over https only (default: when the request came over https).",
    ),
)
@option(
    "--log-client",
    is_flag=True,
    help=(
        "Die Adresse des Aufrufers ins Zugriffsprotokoll schreiben.",
        "Write the caller's address into the access log.",
    ),
)
@option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help=(
        "debug: auch vollständige Tracebacks (können Werte enthalten).",
        "debug: also full tracebacks (they may hold values).",
    ),
)
@option(
    "--log",
    "log_url",
    envvar="ELIGIBILITY_LOG",
    metavar="URL",
    help=(
        "Entscheidungsprotokoll: jede Entscheidung speichern (sqlite:///datei.db oder postgresql://…; "
        "Standard: aus, oder ELIGIBILITY_LOG).",
        "Decision log: store every decision (sqlite:///file.db or postgresql://…; default: off, or ELIGIBILITY_LOG).",
    ),
)
@option(
    "--keep-days",
    type=click.IntRange(1),
    envvar="ELIGIBILITY_LOG_KEEP_DAYS",
    help=(
        "Aufbewahrungsfrist des Entscheidungsprotokolls in Tagen (ältere Einträge werden beim Start "
        "und täglich geleert; Standard: unbegrenzt).",
        "Retention of the decision log in days (older entries are emptied on start and daily; default: unlimited).",
    ),
)
@lang_option
def serve(
    rules: str | None,
    overlays: tuple[str, ...],
    host: str,
    port: int,
    token_env: str,
    max_body: int,
    reload_seconds: float,
    allow_unauthenticated: bool,
    max_records: int,
    body_seconds: float,
    header_seconds: float,
    job_seconds: float,
    job_memory_mb: int,
    secure_cookie: bool | None,
    log_client: bool,
    log_level: str,
    log_url: str | None,
    keep_days: int | None,
) -> None:
    """Startet den HTTP-Dienst: JSON-API unter /v1 und die Seite für Sachbearbeitung unter /.

    Zugangsschlüssel aus der Datei in ELIGIBILITY_TOKEN_FILE oder aus ELIGIBILITY_TOKEN."""
    try:
        import uvicorn

        from eligibility.decisionlog import LogError
        from eligibility.service.app import create_app
        from eligibility.service.jobs import JobLimits
        from eligibility.service.security import (
            Limits,
            ServiceConfigError,
            check_token,
            exposure_error,
            is_loopback,
            token_from,
        )
        from eligibility.service.server import uvicorn_config
    except ImportError:
        # FastAPI and uvicorn are ordinary dependencies: only a broken installation lacks them.
        fail(
            "der HTTP-Dienst braucht FastAPI und uvicorn, die mit dem Paket installiert werden: "
            "im Projektordner .venv/bin/pip install -e . erneut ausführen",
            "the HTTP service needs FastAPI and uvicorn, which are installed with the package: "
            "run .venv/bin/pip install -e . in the project folder again",
        )
    try:
        token = token_from(token_env or None)
        check_token(token)
    except ServiceConfigError as exc:
        fail(exc.de, exc.en)
    refusal = exposure_error(host, token, allow_unauthenticated)
    if refusal:
        fail(refusal, exposure_error(host, token, allow_unauthenticated, lang="en"))
    if not token and not is_loopback(host):
        click.echo(
            say(
                f"WARNUNG: ohne Zugangsschlüssel auf {host} (--allow-unauthenticated).",
                f"WARNING: no access token on {host} (--allow-unauthenticated).",
            ),
            err=True,
        )
    limits = Limits(
        max_body=max_body,
        body_seconds=body_seconds,
        idle_seconds=min(body_seconds, Limits.idle_seconds),
        header_seconds=header_seconds,
        max_records=max_records,
    )
    jobs = JobLimits(seconds=job_seconds, memory_bytes=job_memory_mb * 1024 * 1024)
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if log_level != "debug":
        # The decision log's migrations report every step at info level: noise at each start.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        app = create_app(
            rules,
            list(overlays),
            token=token,
            reload_seconds=reload_seconds or None,
            limits=limits,
            job_limits=jobs,
            log_client=log_client,
            secure_cookie=secure_cookie,
            log=log_url or None,
            keep_days=keep_days,
        )
    except RuleSetError as exc:
        rule_set_failed(exc, decided=False)
    except LogError as exc:
        # The message names the log by its URL without the password (store.redacted).
        fail(exc.de, exc.en)
    click.echo(
        f"eligibility: http://{host}:{port}/ (API: /v1, OpenAPI: /openapi.json"
        + (say(", Anmeldung mit Zugangsschlüssel)", ", login with the access token)") if token else ")"),
        err=True,
    )
    if log_url:
        from eligibility.decisionlog.store import redacted

        # Said at start: personal data is kept only on purpose, and whoever starts it sees where.
        kept = (
            say(
                f"Einträge älter als {keep_days} Tage werden geleert",
                f"entries older than {keep_days} days are emptied",
            )
            if keep_days
            else say("ohne Aufbewahrungsfrist", "without a retention period")
        )
        click.echo(say("Entscheidungsprotokoll: ", "Decision log: ") + f"{redacted(log_url)} ({kept})", err=True)
    uvicorn.Server(uvicorn_config(app, host, port, limits, log_level=log_level)).run()
