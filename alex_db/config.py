"""Settings, read from the environment (and a ``.env`` file when present).

Which database alex_db talks to is decided in one place, :meth:`Settings.backend`:

1. ``DATABASE_URL`` set: that server, directly (psycopg). It wins over everything.
2. ``AURORA_CLUSTER_ARN`` and ``AURORA_SECRET_ARN`` set: Aurora through the RDS
   Data API (``AURORA_DATABASE``, default ``alex``; region from ``AWS_REGION`` or
   ``AWS_DEFAULT_REGION``; ``AWS_ENDPOINT_URL_RDS_DATA`` points boto3 at a local
   emulator).
3. Neither: the embedded PostgreSQL kept in a per-user data directory, started
   on demand (the zero-configuration default for the CLI and local work).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MAX_PAYLOAD_BYTES = 200 * 1024

Backend = Literal["postgres", "dataapi", "embedded"]


def default_home() -> Path:
    """Per-user directory for the embedded database (platform conventions)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("alex-db", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias="DATABASE_URL",
        description="Direct PostgreSQL URL, e.g. postgresql://user:pass@host:5432/alex.",
    )
    aurora_cluster_arn: str | None = Field(default=None, validation_alias="AURORA_CLUSTER_ARN")
    aurora_secret_arn: str | None = Field(default=None, validation_alias="AURORA_SECRET_ARN")
    aurora_database: str = Field(default="alex", validation_alias="AURORA_DATABASE")
    aws_region: str | None = Field(
        default=None, validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION")
    )
    data_api_endpoint_url: str | None = Field(
        default=None,
        validation_alias="AWS_ENDPOINT_URL_RDS_DATA",
        description="Where boto3 sends rds-data calls; set it to a local emulator.",
    )
    data_api_resume_deadline_s: float = Field(
        default=60.0,
        validation_alias="ALEX_DB_RESUME_DEADLINE_S",
        description="How long to keep retrying while a paused Aurora cluster resumes.",
    )
    max_payload_bytes: int = Field(
        default=DEFAULT_MAX_PAYLOAD_BYTES,
        gt=0,
        validation_alias="ALEX_DB_MAX_PAYLOAD_BYTES",
        description="Largest JSON payload (UTF-8 bytes) a job column accepts.",
    )
    home: Path = Field(
        default_factory=default_home,
        validation_alias="ALEX_DB_HOME",
        description="Where the embedded PostgreSQL keeps its data.",
    )
    echo_sql: bool = Field(default=False, validation_alias="ALEX_DB_ECHO_SQL")

    def backend(self) -> Backend:
        if self.database_url:
            return "postgres"
        if self.aurora_cluster_arn and self.aurora_secret_arn:
            return "dataapi"
        return "embedded"
