"""``python -m spinetrack``: the same command line as ``spinetrack``."""

from spinetrack.cli import app

app(prog_name="spinetrack")
