"""The Aurora Serverless v2 backend: PostgreSQL through the RDS Data API.

Selected by ``AURORA_CLUSTER_ARN`` + ``AURORA_SECRET_ARN`` (see :mod:`alex_db.config`).
The engine uses the ``postgresql+alexdataapi`` dialect (:mod:`alex_db.dataapi.dialect`)
over a corrected aurora-data-api driver (:mod:`alex_db.dataapi.driver`).
"""

from __future__ import annotations

import re
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError
from sqlalchemy import URL, Engine, create_engine
from sqlalchemy.dialects import registry

from alex_db.config import Settings
from alex_db.dataapi import driver
from alex_db.errors import ConfigurationError

DRIVER_NAME = "alexdataapi"
registry.register(f"postgresql.{DRIVER_NAME}", "alex_db.dataapi.dialect", "AlexDataAPIDialect")

_CLUSTER_ARN = re.compile(r"^arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{12}:cluster:[A-Za-z0-9-]+$")
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+$")


def data_api_url(settings: Settings) -> URL:
    """The URL that names the Data API backend the settings describe."""
    query = {
        "resource_arn": settings.aurora_cluster_arn or "",
        "secret_arn": settings.aurora_secret_arn or "",
    }
    if settings.aws_region:
        query["region"] = settings.aws_region
    return URL.create(f"postgresql+{DRIVER_NAME}", database=settings.aurora_database, query=query)


def _check_arns(resource_arn: str, secret_arn: str) -> None:
    problems = []
    if not _CLUSTER_ARN.match(resource_arn):
        problems.append(
            f"AURORA_CLUSTER_ARN {resource_arn!r} is not a cluster ARN "
            "(arn:aws:rds:<region>:<account>:cluster:<name>)"
        )
    if not _SECRET_ARN.match(secret_arn):
        problems.append(
            f"AURORA_SECRET_ARN {secret_arn!r} is not a Secrets Manager ARN "
            "(arn:aws:secretsmanager:<region>:<account>:secret:<name>)"
        )
    if problems:
        raise ConfigurationError("; ".join(problems))


def make_client(settings: Settings, region: str | None = None) -> Any:
    """A boto3 ``rds-data`` client for alex_db.

    botocore's own retries are off: it would re-send a request that failed with a
    5xx, and a re-sent commit or write could run twice. alex_db retries only what
    provably did not run (see :mod:`alex_db.dataapi.driver`). The read timeout
    outlasts the Data API's 45 s statement timeout.
    """
    config = Config(
        retries={"total_max_attempts": 1},
        connect_timeout=settings.connect_timeout_s,
        read_timeout=70,
        max_pool_connections=32,
    )
    try:
        return boto3.client(
            "rds-data",
            region_name=region or settings.aws_region,
            endpoint_url=settings.data_api_endpoint_url,
            config=config,
        )
    except BotoCoreError as exc:
        raise ConfigurationError(
            f"cannot create the rds-data client ({exc}); set AWS_REGION (or AWS_DEFAULT_REGION)"
        ) from exc


def make_data_api_engine(
    url: URL,
    settings: Settings,
    *,
    client: Any = None,
    continue_after_timeout: bool = False,
    **kwargs: Any,
) -> Engine:
    """An engine on the Data API. ``client`` overrides the boto3 client (tests pass
    one whose calls they count); ``continue_after_timeout`` lets long statements
    (migrations' DDL) outlive the 45 s call timeout."""
    connect_args = {
        **connect_args_for(url, settings, client=client),
        "continue_after_timeout": continue_after_timeout,
        **kwargs.pop("connect_args", {}),
    }
    kwargs.setdefault("echo", settings.echo_sql)
    return create_engine(url.set(query={}), connect_args=connect_args, **kwargs)


URL_QUERY_KEYS = frozenset({"resource_arn", "secret_arn", "region"})


def connect_args_for(url: URL, settings: Settings, *, client: Any = None) -> dict[str, Any]:
    """What the driver's ``connect`` needs, from the URL's query (``resource_arn``,
    ``secret_arn``, ``region``) and else the settings; the client is made here unless
    one is given."""
    query = url.query
    unknown = sorted(set(query) - URL_QUERY_KEYS)
    if unknown:
        raise ConfigurationError(
            f"unknown Data API URL parameter(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(URL_QUERY_KEYS))}"
        )
    resource_arn = str(query.get("resource_arn") or settings.aurora_cluster_arn or "")
    secret_arn = str(query.get("secret_arn") or settings.aurora_secret_arn or "")
    _check_arns(resource_arn, secret_arn)
    region = query.get("region")
    return {
        "database": url.database,
        "client": client or make_client(settings, str(region) if region else None),
        "resource_arn": resource_arn,
        "secret_arn": secret_arn,
        "resume_deadline_s": settings.data_api_resume_deadline_s,
        "contact": driver.Contact(),
    }
