# syntax=docker/dockerfile:1
# The certreg image: the `certreg` command (registry API, indexer, deploy job) on
# Python 3.11, installed from this checkout with the pinned dependency set.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /opt/certreg
# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml requirements.lock README.md LICENSE ./
COPY anchor ./anchor
COPY registry ./registry
COPY contracts ./contracts
RUN pip install -c requirements.lock . \
    && useradd --system --uid 10001 --home-dir /var/lib/certreg certreg \
    && mkdir -p /var/lib/certreg \
    && chown certreg /var/lib/certreg

# State (deployment record, embedded blobs when no IPFS is configured) lives in a volume.
ENV CERTREG_DATA_DIR=/var/lib/certreg \
    CERTREG_API_HOST=0.0.0.0 \
    CERTREG_API_PORT=8000
VOLUME ["/var/lib/certreg"]
USER certreg
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=6 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
ENTRYPOINT ["certreg"]
CMD ["up"]
