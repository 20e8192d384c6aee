# nostrweet: the daemon in a container (docs/OPERATIONS.md, "Docker").
#   docker build -t nostrweet .
#   docker run -v nostrweet-data:/data -v ./nostrweet.toml:/config/nostrweet.toml:ro \
#     -v ./secrets:/run/secrets:ro -p 127.0.0.1:8080:8080 nostrweet
# Secrets come as files (NOSTRWEET_MNEMONIC_FILE, NOSTRWEET_BEARER_TOKEN_FILE), never as environment values.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN python -m venv /opt/nostrweet \
 && /opt/nostrweet/bin/pip install --no-cache-dir --disable-pip-version-check .

FROM python:3.11-slim
LABEL org.opencontainers.image.title="nostrweet" \
      org.opencontainers.image.description="Mirror Twitter/X accounts onto Nostr" \
      org.opencontainers.image.licenses="MIT"
ENV PATH=/opt/nostrweet/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NOSTRWEET_DATA_DIR=/data \
    NOSTRWEET_LOG_FORMAT=json \
    NOSTRWEET_CONFIG=/config/nostrweet.toml \
    NOSTRWEET_MNEMONIC_FILE=/run/secrets/mnemonic \
    NOSTRWEET_BEARER_TOKEN_FILE=/run/secrets/bearer_token
RUN groupadd --system --gid 10001 nostrweet \
 && useradd --system --uid 10001 --gid nostrweet --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin nostrweet \
 && mkdir -p /data /config \
 && chown nostrweet:nostrweet /data
COPY --from=build /opt/nostrweet /opt/nostrweet
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# slim has no curl: the check is Python's urllib. Any answer but 200 (503 = stalled), or none, fails it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request as u; sys.exit(0 if u.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["nostrweet"]
CMD ["daemon", "--http", "0.0.0.0:8080"]
