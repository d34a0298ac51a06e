# syntax=docker/dockerfile:1
# scorecast images. One entrypoint, `scorecast`; the Kubernetes chart (infra/helm/scorecast) picks the command.
#
#   docker build -t scorecast:0.1.0 .                    # CPU image (the default, last stage): onnxruntime
#   docker build --target gpu -t scorecast:0.1.0-gpu .   # GPU image: CUDA 12 + cuDNN 9 runtime, onnxruntime-gpu
#
# Both run as the unprivileged user 10001 (numeric, so Kubernetes' runAsNonRoot can verify it) from
# /home/scorecast, where the relative SCORECAST_INFRA_DIR (.scorecast) lands. Models are read from
# SCORECAST_MODEL_STORE, /models by default: mount a shared volume there. The `otlp` extra is in both, so
# OTEL_METRICS_EXPORTER=otlp / OTEL_TRACES_EXPORTER=otlp send metrics and spans to a collector.
# Base images are pinned by tag; pin them by digest as well in a registry you control.

ARG PYTHON_IMAGE=python:3.12-slim-bookworm
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04

# --- wheel: scorecast itself, built once and installed by both images -------------------------------------
FROM ${PYTHON_IMAGE} AS wheel
WORKDIR /src
RUN pip install --no-cache-dir --disable-pip-version-check hatchling==1.27.0
COPY pyproject.toml README.md ./
COPY scorecast ./scorecast
COPY schemas ./schemas
COPY scorers ./scorers
COPY streams ./streams
COPY shadow ./shadow
COPY infra ./infra
COPY lookup-api ./lookup-api
RUN pip wheel --no-cache-dir --disable-pip-version-check --no-deps --no-build-isolation --wheel-dir /wheels .

# --- cpu-venv: the CPU image's virtualenv (compilers stay out of the final image) --------------------------
FROM ${PYTHON_IMAGE} AS cpu-venv
COPY --from=wheel /wheels /wheels
RUN python -m venv /opt/scorecast \
 && /opt/scorecast/bin/pip install --no-cache-dir --disable-pip-version-check \
      "$(ls /wheels/scorecast-*.whl)[cpu,otlp]"

# --- gpu: NVIDIA CUDA runtime + cuDNN (what onnxruntime-gpu's CUDA provider loads) -------------------------
# gpu-system: the base image brings CUDA 12 and cuDNN 9, so the nvidia-* wheels of the gpu extra would be a
# second copy (GBs) of the same libraries.
FROM ${CUDA_IMAGE} AS gpu
ENV DEBIAN_FRONTEND=noninteractive PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PATH=/opt/scorecast/bin:$PATH SCORECAST_MODEL_STORE=/models SCORECAST_ONNX_DEVICE=auto
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=wheel /wheels /wheels
RUN python3 -m venv /opt/scorecast \
 && /opt/scorecast/bin/pip install --no-cache-dir --disable-pip-version-check \
      "$(ls /wheels/scorecast-*.whl)[gpu-system,otlp]" \
 && rm -rf /wheels \
 && useradd --uid 10001 --create-home --home-dir /home/scorecast --shell /usr/sbin/nologin scorecast \
 && install -d -o 10001 -g 10001 /models
WORKDIR /home/scorecast
USER 10001:10001
ENTRYPOINT ["scorecast"]
CMD ["--help"]

# --- cpu (default): slim Python, the virtualenv copied in -------------------------------------------------
FROM ${PYTHON_IMAGE} AS cpu
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PATH=/opt/scorecast/bin:$PATH SCORECAST_MODEL_STORE=/models SCORECAST_ONNX_DEVICE=cpu
COPY --from=cpu-venv /opt/scorecast /opt/scorecast
RUN useradd --uid 10001 --create-home --home-dir /home/scorecast --shell /usr/sbin/nologin scorecast \
 && install -d -o 10001 -g 10001 /models
WORKDIR /home/scorecast
USER 10001:10001
ENTRYPOINT ["scorecast"]
CMD ["--help"]
