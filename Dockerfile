FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    DATABASE_URL=sqlite:///srv/data/segments.sqlite3 EMAIL_OUTBOX_DIR=/srv/data/outbox

WORKDIR /srv
COPY pyproject.toml README.md ./
COPY app ./app
COPY migrations ./migrations
RUN pip install . && useradd --create-home --uid 10001 segments \
    && mkdir -p /srv/data && chown segments /srv/data

USER segments
EXPOSE 8000
# `segments serve` runs the migrations (and on an empty database makes the first
# site and ADMIN key, printed once to the log), then uvicorn.
CMD ["segments", "serve", "--host", "0.0.0.0", "--port", "8000"]
