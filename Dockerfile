# Inlet: one image holding both services, `inlet-api` and `inlet-ingest`.
# docker-compose.yml picks the binary per container. This has not been tested here: no Docker daemon
# was available on the machine where it was written.

# --- build -------------------------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
# The migrations (sqlx::migrate!) and the dashboard (web/, with the vendored hls.js; api/build.rs)
# are embedded at compile time. No database and no npm are needed to build.
RUN cargo build --release --bin inlet-api --bin inlet-ingest

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
WORKDIR /app
# INLET_TLS_DEV_DIR: the ingest's default (./data/tls) would be under /app, which the inlet user
# cannot write, so the generated RTMPS development certificate goes here instead.
ENV INLET_HLS_DIR=/var/lib/inlet/hls \
    INLET_TLS_DEV_DIR=/var/lib/inlet/tls
USER inlet
# API + dashboard, HLS origin, RTMP, RTMPS.
EXPOSE 8080 8081 1935 1936
CMD ["inlet-api"]
