"""Seeded synthetic cohorts with planted, documented effects.

Modules
-------
``effects``  every planted effect with its source (a published figure, or marked synthetic).
``cohort``   ``generate_chunk``: deterministic, chunked generation of patients to PROM items.
``load``     ``load_demo``: streams chunks into the store in bounded memory.
"""
