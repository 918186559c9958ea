# syntax=docker/dockerfile:1
# Meridian in a container: built on Debian 12 with the repo's own scripts, run from a slim
# Debian 12 image holding only the shared libraries the binary links, as a non-root user.
#
#   docker build -t meridian .
#   docker run -d --name meridian --stop-timeout 35 -p 8080:8080 -p 8443:8443 \
#     -v "$PWD/meridian.yaml:/etc/meridian/meridian.yaml:ro" \
#     -v "$PWD/geo:/var/lib/meridian:ro" meridian
#
# docs/deploy.md has the details: mounts, reload (docker kill -s HUP), drain, health.

FROM debian:12 AS build
WORKDIR /src
# The package list changes less often than the code: install first, so this layer is cached.
COPY scripts/setup scripts/setup
RUN bash scripts/setup && rm -rf /var/lib/apt/lists/*
COPY . .
RUN bash scripts/build \
 && strip --strip-debug -o /meridian build/proxy/meridian \
 && ldd /meridian

FROM debian:bookworm-slim AS runtime
# One package per library in `ldd build/proxy/meridian` (libstdc++6, libgcc-s1 and libc6 are
# in the base image): libevent_core, libnghttp2, libssl/libcrypto, libmaxminddb, libyaml-cpp,
# libcurl (the etcd client of `fleet:`). The curl command is only for the HEALTHCHECK.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libevent-core-2.1-7 libnghttp2-14 libssl3 libmaxminddb0 libyaml-cpp0.7 libcurl4 curl \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/meridian \
      --no-create-home --shell /usr/sbin/nologin meridian \
 && install -d -o meridian -g meridian -m 0755 /etc/meridian /var/lib/meridian /var/log/meridian
COPY --from=build /meridian /usr/local/bin/meridian
COPY deploy/meridian.yaml /etc/meridian/meridian.example.yaml
# Fail the image build, not the first start, when a shared library is missing.
RUN ! ldd /usr/local/bin/meridian | grep -q "not found" && meridian version

USER meridian
WORKDIR /var/lib/meridian
# Config at /etc/meridian/meridian.yaml (mount it), the GeoIP database under /var/lib/meridian/,
# a file access log (if configured) under /var/log/meridian/.
# Public listeners (plain, TLS) and the admin endpoint, as in deploy/meridian.yaml.
EXPOSE 8080 8443 9901
# The admin address the health check asks; set it to the config's `admin.address`.
ENV MERIDIAN_ADMIN=127.0.0.1:9901
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD curl -fsS --max-time 2 -o /dev/null "http://${MERIDIAN_ADMIN}/healthz" || exit 1
# SIGTERM drains: in-flight requests finish (limits.drain_timeout, 30s by default) before exit;
# give `docker stop` more than that (--stop-timeout 35). SIGHUP reloads the config.
STOPSIGNAL SIGTERM
ENTRYPOINT ["meridian"]
CMD ["run", "-c", "/etc/meridian/meridian.yaml"]
