#!/usr/bin/env bash
# The test command of the README: prepares a fresh machine, then runs every test of the
# workspace (unit, integration suites with the oracle property tests, doc tests).
# Extra arguments go to `cargo test`; LAKEUNION_PROPTEST_CASES sets the property-test
# case count per strategy (default 2000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --workspace --locked "$@"
# lakescan's Lance backend is a cargo feature (the README's run command stays protoc-free):
# its CLI tests run again with it
cargo test --locked -p lake-cli --features lance --test cli "$@"
# the GPU decoder's tests: on a machine without an NVIDIA GPU they say so and skip
cargo test --locked -p lake-sink --features cuda --lib "$@"
