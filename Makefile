# Baton: `make run` starts the orchestrator on embedded defaults; `make test` runs every test.
# Both install what they need first, idempotently.

SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/baton-target
# Incremental state only pays off while editing; in `make test` it would just fill the disk.
export CARGO_INCREMENTAL ?= 0
# scripts/bin/wasm-opt picks the wasm-opt for each file of the bundle (see the script).
export PATH := $(CURDIR)/scripts/bin:$(CURDIR)/end2end/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)
export LEPTOS_SITE_ROOT ?= $(CURDIR)/target/site
# leptos reads this at compile time to name the hydration files; cargo-leptos names them so too.
export LEPTOS_OUTPUT_NAME := baton

CARGO_LEPTOS_VERSION := 0.3.10
WASM_BINDGEN_VERSION = $(shell awk '/^name = "wasm-bindgen"$$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
BATON := $(CARGO_TARGET_DIR)/release/server

.PHONY: run test setup setup-rust setup-node setup-browser services build rust-test e2e-test lint api-fuzz

DEMO_ROOM := $(CARGO_TARGET_DIR)/release/game_room

run: build
	BATON_DEMO_ROOM=$${BATON_DEMO_ROOM-$(DEMO_ROOM)} $(BATON) $(ARGS)

test: setup services lint rust-test build e2e-test

setup: setup-rust setup-node setup-browser

# The build tools are installed unoptimized, without debug info and debug assertions (`--debug`,
# CARGO_PROFILE_DEV_*): they only drive rustc, wasm-bindgen and wasm-opt. Optimized,
# cargo-leptos took 13 of a first run's minutes on 2 cores (about 18 with its own fat LTO);
# unoptimized, 6 to 8 (measured alone). cargo-leptos also pulls
# OpenSSL (through cargo-generate, for `cargo leptos new`, which Baton never runs) and would
# compile it from source: where the system's OpenSSL is installed, it links that instead.
TOOL_INSTALL := CARGO_PROFILE_DEV_DEBUG=0 CARGO_PROFILE_DEV_DEBUG_ASSERTIONS=false \
	CARGO_PROFILE_DEV_OVERFLOW_CHECKS=false $(if $(shell pkg-config --exists openssl 2>/dev/null && echo y),OPENSSL_NO_VENDOR=1) cargo install --debug

setup-rust:
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@cargo leptos --version 2>/dev/null | grep -q "$(CARGO_LEPTOS_VERSION)" || \
		$(TOOL_INSTALL) cargo-leptos --version $(CARGO_LEPTOS_VERSION) --locked --features no_downloads
	@wasm-bindgen --version 2>/dev/null | grep -q "$(WASM_BINDGEN_VERSION)" || \
		$(TOOL_INSTALL) wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION)

# playwright-core drives Debian's Chromium; npm's binaryen provides wasm-opt for release builds,
# and Debian's native binaryen (108) the faster one for the split chunks (scripts/bin/wasm-opt
# says which file goes where and why). Without Debian's package, npm's does every file.
setup-node:
	@cd end2end && { [ -x node_modules/.bin/wasm-opt ] && [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund; }
	@[ -x /usr/bin/wasm-opt ] || apt-get install -y -q binaryen >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null 2>&1 && apt-get install -y -q binaryen >/dev/null 2>&1; } || \
		echo "note: Debian's binaryen is not installed; wasm-opt runs under Node for every file (slower)"

setup-browser:
	@[ -x /usr/bin/chromium ] || { apt-get update && apt-get install -y chromium; }

# PostgreSQL and Redis on this machine kind; start them if they are down.
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log

# The dashboard and server, and the example game room (the demo and the browser tests run it):
# a crate of its own with one dependency, built in seconds. The server compiles from the start,
# while the build tools install (that install alone leaves a core idle part of the time): the
# same `cargo build` that cargo-leptos runs for it, in the same environment, so cargo-leptos,
# once installed, builds the browser bundle beside it and then finds the server built.
SERVER_BUILD := cargo build --release --package=server --bin=server --no-default-features

build: setup-node
	@{ cargo build --release -p game-room && $(SERVER_BUILD); } & server=$$!; \
		$(MAKE) --no-print-directory setup-rust && cargo leptos build --release --split; built=$$?; \
		wait $$server && exit $$built

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --exclude frontend --all-targets --features app/ssr -- -D warnings

# The server's tests with live rooms run the debug build of the example game room.
rust-test:
	cargo build -p game-room
	cargo test --workspace --exclude frontend --features app/ssr

e2e-test: setup-node
	cd end2end && BATON_BIN=$(BATON) BATON_GAME_ROOM=$(DEMO_ROOM) node --test tests/

# Schemathesis (PyPI, in a venv under ~/.cache) against every operation of /openapi.json on a
# fresh server: zero 5xx and zero schema violations (see the README's "API fuzzing").
# FUZZ_PROFILE=release fuzzes the release binary; FUZZ_EXAMPLES, FUZZ_SEED: scripts/api-fuzz.sh.
FUZZ_PROFILE ?= debug
api-fuzz:
	cargo build -p server --bin server $(if $(filter release,$(FUZZ_PROFILE)),--release)
	BATON=$(CARGO_TARGET_DIR)/$(FUZZ_PROFILE)/server scripts/api-fuzz.sh
