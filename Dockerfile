# Inlet: one image holding both services, `inlet-api` and `inlet-ingest`.
# docker-compose.yml picks the binary per container. This has not been tested here: no Docker daemon
# was available on the machine where it was written.

# --- build -------------------------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
# The migrations are embedded at compile time (sqlx::migrate!). No database is needed to build.
RUN cargo build --release --bin inlet-api --bin inlet-ingest

# --- the dashboard's player (hls.js from npm, not committed) ------------------------------------
FROM node:20-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# --- runtime -----------------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# An unprivileged user. The HLS and TLS directories are created here so that a fresh named volume
# mounted on them inherits the ownership.
RUN groupadd --system inlet \
    && useradd --system --gid inlet --home-dir /app --shell /usr/sbin/nologin inlet \
    && mkdir -p /var/lib/inlet/hls /var/lib/inlet/tls \
    && chown -R inlet:inlet /var/lib/inlet
COPY --from=builder /src/target/release/inlet-api /src/target/release/inlet-ingest /usr/local/bin/
COPY web/ /app/web/
COPY --from=web /web/node_modules /app/web/node_modules
WORKDIR /app
# INLET_TLS_DEV_DIR: the ingest's default (./data/tls) would be under /app, which the inlet user
# cannot write, so the generated RTMPS development certificate goes here instead.
ENV INLET_WEB_DIR=/app/web \
    INLET_HLS_DIR=/var/lib/inlet/hls \
    INLET_TLS_DEV_DIR=/var/lib/inlet/tls
USER inlet
# API + dashboard, HLS origin, RTMP, RTMPS.
EXPOSE 8080 8081 1935 1936
CMD ["inlet-api"]
