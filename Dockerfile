# The Timeline service image: API (`timeline serve`), projection runner and one-shot `timeline init`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY events ./events
COPY service ./service
COPY projections ./projections
RUN pip install . && rm -rf /src

RUN useradd --system --create-home --home-dir /home/timeline --uid 10001 timeline \
    && mkdir /keys && chown timeline /keys  # a named volume there inherits this owner
USER timeline
# The default database (sqlite ./timeline.db) lands here when TIMELINE_DATABASE is not set.
WORKDIR /home/timeline

EXPOSE 8000
CMD ["timeline", "serve", "--host", "0.0.0.0", "--port", "8000"]
