#!/usr/bin/env bash
# Lambda functions under `faasin serve`, run by AWS's official runtime
# interface clients, which this installs: awslambdaric (PyPI) into a venv
# with the faasin package built from bindings/python; aws-lambda-ric (npm;
# it builds native code, hence the apt packages) with the Node binding;
# aws-lambda-java-runtime-interface-client (Maven Central) beside the Java
# binding's jar; and lambda_runtime (crates.io) in examples/lambda/rust.
# Then lints the platform and runs cli/tests/serve_lambda.rs; then, with a
# Docker daemon (started if none answers, see scripts/lib/need-docker.sh),
# builds the Python and Java images and runs cli/tests/serve_lambda_docker.rs.
# Run from the repository root (scripts/test.sh does).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR=never PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
target=$PWD/target

echo "--- Python: awslambdaric"
venv=$target/lambda-venv
[[ -x $venv/bin/python ]] || python3 -m venv "$venv"
"$venv/bin/pip" install -q awslambdaric==4.2.2 maturin
"$venv/bin/pip" install -q --force-reinstall --no-deps --no-build-isolation ./bindings/python

echo "--- Node: aws-lambda-ric"
need=()
for tool in autoreconf automake libtoolize cmake make g++; do
    command -v "$tool" >/dev/null || need+=("$tool")
done
if ((${#need[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q -o DPkg::Lock::Timeout=300 >/dev/null
    apt-get install -y -q -o DPkg::Lock::Timeout=300 autoconf automake libtool cmake make g++ >/dev/null
fi
bash bindings/node/build.sh
(cd examples/lambda/node && npm install --no-audit --no-fund --loglevel=error)

echo "--- Java: aws-lambda-java-runtime-interface-client"
java=$target/lambda-java
(cd examples/lambda/java && mvn -q -B -ntp dependency:copy-dependencies -DoutputDirectory="$java/lib")
(cd bindings/java && mvn -q -B -ntp package -DskipTests)
cp bindings/java/target/faasin-0.1.0.jar "$java/lib/"
javac -d "$java/classes" -cp "$java/lib/*" examples/lambda/java/example/*.java

echo "--- Rust: lambda_runtime, and the tests"
cargo fmt --all --check
cargo clippy -p faasin-platform -p faasin-cli -p faasin-lambda-examples --all-targets -- -D warnings
cargo test --release -q -p faasin-platform
cargo build --release -q -p faasin --example peer
cargo build --release -q -p faasin-cli -p faasin-lambda-examples
FAASIN_LAMBDA_PYTHON=$venv/bin/python \
FAASIN_LAMBDA_JAVA_CP="$java/classes:$java/lib/*" \
    cargo test --release -q -p faasin-cli --test serve_lambda -- --ignored

echo "--- containers"
source scripts/lib/need-docker.sh
bash examples/lambda/images/build.sh "$venv" "$java/lib" "$java/classes"
cargo test --release -q -p faasin-cli --test serve_lambda_docker -- --ignored
