#!/usr/bin/env bash
# Vendors the pinned real-world corpus ctxlint is measured on: the sources of tokio,
# tracing, hyper, axum and opentelemetry (and their sibling crates) as published on
# crates.io. Output: corpus/vendor/ (ignored by git). Needs network access to crates.io.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
scratch=corpus/scratch
mkdir -p "$scratch/src"
cat > "$scratch/Cargo.toml" <<'TOML'
[package]
name = "ctxlint-corpus"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
tokio = { version = "=1.54.1", features = ["full", "tracing"] }
tokio-util = { version = "=0.7.20", features = ["full"] }
tracing = "=0.1.44"
tracing-subscriber = { version = "=0.3.23", features = ["env-filter", "json"] }
tracing-opentelemetry = "=0.34.0"
hyper = { version = "=1.12.0", features = ["full"] }
axum = { version = "=0.8.9", features = ["macros", "ws"] }
opentelemetry = "=0.33.1"
opentelemetry_sdk = { version = "=0.33.1", features = ["rt-tokio"] }

[workspace]
TOML
echo 'fn main() {}' > "$scratch/src/main.rs"
(cd "$scratch" && cargo generate-lockfile -q && cargo vendor -q --versioned-dirs ../vendor > /dev/null)
echo "vendored into corpus/vendor"
