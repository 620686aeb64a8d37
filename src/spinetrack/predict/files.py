"""Writing a model directory: the set's index, one file per fitted model, and its card.

The layout is described in :mod:`spinetrack.predict.model`, which reads it back
(:func:`~spinetrack.predict.model.load_models`). Writing needs the cards
(:mod:`spinetrack.predict.card`), which are made from the model classes: so this module sits
above both, and the model classes import neither.
"""

from __future__ import annotations

import json
from pathlib import Path

from spinetrack.predict.card import model_card
from spinetrack.predict.model import ModelSet

__all__ = ["write_model_set"]


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
