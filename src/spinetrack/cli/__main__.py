"""``python -m spinetrack.cli``: the ``spinetrack`` command."""

from spinetrack.cli import main

main()
