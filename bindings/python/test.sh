#!/usr/bin/env bash
# Python binding: install the test tools, build and install the package the
# way a user does (pip + maturin from PyPI), type-check it, run the pytest
# suite (which includes mypy.stubtest), and run the example chain.
# Run from the repository root (scripts/test.sh does).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

need=()
for mod in maturin pytest mypy numpy; do
    "$PY" -c "import $mod" 2>/dev/null || need+=("$mod")
done
if ((${#need[@]})); then
    "$PY" -m pip install -q "${need[@]}"
fi

# The Rust peer of the cross-language round trips, and the runner that keeps
# a function warm (tests/test_warm.py).
cargo build --release -q -p faasin --example peer
cargo build --release -q -p faasin-cli

# A fresh build and install of the package, as `pip install bindings/python`
# does on a user's machine (maturin is the PEP 517 backend; installed above, so
# no isolated build env: it would make cargo rebuild pyo3 every time).
"$PY" -m pip install -q --force-reinstall --no-deps --no-build-isolation ./bindings/python

# Type-check the pure-Python layer against the stub of the native module.
(cd /tmp && "$PY" -m mypy --strict -p faasin)

# From the repo root, so `import faasin` is the installed package.
timeout 900 "$PY" -m pytest -q -p no:cacheprovider bindings/python/tests

timeout 120 "$PY" examples/python/run.py 1000
