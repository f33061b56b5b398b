# syntax=docker/dockerfile:1
# Build:  docker build -t scangate:dev .
# Run:    docker run --rm scangate:dev --help
# Multi-stage: dependencies are built in their own layer (from the manifest
# alone), so editing the source rebuilds only scangate itself.

FROM rust:1.95-bookworm AS builder
WORKDIR /build
COPY Cargo.toml Cargo.lock ./
# Build the dependencies against a stub crate; this layer is cached until
# Cargo.toml or Cargo.lock change.
RUN mkdir -p src && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
    && cargo fetch --locked \
    && cargo build --release --locked \
    && rm -rf src target/release/deps/scangate* target/release/.fingerprint/scangate-*
COPY src ./src
RUN cargo build --release --locked --bin scangate \
    && install -D -m 0755 target/release/scangate /out/scangate

# distroless/cc: glibc, libgcc and CA certificates; no shell, no package
# manager; the :nonroot tag runs as uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/scangate /usr/local/bin/scangate
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/scangate"]
CMD ["serve", "--config", "/etc/scangate/config/config.yaml"]
