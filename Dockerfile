# Salus: one image for every node of every operator (docker-compose.yml shows a deployment).
#   docker build -t salus .
#   docker run --rm -v salus-data:/var/lib/salus salus init --data-dir /var/lib/salus --domain example.test
#   docker run -d -v salus-data:/var/lib/salus -p 25:1025 -p 465:1465 -p 587:1587 \
#       -p 143:1143 -p 993:1993 -e SALUS_SMTP__MX=0.0.0.0:1025 ... salus
# The server runs as an unprivileged user and listens on unprivileged ports inside the
# container; the host (or a load balancer) maps the standard ports onto them.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY . .
RUN python -m venv /opt/salus && /opt/salus/bin/pip install .

FROM python:3.11-slim-bookworm
# pg_dump/pg_restore for `salus backup`/`salus restore` on PostgreSQL (Debian's client
# is PostgreSQL 15, the server version docker-compose.yml runs).
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 salus \
    && useradd --system --uid 10001 --gid salus --home-dir /var/lib/salus \
       --no-create-home --shell /usr/sbin/nologin salus \
    && install -d -m 0700 -o salus -g salus /var/lib/salus
COPY --from=build /opt/salus /opt/salus
ENV PATH=/opt/salus/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SALUS_DATA_DIR=/var/lib/salus \
    SALUS_SMTP__SUBMISSION=0.0.0.0:1587 \
    SALUS_SMTP__SUBMISSIONS=0.0.0.0:1465 \
    SALUS_SMTP__MX=0.0.0.0:1025 \
    SALUS_IMAP__LISTEN=0.0.0.0:1143 \
    SALUS_IMAP__LISTEN_TLS=0.0.0.0:1993 \
    SALUS_HTTP__LISTEN=0.0.0.0:8025 \
    SALUS_LOOKUP__LISTEN=0.0.0.0:1443
USER salus
WORKDIR /var/lib/salus
VOLUME ["/var/lib/salus"]
EXPOSE 1025 1465 1587 1143 1993 8025 1443
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8025/healthz', timeout=4).status != 200)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["salus"]
CMD ["serve"]
