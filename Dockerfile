# Sparring API (and, with another command, its workers). Production points it at a real MongoDB.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY models ./models
COPY service ./service
RUN pip install . \
    && useradd --create-home --uid 10001 sparring \
    && mkdir -p /app/data \
    && chown sparring:sparring /app/data

USER sparring
ENV SPARRING_HOST=0.0.0.0 \
    SPARRING_PORT=8000 \
    SPARRING_DATA_DIR=/app/data
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=6 \
    CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=2)" || exit 1
CMD ["sparring", "serve"]
