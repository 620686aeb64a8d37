"""The prediction commands: ``models train``, ``models card`` and ``predict`` (one patient's
decision support)."""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer

from spinetrack.cli.common import (
    DbOpt,
    EngineOpt,
    JsonOpt,
    database,
    fail,
    settings_for,
    snapshot_or_export,
)
from spinetrack.cli.render import console, print_decision, print_models, with_steps
from spinetrack.config import Settings
from spinetrack.errors import SpinetrackError

__all__ = ["models_app", "predict"]

models_app = typer.Typer(help="Prediction models: per-patient expected outcomes of each treatment option.",
                         no_args_is_help=True, add_completion=False)
ModelsDirOpt = Annotated[str | None, typer.Option("--dir", help="Model directory; default SPINETRACK_MODELS_DIR.")]


def _write_reliability_figures(result: Any, out_dir: str) -> list[str]:
    """One reliability diagram (SVG) per model with reliability groups, under ``figures/``."""
    from spinetrack.reports.prediction_plots import model_reliability_diagram

    fig_dir = Path(out_dir) / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    for old in fig_dir.glob("*.svg"):
        old.unlink()
    written = []
    for mid, model in sorted(result.models.models.items()):
        svg = model_reliability_diagram(model)
        if svg is not None:
            path = fig_dir / f"{mid}.svg"
            path.write_text(svg, encoding="utf-8")
            written.append(str(path))
    return written


@models_app.command("train")
def models_train(
    snapshot_dir: Annotated[str | None, typer.Option("--snapshot", help="Snapshot directory (spinetrack snapshot). "
                            "Default: export a fresh, rekeyed snapshot of the database to a temporary directory.")]
    = None,
    engine_name: EngineOpt = None,
    out: Annotated[str | None, typer.Option("--out", help="Where to write the models; default SPINETRACK_MODELS_DIR.")]
    = None,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Bootstrap resamples per model (optimism "
                                                               "correction; 0: none).")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap resamples.")] = 20_240_607,
    if_missing: Annotated[bool, typer.Option("--if-missing", help="Do nothing when the model directory already "
                                                                   "holds a trained set (make run).")] = False,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit, validate (bootstrap) and write every prediction model, its card and its reliability diagram."""
    from spinetrack.predict import planned_models, train_models

    settings = settings_for(database_url)
    name = engine_name or settings.engine
    out_dir = out or settings.models_dir
    if if_missing and (Path(out_dir) / "index.json").is_file():
        if as_json:
            typer.echo(json.dumps({"models_dir": out_dir, "trained": False, "reason": "already trained"}))
        else:
            console.print(f"prediction models already trained in {out_dir} (--if-missing): nothing to do")
        return
    stack = ExitStack()
    try:
        snapshot_dir = snapshot_or_export(stack, settings, snapshot_dir)
    except SpinetrackError as exc:
        stack.close()
        fail(exc, as_json)
    options = settings.engine_options(name)
    show = not as_json and sys.stderr.isatty()
    snap = snapshot_dir
    try:
        result = with_steps(show, f"train on {name}", planned_models(), lambda progress: train_models(
            snap, name, out_dir, bootstrap=bootstrap, seed=seed, engine_options=options, progress=progress), width=48)
    except SpinetrackError as exc:
        fail(exc, as_json)
    finally:
        stack.close()
    doc = result.as_dict()
    doc["figures"] = _write_reliability_figures(result, out_dir)
    if as_json:
        typer.echo(json.dumps(doc, allow_nan=False))
        return
    print_models(doc, bootstrap, out_dir)


@models_app.command("card")
def models_card(
    model: Annotated[str | None, typer.Option("--model", help="A model id (default: every model).")] = None,
    models_dir: ModelsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the model cards: data, design, minimum-data rule, performance (apparent and optimism-corrected)."""
    from spinetrack.errors import ValidationError
    from spinetrack.predict import load_models, model_card

    directory = models_dir or Settings().models_dir
    try:
        models = load_models(directory)
        ids = sorted(models.models)
        if model is not None and model not in models.models:
            raise ValidationError(field="model", value=model, allowed=ids)
    except SpinetrackError as exc:
        fail(exc, as_json)
    cards = [model_card(models.models[i], models) for i in ([model] if model else ids)]
    if as_json:
        doc: dict[str, Any] = cards[0].as_dict() if model else {"models_dir": str(directory),
                                                                "cards": [c.as_dict() for c in cards]}
        typer.echo(json.dumps(doc, allow_nan=False))
        return
    typer.echo("\n---\n\n".join(c.markdown() for c in cards))


def _patient_row(store: Any, ref: str) -> int:
    """The record number of ``--patient``: digits are the record number; anything else the
    pseudonymous id (``ST-…``, case-insensitive), looked up."""
    from sqlalchemy import select

    from spinetrack.errors import NotFoundError
    from spinetrack.store.tables import PatientRow
    from spinetrack.web.ids import parse_patient_ref

    parsed = parse_patient_ref(ref)
    if isinstance(parsed, int):
        return parsed
    with store.engine.connect() as conn:
        found = conn.execute(select(PatientRow.id).where(PatientRow.pseudo_id == parsed)).scalar()
    if found is None:
        raise NotFoundError(entity="patient", key=parsed)
    return int(found)


def predict(
    patient: Annotated[str, typer.Option("--patient", help="The patient: their pseudonymous id as the pages show "
                                                           "it (ST-…), or their record number (the id in the "
                                                           "clinic's URLs and the API).")],
    episode: Annotated[int | None, typer.Option("--episode", help="Episode id (default: the latest).")] = None,
    models_dir: ModelsDirOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Decision support for one patient: red flags, guideline criteria and each option's expected outcomes."""
    import getpass

    from spinetrack.predict.decision import build_decision_support
    from spinetrack.store.repositories import Actor, Store

    settings = settings_for(database_url)
    engine = database(settings)
    try:
        store = Store(engine, eq5d_value_set=settings.eq5d_value_set)
        actor = Actor(f"cli:{getpass.getuser()}", "system")  # audited under the operating-system user
        doc = build_decision_support(store, actor, _patient_row(store, patient),
                                     models_dir=models_dir or settings.models_dir, episode_id=episode)
    except SpinetrackError as exc:
        fail(exc, as_json)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(doc, default=str, allow_nan=False))
        return
    print_decision(doc)
