#!/usr/bin/env bash
# Installs what building and testing lakeunion needs on a fresh machine (Rust toolchain,
# Python 3 and apt are assumed). Idempotent: does nothing when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

# The lance crate's build runs protoc (Debian package protobuf-compiler) on protos that
# import Google's well-known types (libprotobuf-dev); only needed once a crate of the
# workspace depends on lance.
if grep -q '^name = "lance"$' Cargo.lock 2>/dev/null && ! command -v protoc >/dev/null 2>&1; then
    echo "setup: installing protobuf-compiler (protoc) for the lance build" >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq protobuf-compiler libprotobuf-dev >/dev/null
fi
