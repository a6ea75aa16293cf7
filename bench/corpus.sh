#!/usr/bin/env bash
# Builds the real-code corpus ctxlint is measured on, into the ignored corpus/ folder:
#   corpus/rust/   `cargo vendor` of bench/corpus/rust (tokio, tracing, hyper, axum, tonic,
#                  opentelemetry, service frameworks and everything they depend on), pinned
#                  by bench/corpus/rust/Cargo.lock
#   corpus/apps/   published application crates (services built on tokio, tracing, actix and
#                  tonic), unpacked from crates.io .crate files checked against their sha256
#   corpus/python/ `pip install --no-deps --target` of pinned context-heavy packages
# Needs network access to crates.io and PyPI; re-running reuses what is there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p corpus

if [ ! -d corpus/rust ]; then
    (cd bench/corpus/rust && cargo vendor --locked --versioned-dirs -q ../../../corpus/rust.partial > /dev/null)
    mv corpus/rust.partial corpus/rust
fi

# name version sha256 of the .crate file
apps='
pict-rs 0.5.17 58fc7a57d83675528f4baf34b68ce18ad68d1af8c2cc34141a2c4107a32eb70b
atuin-server 18.24.4 5c9831436a6ff477e7e11a20f75dd7b998f70aaa6360c728fdb427559d355f51
atuin-client 18.24.4 930cd05f4ea9a561978c4006230c7f034e1e8200eec63a0fd55ae0efc45299b5
atuin-daemon 18.24.4 4b53b8898f3df6b84dfb2e509bff7786edc9203a2a976ab042020f7e7aa7d198
sccache 0.19.0 2c73f2a91ac28f4dd75250a693ae62eec64ab0f932df54c7c4a652853aa0dbe6
garage_api 1.0.1 8e5d37fb0de01bfca401402e1988da2ffffa2947555c06cd7fa2a77f3acd366b
garage_rpc 1.0.1 0846f01deb228ba4174b22afa91dde4a1c5968116e9d41831e1253f7c77cb34e
garage_table 1.0.1 a0046693ad8cb2cad79490f805512c55e67440aaa944b30f12f340c8f5495243
garage_block 1.0.1 d4731a4cdaf25ea3dd0c118987fe8f31a2023fb607ec8f688663b7b3f42e4d7f
rustic_server 0.4.4 c8517f241bc28b0e50dc6f7848927dd1d47ceab64d7f10e66db3786364a7c4b7
shuttle-runtime 0.57.0 613d6fd24bb70d4c173989d6b7882b5b6bffdafd679223f5a76171369aadcf01
'
if [ ! -d corpus/apps ]; then
    mkdir -p corpus/apps.partial
    while read -r name version sha; do
        [ -n "$name" ] || continue
        crate="corpus/apps.partial/$name-$version.crate"
        curl -sSfL -o "$crate" "https://static.crates.io/crates/$name/$name-$version.crate"
        echo "$sha  $crate" | sha256sum --check --quiet
        tar xzf "$crate" -C corpus/apps.partial && rm "$crate"
    done <<< "$apps"
    mv corpus/apps.partial corpus/apps
fi

if [ ! -d corpus/python ]; then
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-deps --no-compile \
        --target corpus/python.partial \
        structlog==26.1.0 opentelemetry-api==1.45.2 opentelemetry-sdk==1.45.2 \
        starlette==1.10.0 asgiref==3.13.0 anyio==4.16.0
    mv corpus/python.partial corpus/python
fi

summary() {
    local lang=$1 dir=$2 ext=$3
    find "$dir" -name "*.$ext" -type f -print0 | python3 -c '
import sys
paths = [p for p in sys.stdin.buffer.read().split(b"\0") if p]
size = lines = 0
for path in paths:
    data = open(path, "rb").read()
    size += len(data)
    lines += data.count(b"\n")
print(f"{sys.argv[1]}: {len(paths)} files, {size / 1e6:.1f} MB, {lines} lines")
' "$lang"
}
summary rust corpus/rust rs
summary "rust apps" corpus/apps rs
summary python corpus/python py
