# One image for web (gunicorn), worker and beat (celery): docker-compose.yml changes only the
# command. Dependencies are pinned by requirements/constraints.txt, as in `make install`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LOYALTY_VAR_DIR=/app/var

RUN groupadd --system --gid 1000 loyalty \
    && useradd --system --uid 1000 --gid loyalty --home-dir /app --shell /usr/sbin/nologin loyalty

WORKDIR /app

# Dependencies first, in their own layer: rebuilt only when pyproject.toml or the pins change.
COPY pyproject.toml ./
COPY requirements/constraints.txt requirements/constraints.txt
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > /tmp/requirements.txt \
    && pip install -c requirements/constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The project itself, installed in place (-e): settings find templates/ and var/ beside the
# packages (BASE_DIR), which a plain `pip install .` into site-packages would not carry.
COPY . .
RUN pip install -c requirements/constraints.txt --no-deps -e .

# Static files are collected into the image with production storage (hashed names, compressed,
# served by WhiteNoise). The key is a build-time dummy only: the real one comes from the
# environment at run time, and production settings refuse to start without it.
RUN LOYALTY_ENV=production \
    DJANGO_SECRET_KEY=build-only-dummy-key-for-collectstatic-never-used-at-runtime-0123456789 \
    python manage.py collectstatic --noinput \
    && chown -R loyalty:loyalty /app/var

USER loyalty

EXPOSE 8000

CMD ["gunicorn", "loyalty.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
