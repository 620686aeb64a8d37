"""Model directories on disk: writing a set (its index, one file per fitted model, and its
card) and reading it back (:func:`load_models`).

The layout is described in :mod:`spinetrack.predict.model`. Writing needs the cards
(:mod:`spinetrack.predict.card`), which are made from the model classes: so this module sits
above both, and the model classes import neither.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType

from spinetrack.errors import ValidationError
from spinetrack.predict.card import model_card
from spinetrack.predict.model import FORMAT, FORMAT_VERSION, ModelSet, OptionAvailability, PredictionModel

__all__ = ["load_models", "write_model_set"]


def write_model_set(models: ModelSet, out_dir: str | Path) -> Path:
    """Write ``index.json``, the model files and the cards (the layout in
    :mod:`spinetrack.predict.model`); returns the
    directory. Files of an earlier run in the same directory are replaced."""
    out = Path(out_dir)
    (out / "models").mkdir(parents=True, exist_ok=True)
    (out / "cards").mkdir(parents=True, exist_ok=True)
    for old in [*(out / "models").glob("*.json"), *(out / "cards").glob("*.json"), *(out / "cards").glob("*.md")]:
        old.unlink()
    for mid, m in models.models.items():
        (out / "models" / f"{mid}.json").write_text(json.dumps(m.as_dict(), indent=1, allow_nan=False) + "\n",
                                                    encoding="utf-8")
        card = model_card(m, models)
        (out / "cards" / f"{mid}.json").write_text(json.dumps(card.as_dict(), indent=1, allow_nan=False) + "\n",
                                                   encoding="utf-8")
        (out / "cards" / f"{mid}.md").write_text(card.markdown(), encoding="utf-8")
    (out / "index.json").write_text(json.dumps(models.index_dict(), indent=1, allow_nan=False) + "\n",
                                    encoding="utf-8")
    return out


def load_models(directory: str | Path) -> ModelSet:
    """Read a model directory written by ``train_models`` / ``spinetrack models train``.

    Raises
    ------
    spinetrack.errors.ValidationError
        When the directory holds no model set, or one written in another format version.
    """
    d = Path(directory)
    index_path = d / "index.json"
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValidationError(field="models_dir", value=str(d),
                              allowed="a directory written by spinetrack models train",
                              reason=f"cannot read {index_path.name}: {exc}") from None
    if index.get("format") != FORMAT or index.get("format_version") != FORMAT_VERSION:
        raise ValidationError(field="models_dir", value=str(d), allowed=f"{FORMAT} version {FORMAT_VERSION}",
                              reason=f"found {index.get('format')!r} version {index.get('format_version')!r}")
    models = {}
    for mid in index["models"]:
        models[mid] = PredictionModel.from_dict(json.loads((d / "models" / f"{mid}.json").read_text(encoding="utf-8")))
    availability = tuple(OptionAvailability(**a) for a in index["availability"])
    return ModelSet(MappingProxyType(models), availability, MappingProxyType(index["snapshot"]),
                    index["software_version"], index["created_at"], MappingProxyType(index["settings"]), d)
