# callgate on Debian 12: build the .deb, then install it on a slim image.
#   docker build -t callgate .
#   docker run -p 8080:8080 -p 8081:8081 -v callgate-data:/var/lib/callgate callgate
# Not built in CI (no container runtime there); the .deb it installs is
# tested by tests/packaging_test.sh.

FROM debian:12 AS build
WORKDIR /src
COPY . .
# Build dependencies only (scripts/deps --build), a Release build without
# tests, then the .deb.
RUN apt-get update -qq \
 && scripts/deps --build \
 && CALLGATE_BUILD_TYPE=Release scripts/build build -DCALLGATE_BUILD_TESTS=OFF \
 && cd build && cpack -G DEB -B /out \
 && rm -rf /var/lib/apt/lists/*

FROM debian:12-slim
COPY --from=build /out/callgate_*.deb /tmp/
# apt resolves the package's Depends (RocksDB, simdjson, OpenSSL, libsystemd);
# the postinst creates the callgate user. There is no systemd in the
# container: the image runs the binary the way the unit would.
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends /tmp/callgate_*.deb \
 && rm -rf /var/lib/apt/lists/* /tmp/callgate_*.deb \
 && install -d -m 0700 -o callgate -g callgate /var/lib/callgate
USER callgate
# In a container the listeners must face outward; everything else is
# /etc/default/callgate's defaults, overridable with -e CALLGATE_*.
ENV CALLGATE_API_LISTEN=0.0.0.0:8080 \
    CALLGATE_EDGE_LISTEN=0.0.0.0:8081 \
    CALLGATE_LOG_FORMAT=json
VOLUME /var/lib/callgate
EXPOSE 8080 8081
# SIGTERM drains for CALLGATE_SHUTDOWN_DELAY (5 s) and up to 10 s more:
# give `docker stop` -t 20 (its default is 10 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/callgate", "serve", "--data-dir", "/var/lib/callgate"]
