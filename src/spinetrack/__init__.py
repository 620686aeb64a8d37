"""spinetrack: outcomes, evidence and decision support for lower back pain treatment.

Importing the package has no side effects: no settings are read, no database is opened.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
