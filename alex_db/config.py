"""Settings, read from the environment (and a ``.env`` file when present).

Which database alex_db talks to is decided in one place, :meth:`Settings.backend`:

1. ``DATABASE_URL`` set: that server, directly (psycopg). It wins over everything.
2. ``AURORA_CLUSTER_ARN`` and ``AURORA_SECRET_ARN`` set: Aurora through the RDS
   Data API (``AURORA_DATABASE``, default ``alex``; region from ``AWS_REGION`` or
   ``AWS_DEFAULT_REGION``; ``AWS_ENDPOINT_URL_RDS_DATA`` points boto3 at a local
   emulator).
3. Neither: the embedded PostgreSQL kept in a per-user data directory, started
   on demand (the zero-configuration default for the CLI and local work), except
   inside AWS Lambda or with ``ALEX_DB_REQUIRE_CONFIGURATION`` set, where no
   configuration is a ``ConfigurationError``: a deployed service with a forgotten
   variable must fail, not write its users' data to a database of its own.

Half an Aurora configuration (one ARN without the other) is a ``ConfigurationError``
naming what is missing, never a fallback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from alex_db.errors import ConfigurationError

DEFAULT_MAX_PAYLOAD_BYTES = 200 * 1024
DEFAULT_CONNECT_TIMEOUT_S = 10.0
# Set by the AWS Lambda runtime in every function's environment.
LAMBDA_VARIABLES = ("AWS_LAMBDA_FUNCTION_NAME", "LAMBDA_TASK_ROOT")


def in_lambda(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process runs inside AWS Lambda (from the runtime's own variables)."""
    env = os.environ if environ is None else environ
    return any(env.get(name) for name in LAMBDA_VARIABLES) or env.get(
        "AWS_EXECUTION_ENV", ""
    ).startswith("AWS_Lambda_")


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
    connect_timeout_s: float = Field(
        default=DEFAULT_CONNECT_TIMEOUT_S,
        gt=0,
        validation_alias="ALEX_DB_CONNECT_TIMEOUT_S",
        description="How long connecting may take before it is an error (seconds).",
    )
    require_configuration: bool = Field(
        default=False,
        validation_alias="ALEX_DB_REQUIRE_CONFIGURATION",
        description="Never fall back to the embedded server (always so inside AWS Lambda).",
    )

    def backend(self) -> Backend:
        """Which database the settings select (see the module docstring)."""
        if self.database_url:
            return "postgres"
        if self.aurora_cluster_arn and self.aurora_secret_arn:
            return "dataapi"
        if self.aurora_cluster_arn or self.aurora_secret_arn:
            missing, given = (
                ("AURORA_SECRET_ARN", "AURORA_CLUSTER_ARN")
                if self.aurora_cluster_arn
                else ("AURORA_CLUSTER_ARN", "AURORA_SECRET_ARN")
            )
            raise ConfigurationError(
                f"{given} is set but {missing} is not: the Data API needs both "
                "(or set DATABASE_URL for PostgreSQL directly)"
            )
        if self.require_configuration or in_lambda():
            why = "inside AWS Lambda" if in_lambda() else "ALEX_DB_REQUIRE_CONFIGURATION is set"
            raise ConfigurationError(
                f"no database is configured and {why}, so the embedded server is not used: "
                "set DATABASE_URL, or AURORA_CLUSTER_ARN and AURORA_SECRET_ARN"
            )
        return "embedded"
