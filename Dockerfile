# syntax=docker/dockerfile:1.7
# One image per pepline service, built from the repository root:
#
#   docker build --build-arg SERVICE=publisher -t pepline-publisher .
#
# SERVICE is a uv workspace member under services/ (publisher, gps, mqtt, calendar, rules,
# fusion). The builder installs only that member and its locked dependencies (so the gps image
# carries no slixmpp, the publisher no icalendar); the runtime stage is a slim Python with the
# virtual environment, run as an unprivileged user. docs/deploy.md describes the images.

# uv, pinned, copied into the builder (the same version the project locks with).
FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM python:3.11.11-slim-bookworm AS builder
ARG SERVICE
# Bytecode compiled at build time: the runtime file system is read-only (k8s) and start-up
# should not pay for it. Copy, not hardlink: the cache mount is another file system.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
COPY --from=uv /uv /usr/local/bin/uv
WORKDIR /src
RUN test -n "${SERVICE}" && test "${SERVICE}" != "shared" \
    || { echo "build with --build-arg SERVICE=<publisher|gps|mqtt|calendar|rules|fusion>" >&2; exit 1; }

# Dependencies first, from the lock file and the workspace's pyproject files only: this layer
# is reused until one of them changes. uv needs every member's pyproject to read the workspace.
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/
COPY services/publisher/pyproject.toml services/publisher/
COPY services/gps/pyproject.toml services/gps/
COPY services/mqtt/pyproject.toml services/mqtt/
COPY services/calendar/pyproject.toml services/calendar/
COPY services/rules/pyproject.toml services/rules/
COPY services/fusion/pyproject.toml services/fusion/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --no-install-workspace --package "pepline-${SERVICE}"

# Then the code, installed as wheels (--no-editable: the runtime stage gets the venv without
# the sources). Every member's: a service may depend on another (fusion uses the publisher's
# node provisioning); uv installs only pepline-${SERVICE} and what it depends on.
COPY shared/src shared/src
COPY services services
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package "pepline-${SERVICE}"

FROM python:3.11.11-slim-bookworm AS runtime
ARG SERVICE
LABEL org.opencontainers.image.title="pepline-${SERVICE}" \
      org.opencontainers.image.description="pepline ${SERVICE} service (XMPP extended presence pipeline)" \
      org.opencontainers.image.licenses="MIT"
# A fixed numeric uid/gid, so Kubernetes' runAsNonRoot can verify it without a passwd lookup.
RUN groupadd --system --gid 10001 pepline \
    && useradd --system --uid 10001 --gid pepline --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin pepline
COPY --from=builder /app/.venv /app/.venv
COPY deploy/docker/entrypoint.py deploy/docker/healthcheck.py /app/
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PEPLINE_IMAGE_SERVICE=${SERVICE} \
    PEPLINE_HTTP_PORT=8080
WORKDIR /app
USER 10001:10001
# /healthz, /readyz and /metrics (pepline_shared.health).
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/healthcheck.py"]
# `pepline <service>` without the root CLI package (which would pull in every service):
# entrypoint.py runs pepline_<service>.cli:command; arguments are passed on (--help lists
# the PEPLINE_* variables).
ENTRYPOINT ["python", "/app/entrypoint.py"]
