"""placeholder"""
from spinetrack.instruments.odi import ODI as COMI_BACK  # noqa
