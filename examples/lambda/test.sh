#!/usr/bin/env bash
# Lambda functions under `faasin serve`, run by AWS's official runtime
# interface clients: installs them (awslambdaric from PyPI into a venv, with
# the faasin package built from bindings/python), lints the platform, and
# runs cli/tests/serve_lambda.rs. Run from the repository root
# (scripts/test.sh does).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR=never PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

venv=$PWD/target/lambda-venv
[[ -x $venv/bin/python ]] || python3 -m venv "$venv"
"$venv/bin/pip" install -q awslambdaric==4.2.2 maturin
"$venv/bin/pip" install -q --force-reinstall --no-deps --no-build-isolation ./bindings/python

cargo fmt --all --check
cargo clippy -p faasin-platform -p faasin-cli --all-targets -- -D warnings
cargo test --release -q -p faasin-platform
cargo build --release -q -p faasin --example peer -p faasin-cli
FAASIN_LAMBDA_PYTHON=$venv/bin/python \
    cargo test --release -q -p faasin-cli --test serve_lambda -- --ignored
