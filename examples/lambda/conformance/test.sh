#!/usr/bin/env bash
# The Lambda conformance test: the handlers beside this script under AWS's
# Runtime Interface Emulator and under `faasin serve`, compared as a caller
# sees them. Builds the emulator (Go module proxy, cached outside the clone),
# installs awslambdaric and pytest (pip), builds `faasin` and the Rust
# handler that streams its response (examples/lambda/rust).
set -euo pipefail
cd "$(dirname "$0")/../../.."
export CARGO_TERM_COLOR=never PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

source scripts/lib/need-rie.sh
python3 -m pip install -q awslambdaric==4.2.2 pytest
cargo build --release -q -p faasin-cli -p faasin-lambda-examples
export FAASIN_BIN=$PWD/target/release/faasin
export STREAMING_HANDLER=$PWD/target/release/lambda-stream
export PYTHONPATH=$PWD/scripts/lib
python3 -m pytest -q -p no:cacheprovider examples/lambda/conformance
