# syntax=docker/dockerfile:1
#
# The tlink image: the `tlink` binary on Debian bookworm, run as an unprivileged user (uid 10001), with the
# SQLite database and the generated secrets on the /var/lib/tlink volume. docs/packaging.md explains how to
# build, run and upgrade it (with PostgreSQL and Redis too).
#
#   docker build --build-arg TLINK_GIT_REV="$(git rev-parse --short=12 HEAD)" -t tlink .
#   docker run -d --name tlink -p 8080:8080 -v tlink-data:/var/lib/tlink tlink

ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS builder
# The revision `tlink --version` reports. The build context has no .git (see .dockerignore), so it is given
# here; without it the version says `rev unknown`.
ARG TLINK_GIT_REV=""
WORKDIR /src
COPY . .
# The registry, git checkouts and target/ live in cache mounts: a rebuild after a source change compiles only
# the workspace's own crates. The binary leaves the cache in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    TLINK_GIT_REV="${TLINK_GIT_REV}" cargo build --release --locked -p tlink \
 && install -D -m 0755 target/release/tlink /out/tlink

FROM ${RUNTIME_IMAGE}
ARG TLINK_GIT_REV=""
LABEL org.opencontainers.image.title="tlink" \
      org.opencontainers.image.description="Self-hosted threat intelligence and security monitoring API server" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.revision="${TLINK_GIT_REV}"
# CA certificates for the providers and the ssl tool's trust store; nothing else is needed (SQLite and TLS are
# built into the binary). The service user owns only its data directory.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 tlink \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/tlink --shell /usr/sbin/nologin tlink \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/tlink
COPY --from=builder /out/tlink /usr/local/bin/tlink
# The binary starts in this image (a glibc mismatch would fail the build here, not at run time).
RUN ["tlink", "--version"]

# Listen on every interface of the container; the data directory is the volume. The database is SQLite in
# it unless TLINK_DATABASE_URL names PostgreSQL (postgres://user:password@host:5432/db).
ENV TLINK_DATA_DIR=/var/lib/tlink \
    TLINK_LISTEN=0.0.0.0:8080
VOLUME ["/var/lib/tlink"]
WORKDIR /var/lib/tlink
USER 10001:10001
EXPOSE 8080
# SIGTERM: the API stops accepting requests and the worker finishes or gives back its jobs within
# worker.shutdown_grace_secs (20 s): stop the container with a longer timeout (`docker stop -t 30`).
STOPSIGNAL SIGTERM
# GET /readyz through the binary itself (the image has no curl): healthy while the database answers.
# A worker-only container (`worker`) serves no HTTP: turn the check off for it (see docs/packaging.md).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["tlink", "health"]
ENTRYPOINT ["tlink"]
CMD ["serve"]
