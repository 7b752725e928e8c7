# relay as a container image: `docker build -t relay .`; compose.yaml runs two replicas on
# PostgreSQL. Not built where relay is developed (no container engine there): see the README,
# "Running it as a service", for what was and was not tried.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md crontab.example ./
COPY relay ./relay
COPY jobs ./jobs
COPY migrations ./migrations

# The README's install steps, line for line (tests/cli/test_service_files.py keeps them equal).
RUN useradd --system --create-home --home-dir /var/lib/relay relay
RUN python3 -m venv /opt/relay/venv
RUN /opt/relay/venv/bin/pip install --no-cache-dir '.[postgres]'
RUN install -D -m 0644 crontab.example /etc/relay/crontab

USER relay
WORKDIR /var/lib/relay
ENV PATH=/opt/relay/venv/bin:$PATH \
    RELAY_HOST=0.0.0.0 \
    RELAY_PORT=8080 \
    RELAY_CRONTAB=/etc/relay/crontab \
    RELAY_DATABASE_URL=sqlite:////var/lib/relay/relay.db
EXPOSE 8080
# /healthz answers 503 when a watched channel goes unpolled or the database is gone
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('RELAY_PORT', '8080') + '/healthz', timeout=4)"]
# SIGTERM stops it cleanly; `docker kill -s HUP` re-reads the crontab
CMD ["relay", "run"]
