# An image with alex_db installed, for the local RDS Data API emulator (docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY alembic ./alembic
COPY alex_db ./alex_db
RUN pip install --no-cache-dir .
EXPOSE 8080
CMD ["python", "-m", "alex_db.testing.dataapi", "--help"]
