"""placeholder"""
from spinetrack.instruments.odi import ODI as RMDQ  # noqa
