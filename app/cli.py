"""The `chipclass` command: serve, migrate, seed, keys, classify, decisions, export-openapi."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, Optional

import typer
from pydantic import ValidationError

from app.config import Settings, get_settings

if TYPE_CHECKING:
    from app.impact.service import Proposal
    from app.regulations.snapshot import SnapshotStore

cli = typer.Typer(
    help="chipclass: export-control classification and screening for AI accelerators", no_args_is_help=True
)
keys_cli = typer.Typer(help="Manage API keys", no_args_is_help=True)
decisions_cli = typer.Typer(help="The decision log", no_args_is_help=True)
reference_cli = typer.Typer(help="Stored reference data that does not load: see it, retire it", no_args_is_help=True)
changes_cli = typer.Typer(help="The reference-data change log", no_args_is_help=True)
cli.add_typer(keys_cli, name="keys")
cli.add_typer(decisions_cli, name="decisions")
catalog_cli = typer.Typer(help="The accelerator catalog as CSV (or YAML) in and out", no_args_is_help=True)
cli.add_typer(catalog_cli, name="catalog")
cli.add_typer(reference_cli, name="reference")
cli.add_typer(changes_cli, name="changes")


@cli.callback()
def _check_settings() -> None:
    """Refuse bad configuration with one clear line, before any command runs."""
    try:
        get_settings()
    except ValidationError as exc:
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "settings"
            typer.echo(f"chipclass: invalid configuration: CHIPCLASS_{field.upper()}: {err['msg']}", err=True)
        raise typer.Exit(2) from None


def _stopped_by_sigterm(_signum: int, _frame: object) -> None:
    """uvicorn drains in-flight requests on SIGTERM and then re-raises the signal, which would end the
    process with 143: a drained stop is a clean exit, so exit 0 (or app.main's code if it refused to start)."""
    from app import main as app_main

    raise SystemExit(app_main.exit_code)


def _prepare_before_workers(settings: Settings) -> None:
    """With several workers, migrate, seed and create the first key once, here, before they start:
    otherwise every worker would race to do it (each would still get there, through its start-up
    retries, but with errors logged and, on an empty database, possibly two first admin keys).
    Best effort: if the database is not reachable yet, each worker waits for it as one worker does."""
    from sqlalchemy.exc import SQLAlchemyError

    from app.db import make_engine
    from app.main import SchemaBehind, UnsafeConfiguration, prepare_database
    from app.observability import configure_logging
    from app.regulations import loader

    configure_logging(settings.log_level)
    engine = make_engine(settings)
    try:
        prepare_database(settings, engine, loader.read_reference_files())
    except UnsafeConfiguration as exc:
        typer.echo(f"chipclass: refusing to start: {exc}", err=True)
        raise typer.Exit(3) from exc
    except (SQLAlchemyError, OSError, SchemaBehind) as exc:
        typer.echo(
            f"chipclass: database not ready before starting workers ({type(exc).__name__}); each worker retries",
            err=True,
        )
    finally:
        engine.dispose()


@cli.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="Bind address (default CHIPCLASS_HOST or 127.0.0.1)")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port (default CHIPCLASS_PORT or 8000)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
) -> None:
    """Start the HTTP service (migrates and seeds on start unless configured otherwise)."""
    import signal

    import uvicorn

    settings = get_settings()
    signal.signal(signal.SIGTERM, _stopped_by_sigterm)
    if workers > 1:
        _prepare_before_workers(settings)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        access_log=False,
        log_config=None,
        proxy_headers=True,
        timeout_graceful_shutdown=settings.shutdown_grace_s,
    )


