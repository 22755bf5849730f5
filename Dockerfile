# Needs BuildKit (the default builder since Docker 23) for the cache mounts.
# Baton's image: the server binary and the dashboard's assets (target/site), nothing else.
#   docker build -t baton .
#   docker run -p 8080:8080 -e BATON_DATABASE_URL=postgres://... -e BATON_ADMIN_PASSWORD=... baton
# (the image has no writable place for the default SQLite file: give it PostgreSQL)
# The build follows `make build`: cargo-leptos 0.3.10, wasm-bindgen-cli at the Cargo.lock
# version, and binaryen's wasm-opt from end2end/'s npm packages.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=trixie

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
RUN rustup target add wasm32-unknown-unknown
# The tools first, in layers of their own: they change far less often than the sources.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    cargo install cargo-leptos --version 0.3.10 --locked --features no_downloads
WORKDIR /src
COPY Cargo.lock ./
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    version="$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)" \
    && test -n "$version" \
    && cargo install wasm-bindgen-cli --version "$version" --locked
COPY end2end/package.json end2end/package-lock.json end2end/
RUN cd end2end && npm ci --no-audit --no-fund
ENV PATH=/src/end2end/node_modules/.bin:$PATH
COPY . .
# leptos names the hydration files after this at compile time (as the Makefile sets it).
ENV LEPTOS_OUTPUT_NAME=baton
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    cargo leptos build --release --split \
    && test -x target/release/server \
    && test -d target/site/pkg

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 baton \
    && useradd --system --uid 10001 --gid baton --home-dir /app --shell /usr/sbin/nologin baton
WORKDIR /app
COPY --from=builder /src/target/release/server /usr/local/bin/baton
COPY --from=builder /src/target/site /app/site
ENV LEPTOS_SITE_ROOT=/app/site \
    LEPTOS_OUTPUT_NAME=baton \
    BATON_LISTEN=0.0.0.0:8080 \
    RUST_LOG=info
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/baton"]
CMD ["serve"]
