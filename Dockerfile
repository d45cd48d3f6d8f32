# syntax=docker/dockerfile:1
# One image for every process: `mboa api` (default), `mboa worker`, `mboa scheduler`,
# `mboa simulator`, `mboa db upgrade` (docs/deploy.md §1).
# Build: docker build --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) -t mboa .

ARG PYTHON_IMAGE=python:3.11.15-slim-bookworm

# --- build: the wheel of this repository and its dependencies, in a virtual environment -------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/mboa
COPY pyproject.toml README.md alembic.ini ./
COPY mboa ./mboa
COPY migrations ./migrations
# Every dependency ships a manylinux wheel, so no compiler is needed even here; the runtime stage
# gets only the finished virtual environment. The wheel carries the migrations (pyproject.toml,
# force-include), so `mboa db upgrade` runs from the installed package, not from a checkout.
RUN /opt/mboa/bin/pip wheel --no-deps --wheel-dir /dist . \
    && /opt/mboa/bin/pip install /dist/mboa-*.whl \
    && /opt/mboa/bin/python -m compileall -q /opt/mboa/lib

# --- runtime: slim Python, the virtual environment, a non-root user --------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="Mboa Pay" \
      org.opencontainers.image.description="Payment processor for MTN Mobile Money and Orange Money in Cameroon" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Proprietary" \
      org.opencontainers.image.vendor="Mboa Pay"
RUN groupadd --system --gid 10001 mboa \
    && useradd --system --uid 10001 --gid mboa --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin mboa
COPY --from=build /opt/mboa /opt/mboa
# The root filesystem is read-only in the chart: nothing is written but to /tmp (an emptyDir).
# Production refuses to start without external PostgreSQL/Redis URLs and secrets, so the embedded
# servers and the development secrets under MBOA_DATA_DIR are never created.
ENV PATH=/opt/mboa/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MBOA_ENV=production \
    MBOA_API__HOST=0.0.0.0 \
    MBOA_METRICS__HOST=0.0.0.0 \
    MBOA_DATA_DIR=/tmp/mboa \
    MBOA_RELEASE=${VERSION}
WORKDIR /tmp
USER 10001:10001
EXPOSE 8000 9464 9465
ENTRYPOINT ["mboa"]
CMD ["api"]
