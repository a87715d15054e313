"""A local RDS Data API emulator in front of a real PostgreSQL (issue 4).

It answers the ``rds-data`` REST-JSON operations the way Aurora Serverless v2
does (see ``docs/data-api.md``), so code that talks to Aurora through boto3
or a SQLAlchemy Data API dialect can be tested locally::

    with DataAPIEmulator("postgresql://postgres@/app?host=/sock") as emu:
        client = boto3.client("rds-data", endpoint_url=emu.endpoint_url, ...)
        client.execute_statement(
            resourceArn=emu.resource_arn, secretArn=emu.secret_arn, sql="SELECT 1"
        )

Run it on its own with ``python -m alex_db.testing.dataapi --database-url URL --port 8080``.
"""

from alex_db.testing.dataapi.config import EmulatorConfig
from alex_db.testing.dataapi.server import DataAPIEmulator

__all__ = ["DataAPIEmulator", "EmulatorConfig"]
