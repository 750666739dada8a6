# syntax=docker/dockerfile:1
# The meshtel image: alsd (the entrypoint) and dashgen, static executables
# on a distroless base with no shell and no libc, running as non-root.
#
#   docker build -t meshtel:dev .
#   docker run --rm meshtel:dev --help
#   docker run --rm --entrypoint dashgen meshtel:dev check /catalog/mesh.yaml
#
# The build stage runs scripts/build-static, the same script the
# static-build test runs (MESHTEL_STATIC=1 go test ./deploy).
# GO_VERSION follows the go directive of go.mod (a test checks it).
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN scripts/build-static /out/bin && mkdir -p /out/state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bin/alsd /out/bin/dashgen /usr/local/bin/
# A directory the non-root user owns, for the state (spool, checkpoints):
# the default --state-dir, ./alsd-data, lands in it; mount a volume here.
COPY --from=build --chown=65532:65532 /out/state /var/lib/alsd
WORKDIR /var/lib/alsd
# In a container alsd must listen beyond loopback for probes and scrapes;
# --admin-addr overrides it. (Not ALSD_STATE_DIR: `alsd report` would read
# it as its own --state-dir.)
ENV ALSD_ADMIN_ADDR=:9102
USER 65532:65532
EXPOSE 18000 9102
ENTRYPOINT ["/usr/local/bin/alsd"]
