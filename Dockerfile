# syntax=docker/dockerfile:1
# mmharness GPU image. One file, two bases, chosen with --build-arg BASE:
#
#   x86_64 + NVIDIA GPU (TensorRT 10, CUDA 12):
#     docker build -t mmharness:trt .
#   Jetson Orin, JetPack 6 (L4T r36.x; build on the Jetson itself):
#     docker build -t mmharness:jetson \
#       --build-arg BASE=nvcr.io/nvidia/l4t-jetpack:r36.4.0 \
#       --build-arg ORT_WHEEL_INDEX=<index holding onnxruntime-gpu wheels for JetPack 6> .
#
# Both bases ship TensorRT's Python bindings in the system interpreter, built for the
# libnvinfer of that image; the venv is created with --system-site-packages so those
# bindings are the ones mmharness imports (a pip-installed tensorrt could disagree with the
# system libraries). onnxruntime-gpu comes from PyPI on x86 and from ORT_WHEEL_INDEX on
# Jetson (PyPI has no CUDA build of onnxruntime for aarch64).
ARG BASE=nvcr.io/nvidia/tensorrt:24.12-py3
FROM ${BASE}

ARG ORT_WHEEL_INDEX=""
ARG ORT_VERSION=""
ARG PYCUDA_VERSION=2024.1.2
ARG USER_UID=10001

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/mmharness \
    PATH=/opt/mmharness/bin:/usr/local/cuda/bin:${PATH}

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# Build tools for pycuda (compiled against the image's CUDA) and the venv module. Versions are
# the ones of the chosen base's Ubuntu release; pinning them would tie the file to one base.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3-venv python3-dev build-essential \
    && rm -rf /var/lib/apt/lists/*

RUN python3 -m venv --system-site-packages "${VIRTUAL_ENV}" \
    && python -m pip install --upgrade pip==24.3.1 setuptools==75.6.0 wheel==0.45.1

WORKDIR /opt/src
COPY pyproject.toml README.md ./
COPY harness ./harness
COPY exporters ./exporters

# Jetson is recognised by the L4T release file every JetPack base carries. There NumPy stays
# below 2: JetPack 6's system TensorRT bindings, visible through the venv, are built against 1.x.
# hadolint ignore=DL3013
RUN if [ -f /etc/nv_tegra_release ]; then \
        { [ -n "${ORT_WHEEL_INDEX}" ] \
          || { echo "Jetson base: pass --build-arg ORT_WHEEL_INDEX=<onnxruntime-gpu wheel index for JetPack 6>" >&2; exit 2; }; } \
        && pip install --extra-index-url "${ORT_WHEEL_INDEX}" "onnxruntime-gpu${ORT_VERSION:+==${ORT_VERSION}}" \
        && pip install "numpy<2" . ; \
    else \
        pip install ".[gpu]" ${ORT_VERSION:+"onnxruntime-gpu==${ORT_VERSION}"} ; \
    fi \
    && pip install "pycuda==${PYCUDA_VERSION}" \
    && python -c "import onnxruntime, pycuda, tensorrt; print('onnxruntime', onnxruntime.__version__, onnxruntime.get_available_providers()); print('tensorrt', tensorrt.__version__)"

COPY models ./models

RUN groupadd --gid "${USER_UID}" mmharness \
    && useradd --create-home --uid "${USER_UID}" --gid "${USER_UID}" --shell /bin/bash mmharness \
    && mkdir -p /workspace \
    && chown mmharness:mmharness /workspace
USER ${USER_UID}:${USER_UID}
WORKDIR /workspace

# Results land in the mounted /workspace; the shipped models are in /opt/src/models.
HEALTHCHECK --interval=5m --timeout=60s --start-period=30s --retries=1 CMD ["mmharness", "doctor"]

ENTRYPOINT ["mmharness"]
CMD ["--help"]
