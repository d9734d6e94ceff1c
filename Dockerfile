# syntax=docker/dockerfile:1
# Multi-stage build. `build` trains the model in a full environment
# (requirements-train.lock) and prepares a serving-only environment
# (requirements.lock: no pandas, scikit-learn or matplotlib); `runtime` gets
# just that environment and the trained artifact, and runs as a non-root user.
#   docker build -t heart-risk .
#   docker run --rm -p 8000:8000 heart-risk
# PYTHON_IMAGE may name any Debian-based image with python3 and its venv module.
# Offline builds (CI): put the wheels in container/wheels/ and pass
#   --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=/wheels
ARG PYTHON_IMAGE=python:3.12-slim

FROM ${PYTHON_IMAGE} AS build
ARG PIP_NO_INDEX=
ARG PIP_FIND_LINKS=
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY container/wheels /wheels
COPY requirements.lock requirements-train.lock ./
RUN python3 -m venv /opt/train && /opt/train/bin/pip install -r requirements-train.lock \
    && python3 -m venv /opt/venv && /opt/venv/bin/pip install -r requirements.lock
COPY pyproject.toml README.md ./
COPY model model
COPY app app
COPY scripts scripts
RUN /opt/train/bin/pip install --no-deps . && /opt/venv/bin/pip install --no-deps .
COPY data data
RUN /opt/train/bin/python -m scripts.train --data data/heart.dat \
        --out /opt/artifacts/model.pkl --plot /opt/artifacts/loss_curve.png

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MODEL_PATH=/opt/artifacts/model.pkl \
    AUDIT_DSN=sqlite:////var/lib/heart-risk/audit.sqlite3 \
    AUDIT_SPOOL=/var/lib/heart-risk/audit.spool \
    HOST=0.0.0.0 \
    PORT=8000
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin app \
    && mkdir -p /var/lib/heart-risk && chown 10001 /var/lib/heart-risk
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/artifacts /opt/artifacts
WORKDIR /tmp
# The record of answers (docs/record.md, docs/deployment.md): mount a persistent volume here.
VOLUME /var/lib/heart-risk
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8000\")}/health', timeout=2)"]
CMD ["python", "-m", "app"]
