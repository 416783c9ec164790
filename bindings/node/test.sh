#!/usr/bin/env bash
# Node binding: install JS deps, build the addon (and a test build of it)
# and the Rust peer, run the node:test suite, type-check index.d.ts, run the
# example. From the repo root.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR=never

command -v node >/dev/null || { echo "node (>= 18) is required" >&2; exit 1; }

# TypeScript + @types/node for the type check (devDependencies).
(cd bindings/node && npm install --no-audit --no-fund --loglevel=error)

# The tests load an addon built with the test-only functions (feature
# test-hooks); the package's own faasin.node is built without them.
target="${CARGO_TARGET_DIR:-target}"
[[ $target == /* ]] || target="$PWD/$target"
test_addon="$target/node-test/faasin.node"
bash bindings/node/build.sh "$test_addon" --features test-hooks
bash bindings/node/build.sh
env -u FAASIN_NODE_ADDON node -e "
  const native = require('./bindings/node')._native;
  if (native._panicForTest || native._slabStats) {
    console.error('faasin.node exports test-only functions');
    process.exit(1);
  }"
cargo test -p faasin-node --release -q
# The Rust peer for the cross-language round trips.
cargo build --release -p faasin --example peer
export FAASIN_PEER="${CARGO_TARGET_DIR:-target}/release/examples/peer"
FAASIN_PEER="$(cd "$(dirname "$FAASIN_PEER")" && pwd)/peer"
# The runner, for the warm-function tests (test/warm.test.js).
cargo build --release -p faasin-cli

(cd bindings/node && FAASIN_NODE_ADDON="$test_addon" timeout 600 node --test --test-concurrency=1 --test-timeout=180000 test/*.test.js)

(cd bindings/node && node_modules/.bin/tsc -p test/tsconfig.json)
echo "tsc: index.d.ts checks against test/typed-example.ts"

(cd examples/node && npm install --no-audit --no-fund --loglevel=error && timeout 120 node run.js 100000)
