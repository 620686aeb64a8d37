"""Settings, read from the environment at the edge (CLI, web app), never at import time.

Environment variables
---------------------
``SPINETRACK_DATABASE_URL``  SQLAlchemy URL of the operational store; default
                             ``sqlite:///spinetrack.db`` (embedded, WAL, foreign keys on).
``SPINETRACK_ENGINE``        analytics engine: ``duckdb`` (default) or ``spark``.
``SPINETRACK_SPARK_MASTER``  Spark master URL for ``--engine spark`` (default ``local[*]``).
``SPINETRACK_SPARK_DRIVER_MEMORY``  the Spark driver's heap in local mode (default ``4g``).
``SPINETRACK_DUCKDB_MEMORY_LIMIT``  DuckDB's buffer (default ``3GB``; the engine's default).
``SPINETRACK_DUCKDB_CONCURRENCY``   comparisons ``analyze`` runs side by side on DuckDB (default 2).
``SPINETRACK_HOST`` / ``SPINETRACK_PORT``  where ``spinetrack serve`` listens
                             (default 127.0.0.1:8000).
``SPINETRACK_ENV``           ``development`` (default) or ``production``.
``SPINETRACK_WORDING_PACK``  path of a site's licensed instrument wording (JSON; see
                             ``spinetrack.instruments.wording``); default: neutral labels.
``SPINETRACK_EQ5D_VALUE_SET`` EQ-5D-5L value set used when scoring on write (default England).
``SPINETRACK_FORWARDED_ALLOW_IPS``  comma-separated addresses of reverse proxies whose
                             ``X-Forwarded-For`` / ``X-Forwarded-Proto`` are trusted (uvicorn's
                             ``forwarded_allow_ips``); unset (default): proxy headers are ignored.
``SPINETRACK_MODELS_DIR``    where ``spinetrack models train`` writes the prediction models and
                             their cards, and where they are read from; default ``spinetrack-models``
                             in the working directory (like the default database file).
``SPINETRACK_ANALYSES_DIR``  where ``spinetrack analyze --save`` keeps the scorecard documents; the
                             research page shows the newest (default ``spinetrack-analyses``).
``SPINETRACK_EXPORT_DIR``    where background exports (FHIR Bulk ``$export``, the research page's OMOP and
                             CSV exports) write their files, one folder per job (default ``spinetrack-exports``).

The analytics engines read no environment: :meth:`Settings.engine_options` turns the engine
settings into the keyword arguments of :func:`spinetrack.engines.get_engine`, at the edge.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    """spinetrack settings; every field can be set by ``SPINETRACK_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SPINETRACK_", extra="ignore")

    database_url: str = "sqlite:///spinetrack.db"
    engine: Literal["duckdb", "spark"] = "duckdb"
    spark_master: str | None = None
    spark_driver_memory: str = "4g"
    duckdb_memory_limit: str | None = None
    duckdb_concurrency: int | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    env: Literal["development", "production"] = "development"
    wording_pack: str | None = None
    eq5d_value_set: str = "England"
    models_dir: str = "spinetrack-models"
    analyses_dir: str = "spinetrack-analyses"
    export_dir: str = "spinetrack-exports"  # background exports (FHIR $export, OMOP, CSV): one folder per job
    forwarded_allow_ips: str | None = None
    # follow-up: the address patients' links point to (default http://HOST:PORT), the channels
    # (none configured: messages stay in the outbox, held), the in-process job of `serve`, and how
    # long a patient's home stays open after their last scheduled visit
    public_url: str | None = None
    smtp_url: str | None = None          # smtp://user:pass@host:587?starttls=true
    mail_from: str | None = None         # "North Spine Clinic <followup@north.example.org>"
    sms_url: str | None = None           # the gateway's HTTP endpoint (POST)
    sms_auth_header: str | None = None   # e.g. "Authorization: Bearer ..."
    sms_body_template: str | None = None  # JSON with {to} and {text}, e.g. '{"to": "{to}", "body": "{text}"}'
    followup_auto: bool = True
    followup_interval_minutes: int = 5
    patient_access_days: int = 90

    def link_base(self) -> str:
        """The start of every link sent to a patient (no trailing slash)."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def engine_options(self, engine: str) -> dict[str, Any]:
        """The keyword arguments of ``get_engine(engine)`` these settings give: only the values
        set (the engine's own defaults otherwise), nothing for an unknown engine."""
        options: dict[str, Any] = {}
        if engine == "spark":
            options["driver_memory"] = self.spark_driver_memory
            if self.spark_master:
                options["master"] = self.spark_master
        elif engine == "duckdb":
            if self.duckdb_memory_limit:
                options["memory_limit"] = self.duckdb_memory_limit
            if self.duckdb_concurrency is not None:
                options["concurrency"] = self.duckdb_concurrency
        return options


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings (built on first call, not at import)."""
    return Settings()
