"""How the old constructors find their database, without the old package's guesses.

``Database(cluster_arn, secret_arn, database, region)`` and ``DataAPIClient(...)`` take
the old arguments and the old variables. The ARNs, given as arguments, mean Aurora
through the Data API. Otherwise alex_db's own rule applies (``DATABASE_URL`` first, then
``AURORA_CLUSTER_ARN`` with ``AURORA_SECRET_ARN``), except that nothing configured is a
``ValueError``, as it was: the old package never fell back to a local database, and a
service must not start one by accident. Differences from the old package, on purpose:
the ``region`` argument is used (it was ignored); the region otherwise comes from
``DEFAULT_AWS_REGION`` (the old variable), then ``AWS_REGION``; importing does not
load a ``.env`` over the environment (alex_db reads ``.env`` without overriding it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from alex_db.config import Settings
from alex_db.database import Database as CoreDatabase

DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class Configuration:
    core: CoreDatabase
    cluster_arn: str | None
    secret_arn: str | None
    database: str
    region: str


def configured(
    cluster_arn: str | None,
    secret_arn: str | None,
    database: str | None,
    region: str | None,
) -> Configuration:
    settings = Settings()
    cluster = cluster_arn or settings.aurora_cluster_arn or None
    secret = secret_arn or settings.aurora_secret_arn or None
    name = database or settings.aurora_database or "alex"
    region = region or os.environ.get("DEFAULT_AWS_REGION") or settings.aws_region
    region = region or DEFAULT_REGION
    explicit = bool(cluster_arn or secret_arn)
    if (explicit or not settings.database_url) and bool(cluster) != bool(secret):
        missing = (
            "AURORA_SECRET_ARN (secret_arn)" if cluster else "AURORA_CLUSTER_ARN (cluster_arn)"
        )
        raise ValueError(f"{missing} is not set: the Data API needs both ARNs")
    if cluster and secret and (explicit or not settings.database_url):
        settings = settings.model_copy(
            update={
                "database_url": None,
                "aurora_cluster_arn": cluster,
                "aurora_secret_arn": secret,
                "aurora_database": name,
                "aws_region": region,
            }
        )
    elif not settings.database_url:
        raise ValueError(
            "Set AURORA_CLUSTER_ARN and AURORA_SECRET_ARN (Aurora through the Data API), "
            "or DATABASE_URL (PostgreSQL directly)"
        )
    return Configuration(CoreDatabase(settings), cluster, secret, name, region)
