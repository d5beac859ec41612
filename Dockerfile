# chipclass: export-control classification and screening service.
#
#   docker build -t chipclass .
#   docker run -d -p 8000:8000 -v chipclass-data:/data \
#     -e CHIPCLASS_BOOTSTRAP_ADMIN_KEY="$(openssl rand -hex 24)" chipclass
#
# Operations notes (settings, migration modes, volumes, shutdown): docs/container.md

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------- builder
# Builds a self-contained virtual environment in /opt/venv. Nothing from this
# stage except that directory reaches the final image.
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# Dependencies first, in their own layer: it is rebuilt only when pyproject.toml
# changes, not on every code change (a stub package lets pip resolve them).
COPY pyproject.toml ./
RUN mkdir app && touch app/__init__.py \
    && pip install --no-cache-dir . \
    && pip uninstall --yes chipclass \
    && rm -rf app build ./*.egg-info

# Then the project itself: a regular (non-editable) install; the reference data
# in app/data ships as package data.
COPY . .
# Trimmed from the venv: pip and setuptools (not needed at run time) and pycountry's
# translations (22 MB of .mo files; chipclass uses the English country names only).
# Bytecode is compiled once here (hash-checked, so file times do not matter and the
# read-only app user never recompiles at start-up).
RUN pip install --no-cache-dir --no-deps . \
    && pip uninstall --yes pip setuptools \
    && rm -rf /opt/venv/lib/python3*/site-packages/pycountry/locales \
    && find /opt/venv -depth -type d -name __pycache__ -exec rm -rf {} + \
    && python -m compileall -q --invalidation-mode unchecked-hash /opt/venv/lib \
    && python -I -c "import app.main, app.cli" \
    && chipclass --help >/dev/null

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE}

LABEL org.opencontainers.image.title="chipclass" \
      org.opencontainers.image.description="Export-control classification and order screening for AI accelerators"

# A fixed, unprivileged uid/gid so volume ownership is predictable across hosts
# and Kubernetes runAsUser/fsGroup can name it.
ARG APP_UID=10001
RUN groupadd --gid "${APP_UID}" chipclass \
    && useradd --no-log-init --uid "${APP_UID}" --gid chipclass --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin chipclass \
    && mkdir -p /data \
    && chown chipclass:chipclass /data

COPY --from=builder /opt/venv /opt/venv
COPY alembic /opt/chipclass/alembic

# Host and port come from CHIPCLASS_HOST / CHIPCLASS_PORT (not CMD flags) so the
# server and the HEALTHCHECK below always agree on the port.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CHIPCLASS_ALEMBIC_DIR=/opt/chipclass/alembic \
    CHIPCLASS_DATABASE_URL=sqlite:////data/chipclass.db \
    CHIPCLASS_HOST=0.0.0.0 \
    CHIPCLASS_PORT=8000

WORKDIR /opt/chipclass
USER ${APP_UID}:${APP_UID}
VOLUME ["/data"]
EXPOSE 8000

# /readyz, not /healthz: "healthy" should mean "can serve requests" (database
# reachable, migrations at head, rules loaded), which is what compose
# `depends_on: service_healthy` and Swarm routing act on. Docker does not restart
# an unhealthy container, so a database outage shows as unhealthy instead of
# causing a restart loop. (Kubernetes ignores HEALTHCHECK: use /healthz for the
# liveness probe and /readyz for the readiness probe there.) Python because the
# slim image has no curl or wget.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request as u\ntry:\n    r = u.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('CHIPCLASS_PORT', '8000'), timeout=4)\nexcept Exception as e:\n    sys.exit('not ready: %s' % e)\nsys.exit(0 if r.status == 200 else 1)"]

# Exec form: chipclass (uvicorn) is PID 1 and receives SIGTERM directly; it stops
# accepting connections, lets in-flight requests finish within
# CHIPCLASS_SHUTDOWN_GRACE_S and exits 0. Keep the orchestrator's stop timeout
# (docker stop -t, terminationGracePeriodSeconds) above that grace period.
ENTRYPOINT ["chipclass"]
CMD ["serve"]
