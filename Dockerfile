# Image of the streamrec worker and API for docker-compose.yml.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas schemas
COPY streams streams
COPY agents agents
COPY api api
COPY infra infra
COPY ml ml
COPY cli cli
RUN pip install --no-cache-dir .
ENTRYPOINT []
