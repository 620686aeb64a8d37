"""PROM instruments (pure: standard library and numpy only).

One module per instrument — ``odi``, ``nrs`` (``nrs_back``, ``nrs_leg``), ``eq5d5l``, ``rmdq``,
``comi`` (``comi_back``), ``followup`` (``return_to_activity``, ``global_outcome``) — each an
:class:`~spinetrack.instruments.base.Instrument` with its definition, ``score(answers)`` and
vectorised ``score_many(columns)``. ``thresholds`` holds MCIDs with their citations and
classifies a baseline → follow-up change; ``wording`` loads a site's licensed wording pack.

>>> from spinetrack import instruments
>>> instruments.get("odi").score({"pain_intensity": 2, "personal_care": 1, "lifting": 3, "walking": 1,
...     "sitting": 2, "standing": 2, "sleeping": 1, "sex_life": None, "social_life": 2, "travelling": 2}).band
'moderate disability'
"""

from spinetrack.instruments.base import Definition, Display, Instrument, Item, Listing, Score, ScoreArray
from spinetrack.instruments.registry import all, display_field, get, listed

__all__ = ["Definition", "Display", "Instrument", "Item", "Listing", "Score", "ScoreArray", "all", "display_field",
           "get", "listed"]
