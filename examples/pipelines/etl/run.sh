#!/usr/bin/env bash
# CSV ETL pipeline: Java parser -> Python aggregation -> Node formatter, run
# through `faasin run` under each transport; prints a table of medians.
#
# Usage: examples/pipelines/etl/run.sh [transport...]   (default: all the runner offers)
# Env:   LINES (2000000), RUNS (3), FAASIN (default target/release/faasin),
#        FAASIN_JAR (default bindings/java/target/faasin-0.1.0.jar),
#        WORK_DIR (keep the CSV there between runs), PIPELINE_TIMEOUT (300),
#        RESULTS_JSON (every runner report; default target/bench-results/pipelines/etl.json),
#        PIPELINE_RUNNER_ARGS.
# Needs the bindings built: bindings/java (the jar), bindings/node (faasin.node),
# bindings/python installed (import faasin), numpy.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)

faasin=${FAASIN:-$root/target/release/faasin}
[[ -x $faasin ]] || (cd "$root" && cargo build -q --release -p faasin-cli)
export FAASIN_JAR=${FAASIN_JAR:-$root/bindings/java/target/faasin-0.1.0.jar}
[[ -f $FAASIN_JAR ]] || { echo "etl: no $FAASIN_JAR (bash bindings/java/test.sh builds it)" >&2; exit 2; }
[[ -f $root/bindings/node/faasin.node ]] || { echo "etl: no bindings/node/faasin.node (bash bindings/node/build.sh)" >&2; exit 2; }
python3 -c 'import faasin, numpy' 2>/dev/null || {
    echo "etl: needs the Python binding and numpy (bash bindings/python/test.sh; pip install numpy)" >&2
    exit 2
}
# A file: dependency is a symlink to bindings/node: nothing is fetched.
[[ -e $here/node_modules/faasin ]] || (cd "$here" && npm install --no-audit --no-fund --silent)

lines=${LINES:-2000000}
work=${WORK_DIR:-$(mktemp -d /tmp/faasin-etl.XXXXXX)}
mkdir -p "$work"
trap '[[ -n ${WORK_DIR:-} ]] || rm -rf "$work"' EXIT
export PIPELINE_DIR=$here ETL_CLASSES=$work/classes
if [[ ! -f $ETL_CLASSES/Parse.class || $here/Parse.java -nt $ETL_CLASSES/Parse.class ]]; then
    javac -d "$ETL_CLASSES" -cp "$FAASIN_JAR" "$here/Parse.java"
fi
csv=$work/access-$lines.csv
[[ -s $csv ]] || python3 "$here/gen.py" "$lines" "$csv"
echo "etl: $csv ($lines lines, $(stat -c %s "$csv") bytes); load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# Compute the expected aggregate once, before any timing.
python3 "$here/verify.py" "$csv" /dev/null >/dev/null 2>&1 || true

results=${RESULTS_JSON:-$root/target/bench-results/pipelines/etl.json}
mkdir -p "$(dirname "$results")"
python3 "$here/../bench.py" --title "ETL: parse (Java) -> aggregate (Python numpy) -> format (Node), $lines CSV lines" \
    --chain "$here/chain.toml" --move-chain "$here/chain-move.toml" --input "$csv" --first-into aggregate \
    --verify "python3 '$here/verify.py' '$csv' \"\$RUN_OUT\"" \
    --runs "${RUNS:-3}" --timeout "${PIPELINE_TIMEOUT:-300}" --faasin "$faasin" --json "$results" "$@"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
