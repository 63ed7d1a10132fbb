# syntax=docker/dockerfile:1
# metallite container image: the compiled binary on a minimal glibc base.
#
# Build the binaries first, on a machine with internet access (deno compile downloads its runtime):
#
#   scripts/deno task compile        # dist/metallite-x86_64 and dist/metallite-aarch64
#   docker buildx build --platform linux/amd64,linux/arm64 -t ghcr.io/example/metallite:0.1.0 --push .
#
# It needs BuildKit (the default builder since Docker 23), which sets TARGETARCH. Pin the base by digest
# (gcr.io/distroless/cc-debian12@sha256:...) for reproducible images.
#
# Base: the binary from `deno compile` is linked against glibc (libc, libm, libdl, libpthread, libgcc_s) and
# metallite opens libc.so.6 through FFI for raw sockets, so a static "scratch" image cannot run it. distroless/cc
# holds glibc, libgcc, CA certificates and tzdata: no shell, no package manager, a fraction of debian:12-slim's
# size, for amd64 and arm64 (Raspberry Pi 3/4/5 with a 64-bit OS; Deno has no 32-bit ARM build). debian:12-slim
# works too (--build-arg BASE=debian:12-slim), bigger and with a shell an intruder could use.
#
# User: root by default, because Kubernetes hands added capabilities (NET_RAW, NET_ADMIN) only to root; the
# manifests drop every other capability and keep the root filesystem read-only. The image also works as the
# distroless "nonroot" user (65532) for `metallite status` or a metrics-only run: `docker run --user 65532 ...`.
ARG BASE=gcr.io/distroless/cc-debian12

# Pick the binary for the platform being built: buildx sets TARGETARCH to amd64 or arm64.
FROM scratch AS binary-amd64
COPY dist/metallite-x86_64 /metallite

FROM scratch AS binary-arm64
COPY dist/metallite-aarch64 /metallite

FROM binary-${TARGETARCH} AS binary

FROM ${BASE}
LABEL org.opencontainers.image.title="metallite" \
      org.opencontainers.image.description="A bare-metal LoadBalancer for Kubernetes homelabs" \
      org.opencontainers.image.version="0.1.0"
COPY --from=binary --chmod=0555 /metallite /usr/local/bin/metallite
# The permission set and V8 flags are baked into the binary by deno compile; the arguments are metallite's own.
ENTRYPOINT ["/usr/local/bin/metallite"]
CMD ["run"]
