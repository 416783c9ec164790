# Sourced by the scripts that run AWS's Lambda Runtime Interface Emulator (the
# Lambda conformance test, benches/lambda): builds the emulator once from the
# Go module proxy into a cache outside the clone, keyed by its version, and
# exports FAASIN_RIE, its path. It runs without Docker:
#   $FAASIN_RIE --runtime-interface-emulator-address 127.0.0.1:PORT \
#       --runtime-api-address 127.0.0.1:PORT2 python3 -m awslambdaric mod.fn
# starts the runtime client as its child with AWS_LAMBDA_RUNTIME_API set and
# takes invocations on POST /2015-03-31/functions/function/invocations.
rie_version=v0.0.0-20261030222936-bef5c4ba774d
rie_bin=${FAASIN_CACHE:-/var/cache/faasin}/rie/$rie_version
export FAASIN_RIE=$rie_bin/aws-lambda-rie
if [[ ! -x $FAASIN_RIE ]]; then
    # Go's own installer puts it here without touching PATH.
    command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
    if ! command -v go >/dev/null; then
        echo "need-rie.sh: the Lambda emulator is built with Go, and there is no go on PATH" >&2
        exit 1
    fi
    echo "--- building aws-lambda-rie $rie_version into $rie_bin" >&2
    mkdir -p "$rie_bin"
    GOBIN=$rie_bin GOFLAGS=-modcacherw go install \
        "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$rie_version"
fi
