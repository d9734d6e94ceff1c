# syntax=docker/dockerfile:1
# Multi-stage build: install and train in `build`, copy only the virtual
# environment and the trained artifact into a slim, non-root `runtime`.
#   docker build -t heart-risk .
#   docker run --rm -p 8000:8000 heart-risk
# PYTHON_IMAGE may name any Debian-based image with python3 and venv.
ARG PYTHON_IMAGE=python:3.12-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH
WORKDIR /src
RUN python3 -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY model model
COPY app app
COPY scripts scripts
RUN pip install .
COPY data data
RUN python -m scripts.train --data data/heart.dat \
        --out /opt/artifacts/model.pkl --plot /opt/artifacts/loss_curve.png

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MODEL_PATH=/opt/artifacts/model.pkl \
    HOST=0.0.0.0 \
    PORT=8000
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/artifacts /opt/artifacts
WORKDIR /tmp
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
CMD ["python", "-m", "app"]