@cli.command()
def migrate(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Apply Alembic migrations (for orchestrators that migrate in a separate job)."""
    from app import migrate as m

    m.upgrade(get_settings().database_url, revision)
    typer.echo(f"migrated to {revision}")


@cli.command()
def seed() -> None:
    """Load the shipped reference data into the database (idempotent)."""
    from app.db import make_engine
    from app.regulations.loader import read_reference_files
    from app.regulations.service import seed as seed_reference

    report = seed_reference(make_engine(get_settings()), read_reference_files())
    typer.echo(json.dumps(report.__dict__, indent=2))


@keys_cli.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who or what uses the key")],
    scope: Annotated[list[str], typer.Option(help="read, screen, admin or audit; repeat for several")],
) -> None:
    """Create a key; the key itself is the last line of output (shown once)."""
    from app.db import make_engine
    from app.errors import DomainError
    from app.keys.service import create_key

    try:
        created = create_key(make_engine(get_settings()), name, scope)
    except DomainError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"created key {created.id} ({name}) with scopes {', '.join(created.scopes)}", err=True)
    typer.echo(created.key)


@keys_cli.command("list")
def keys_list() -> None:
    """List keys (never the keys themselves)."""
    from app.db import make_engine
    from app.keys.service import list_keys

    for row in list_keys(make_engine(get_settings())).items:
        state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
        typer.echo(f"{row.id}\t{row.name}\t{','.join(row.scopes)}\t{row.created_at:%Y-%m-%d}\t{state}")


@keys_cli.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by id (takes effect within the key cache TTL on running replicas)."""
    from app.db import make_engine
    from app.errors import DomainError
    from app.keys.service import revoke_key

    try:
        revoke_key(make_engine(get_settings()), key_id)
    except DomainError as exc:
        typer.echo(f"no key {key_id}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"revoked {key_id}")


@reference_cli.command("check")
def reference_check() -> None:
    """List stored records the rules leave out, and why; exit 1 if there are any."""
    from app.db import make_engine
    from app.regulations import loader, repair

    result = repair.check(make_engine(get_settings()), loader.read_reference_files())
    if result.error:
        typer.echo(f"the stored rules do not load: {result.error}", err=True)
        raise typer.Exit(1)
    for record in result.rejected:
        typer.echo(f"{record.kind}\t{record.key}\t{record.reason}")
    if result.rejected:
        typer.echo(
            f"{len(result.rejected)} record(s) left out of the rules; retire with "
            "`chipclass reference retire KIND KEY` (after fixing and re-adding them if they are needed)",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"every stored record loads (data version {result.data_version})", err=True)


@reference_cli.command("retire")
def reference_retire(
    kind: Annotated[str, typer.Argument(help="accelerator, ruleset or country_group_change")],
    key: Annotated[str, typer.Argument(help="The id (accelerator, ruleset) or number (group change)")],
) -> None:
    """Delete one stored record (every replica reloads); prints the retired document as JSON, to keep."""
    from app.db import make_engine
    from app.regulations import repair

    try:
        document = repair.retire(make_engine(get_settings()), kind, key)
    except repair.RetireError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(json.dumps({"retired": {"kind": kind, "key": key}, "document": document}, indent=2, default=str))


@decisions_cli.command("verify")
def decisions_verify() -> None:
    """Check the hash chain; exit 1 and name the first broken link if any."""
    from app.db import make_engine
    from app.decisions.service import verify

    result = verify(make_engine(get_settings()))
    typer.echo(json.dumps(result.model_dump(), indent=2))
    if not result.ok:
        raise typer.Exit(1)


def _read_document(path: Path) -> object:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        typer.echo(f"error: cannot read {path}: {exc}", err=True)
        raise typer.Exit(2) from exc


def _fail(problems: list[tuple[str, str]]) -> NoReturn:
    for pointer, detail in problems:
        typer.echo(f"rejected: {pointer}: {detail}", err=True)
    typer.echo("nothing was stored", err=True)
    raise typer.Exit(2)


def _proposal(path: Path) -> Proposal:
    from app.impact import service as impact
    from app.regulations import validation

    try:
        return impact.parse_proposal(_read_document(path))
    except impact.ImpactError as exc:
        _fail([(exc.pointer or "/", exc.detail)])
    except ValidationError as exc:
        _fail([("/" + "/".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()])
    except validation.DocumentRejected as exc:
        _fail([(p.pointer, p.detail) for p in exc.problems])


def _snapshot_store() -> SnapshotStore:
    from app.db import make_engine
    from app.regulations import loader
    from app.regulations.snapshot import SnapshotStore

    store = SnapshotStore(make_engine(get_settings()), loader.read_reference_files())
    store.refresh(force=True)
    return store


@cli.command()
def impact(
    file: Annotated[Path, typer.Argument(help="A ruleset, Country Group change or catalog entry (YAML or JSON)")],
    on: Annotated[Optional[str], typer.Option("--on", help="YYYY-MM-DD (default: its effective date)")] = None,
) -> None:
    """What a proposed change would do (dry run): ECCNs, licences by destination and buyer, screenings."""
    from app.clock import today
    from app.impact import service
    from app.regulations import validation

    proposal = _proposal(file)
    store = _snapshot_store()
    try:
        when = date.fromisoformat(on) if on else None
    except ValueError:
        _fail([("--on", f"{on!r} is not a date (YYYY-MM-DD)")])
    try:
        comparison = service.of_proposal(store.current, store.files, proposal, when, today())
    except validation.DocumentRejected as exc:
        _fail([(p.pointer, p.detail) for p in exc.problems])
    except service.ImpactError as exc:
        _fail([(exc.pointer or "/", exc.detail)])
    shots = service.screenings(store.engine, comparison, limit=1000)
    for line in service.table(comparison, shots):
        typer.echo(line)


@changes_cli.command("add")
def changes_add(
    file: Annotated[Path, typer.Argument(help="A ruleset, Country Group change or catalog entry (YAML or JSON)")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the change log)")],
    retroactive: Annotated[bool, typer.Option(help="Acknowledge an effective date before today")] = False,
) -> None:
    """Store a reference document (validated like the admin API) and record it as actor `cli`."""
    from app.catalog import service as catalog
    from app.catalog.schemas import AcceleratorCreate
    from app.changes.service import CLI, ChangeLogError, ChangeRequest
    from app.clock import today
    from app.errors import DomainError
    from app.impact import service as impact
    from app.regulations import service, validation
    from app.regulations.schemas import RulesetDoc

    proposal = _proposal(file)
    store = _snapshot_store()
    announced = impact.announcement(store.current, store.files, [proposal], today())
    request = ChangeRequest(CLI, reason, retroactive, announced)
    try:
        if isinstance(proposal, RulesetDoc):
            change = service.add_ruleset(store.engine, store.files, proposal, request, today())
        elif isinstance(proposal, AcceleratorCreate):
            check = validation.accelerator_check(store.files)
            report = catalog.write_accelerators(
                store.engine, [proposal], origin="admin", replace=True, check=check, change=request
            )
            if not report.changes:
                typer.echo(f"accelerator {proposal.id} is unchanged: nothing recorded")
                return
            change = report.changes[0]
        else:
            change = service.add_group_change(store.engine, store.files, proposal, request, today())
    except validation.DocumentRejected as exc:
        _fail([(p.pointer, p.detail) for p in exc.problems])
    except (DomainError, ChangeLogError) as exc:
        _fail([(getattr(exc, "pointer", "/") or "/", str(exc))])
    typer.echo(f"recorded change {change.id} ({change.kind} {change.subject})")


@changes_cli.command("list")
def changes_list(
    kind: Annotated[Optional[str], typer.Option(help="ruleset, country_group_change or accelerator")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """The newest changes: when, kind, subject, who, why."""
    from app.changes import service
    from app.db import make_engine

    rows, _ = service.page(make_engine(get_settings()), limit=limit, kind=kind)
    for c in rows:
        who = f"{c.actor_name} ({c.actor_id})" if c.actor_id else c.actor_name
        typer.echo(f"{c.created_at:%Y-%m-%d %H:%M}\t{c.id}\t{c.kind}\t{c.subject}\t{who}\t{c.reason}")


@changes_cli.command("verify")
def changes_verify() -> None:
    """Check the change log's hash chain; exit 1 and name the first broken link if any."""
    from app.changes.service import verify
    from app.db import make_engine

    result = verify(make_engine(get_settings()))
    typer.echo(json.dumps(result.__dict__, indent=2))
    if not result.ok:
        raise typer.Exit(1)


@cli.command()
def classify(
    accelerator_id: str,
    as_of: Annotated[Optional[str], typer.Option(help="YYYY-MM-DD")] = None,
) -> None:
    """Classify a catalog accelerator offline from the shipped data (no database)."""
    from app import clock
    from app.catalog.service import spec_from_record
    from app.regulations.loader import build_book, read_reference_files
    from app.rules import ranges

    files = read_reference_files()
    book = build_book(files, files.rulesets, files.group_changes, files.version)
    record = next((a for a in files.accelerators if a.id == accelerator_id), None)
    if record is None:
        typer.echo(f"unknown accelerator {accelerator_id}", err=True)
        raise typer.Exit(2)
    on = date.fromisoformat(as_of) if as_of else clock.today()
    result, analysis = ranges.classification(spec_from_record(record), book.in_force(on), book)
    typer.echo(f"{accelerator_id} on {on}: {result.summary}")
    if analysis is not None:
        typer.echo(f"  {analysis.summary}")
        typer.echo(
            f"  Across the range: TPP {analysis.tpp_min} to {analysis.tpp_max}, performance density "
            f"{analysis.performance_density_min} to {analysis.performance_density_max}; figures below are at the "
            "most restrictive end"
        )
    if result.tpp:
        typer.echo(
            f"  TPP {result.tpp.value} ({result.tpp.precision}), performance density {result.performance_density}"
        )
    for r in result.rulesets:
        for clause in r.clauses:
            for cond in clause.conditions:
                typer.echo(f"  [{r.ruleset.id} {clause.id}] {cond.explanation}")


@catalog_cli.command("export")
def catalog_export(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write; - for stdout")] = Path("-"),
) -> None:
    """Write the stored catalog as CSV (one row per accelerator, in id order)."""
    from sqlmodel import Session

    from app.catalog.service import export_csv, load_catalog
    from app.db import make_engine

    with Session(make_engine(get_settings())) as session:
        text = export_csv(load_catalog(session))
    if str(output) == "-":
        sys.stdout.buffer.write(text.encode("utf-8"))
        sys.stdout.flush()
        return
    output.write_bytes(text.encode("utf-8"))
    typer.echo(f"wrote {output} ({text.count(chr(10)) - 1} accelerators)", err=True)


@catalog_cli.command("import")
def catalog_import(
    file: Annotated[Path, typer.Argument(help="A CSV export, or YAML in the shipped accelerators.yaml format")],
    reason: Annotated[
        Optional[str], typer.Option(help="Why (recorded in the change log with each entry); required unless --dry-run")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and report per row; write nothing")] = False,
) -> None:
    """Add or update catalog entries from FILE, all or nothing; exit 1 (nothing written) on any problem."""
    from app.catalog.service import import_catalog, read_file
    from app.changes.service import CLI, ChangeRequest
    from app.clock import today
    from app.impact import service as impact
    from app.regulations import validation

    if not dry_run and not (reason or "").strip():
        typer.echo("error: --reason is required (it is recorded in the change log); or use --dry-run", err=True)
        raise typer.Exit(2)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        typer.echo(f"error: cannot read {file}: {exc.strerror}", err=True)
        raise typer.Exit(2) from exc
    parsed = read_file(raw, filename=file.name)
    store = _snapshot_store()
    change = None
    if reason and not dry_run:
        items = [] if parsed.problems else parsed.items
        change = ChangeRequest(
            CLI, reason.strip(), impact=impact.announcement(store.current, store.files, items, today())
        )
    label = "checking" if dry_run else "importing"
    # a progress bar on a terminal; click prints only the label when stderr is not one
    with typer.progressbar(length=max(len(parsed.items), 1), label=f"{label} {file.name}", file=sys.stderr) as bar:
        report = import_catalog(
            store.engine,
            parsed,
            check=validation.accelerator_check(store.files),
            change=change,
            dry_run=dry_run,
            progress=lambda _: bar.update(1),
        )
    for line in report.lines():
        typer.echo(line)
    if report.problems:
        raise typer.Exit(1)


@cli.command("export-openapi")
def export_openapi(
    output: Annotated[Path, typer.Option(help="Where to write; - for stdout")] = Path("openapi/openapi.json"),
) -> None:
    """Write the OpenAPI document generated from the app."""
    text = openapi_text()
    if str(output) == "-":
        sys.stdout.write(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}")


def openapi_text() -> str:
    """The app's OpenAPI document, generated from an app built on a throwaway SQLite file that is
    never opened: rendering touches no database."""
    import tempfile

    from app.config import Settings
    from app.main import create_app
    from app.openapi import render

    with tempfile.TemporaryDirectory(prefix="chipclass-openapi-") as tmp:
        app = create_app(Settings(database_url=f"sqlite:///{Path(tmp) / 'unused.db'}", log_level="WARNING"))
        text = render(app)
        app.state.engine.dispose()
    return text


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
