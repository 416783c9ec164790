#!/usr/bin/env bash
# The main job: one chain of five functions in four languages (Rust -> Python
# -> Java -> Node -> Rust, examples/demo/) passes 256 MiB along each of its
# four edges, under FAASIN and under today's ways of chaining functions:
# a Redis hand-off, files, and plain pipes. Ends with one table (medians of
# DEMO_ROUNDS rounds, transports in turn). Installs and builds what it needs.
#
# Env: DEMO_BYTES (payload per edge, default 268435456; Redis refuses values
# over 512 MB), DEMO_ROUNDS (3). Reports: target/demo/<transport>-<round>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore CARGO_TERM_COLOR=never
bytes=${DEMO_BYTES:-268435456}
rounds=${DEMO_ROUNDS:-3}
out=$root/target/demo
[[ $bytes =~ ^[0-9]+$ ]] || { echo "demo: DEMO_BYTES must be a byte count, not \"$bytes\"" >&2; exit 2; }
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "demo: DEMO_ROUNDS must be a positive number, not \"$rounds\"" >&2; exit 2; }

echo "== installing and building what the demo needs (the first time takes a few minutes)"
build_start=$SECONDS
apt=()
command -v redis-server >/dev/null || apt+=(redis-server)
command -v mvn >/dev/null || apt+=(maven)
command -v javac >/dev/null || apt+=(openjdk-17-jdk-headless)
if ((${#apt[@]})); then
    apt-get update -q
    apt-get install -y -q "${apt[@]}"
fi
python3 -c 'import maturin' 2>/dev/null || python3 -m pip install -q maturin

cargo build --release -q -p faasin-cli -p faasin-chains-bench -p faasin-jni
CARGO_TERM_QUIET=true bash bindings/node/build.sh
# Like bindings/python/test.sh: a fresh install of this tree's binding.
python3 -m pip install -q --force-reinstall --no-deps --no-build-isolation ./bindings/python
# (Maven prints colour resets even in batch mode.)
(cd bindings/java && mvn -B -q -ntp -DskipTests package 2>&1) | sed 's/\x1b\[0m//g'
[[ -e examples/demo/node_modules/faasin ]] || (cd examples/demo && npm install --no-audit --no-fund --silent)
mkdir -p "$out/classes"
javac -d "$out/classes" -cp bindings/java/target/faasin-0.1.0.jar examples/demo/Relay.java
echo "   ready in $((SECONDS - build_start)) s"

export PATH="$root/target/release:$PATH" DEMO_BYTES=$bytes DEMO_DIR=$root/examples/demo DEMO_CLASSES=$out/classes
export FAASIN_JAR=$root/bindings/java/target/faasin-0.1.0.jar FAASIN_JNI_LIB=$root/target/release/libfaasin_jni.so
rm -f "$out"/*.json

transports=(faasin redis file pipe)
echo "== Rust -> Python -> Java -> Node -> Rust, $bytes bytes along each edge, $rounds rounds"
run_start=$SECONDS
for ((r = 1; r <= rounds; r++)); do
    line="   round $r:"
    for ((i = 0; i < ${#transports[@]}; i++)); do
        # Rotate the order each round, so that drift on the machine hits all alike.
        t=${transports[(i + r - 1) % ${#transports[@]}]}
        faasin run -q -f examples/demo/chain.toml --transport "$t" --timeout 300 \
            -i /dev/null -o /dev/null --report "$out/$t-$r.json"
        line+=" $t $(python3 -c 'import json, sys; print("%.2f s" % json.load(open(sys.argv[1]))["elapsed_s"])' "$out/$t-$r.json")"
    done
    echo "$line"
done
echo "   ran in $((SECONDS - run_start)) s"
echo
python3 examples/demo/table.py "$out"/*.json
