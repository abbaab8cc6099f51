# syntax=docker/dockerfile:1
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATABASE_URL=sqlite:///srv/data/segments.sqlite3 EMAIL_OUTBOX_DIR=/srv/data/outbox \
    IMPORT_DIR=/srv/data/imports

WORKDIR /srv
RUN useradd --create-home --uid 10001 segments && mkdir -p /srv/data && chown segments /srv/data

# the dependencies first, in a layer of their own: a change to the code does not reinstall them
COPY pyproject.toml README.md ./
RUN python - <<'PY' > /tmp/requirements.txt && pip install -r /tmp/requirements.txt
import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))
PY

# then the code (GraphiQL's assets come with it: app/http/vendor/graphiql, app/http/static)
COPY migrations ./migrations
COPY app ./app
RUN pip install --no-deps .

USER segments
VOLUME ["/srv/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request, sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status == 200 else 1)"
# `segments serve` runs the migrations (and on an empty database makes the first
# site and ADMIN key, printed once to the log), then uvicorn.
CMD ["segments", "serve", "--host", "0.0.0.0", "--port", "8000"]
