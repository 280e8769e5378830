# syntax=docker/dockerfile:1.7
# Agentry's four images from one build: each final stage (target) holds one statically linked
# binary on distroless/static (CA certificates, tzdata, /etc/passwd with `nonroot`; no shell, no
# package manager) and runs as the non-root user 65532.
#
#   docker build --target agentry-operator -t ghcr.io/agentry-dev/agentry-operator:0.1.0 .
#   (targets: agentry-operator, agentry-runner, agentry-recorder, agentry-cli)
#
# The binaries link musl statically (rustls with ring: no OpenSSL, no glibc to match).

ARG RUST_VERSION=1.95.0

FROM docker.io/library/rust:${RUST_VERSION}-alpine AS build
# ring's C and assembly need a compiler; musl-dev gives the static C library.
RUN apk add --no-cache build-base musl-dev
WORKDIR /src
COPY . .
# rust-toolchain.toml names the toolchain the image already is.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
      --bin agentry-operator --bin agentry-runner --bin agentry-recorder --bin agentry --bin kubectl-agentry \
 && mkdir -p /out \
 && cp target/release/agentry-operator target/release/agentry-runner target/release/agentry-recorder \
       target/release/agentry target/release/kubectl-agentry /out/

FROM gcr.io/distroless/static-debian12:nonroot AS runtime
USER 65532:65532
LABEL org.opencontainers.image.source="https://github.com/agentry-dev/agentry" \
      org.opencontainers.image.licenses="Apache-2.0"

FROM runtime AS agentry-operator
COPY --from=build /out/agentry-operator /usr/local/bin/agentry-operator
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/agentry-operator"]

FROM runtime AS agentry-runner
COPY --from=build /out/agentry-runner /usr/local/bin/agentry-runner
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/agentry-runner"]

FROM runtime AS agentry-recorder
COPY --from=build /out/agentry-recorder /usr/local/bin/agentry-recorder
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/agentry-recorder"]

FROM runtime AS agentry-cli
COPY --from=build /out/agentry /usr/local/bin/agentry
COPY --from=build /out/kubectl-agentry /usr/local/bin/kubectl-agentry
ENTRYPOINT ["/usr/local/bin/agentry"]
