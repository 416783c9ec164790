#!/usr/bin/env bash
# Runs the Java example functions twice: as a FAASIN chain (RunChain: one
# shared-memory stream, ends handed over FAASIN_SOCKET), and as an ordinary
# shell pipeline (FAASOUT_FD / FAASIN_FD on a plain pipe: the fallback).
# Usage: examples/java/run.sh path/to/faasin.jar
set -euo pipefail
jar=$(realpath "$1")
dir=$(cd "$(dirname "$0")" && pwd)
records=200000

echo "--- FAASIN chain"
java -cp "$jar" "$dir/RunChain.java" "$jar" "$dir" "$records"

echo "--- shell pipeline fallback"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The producer's data goes to fd 5 (the pipe), its return value to a file.
{ FAASOUT_FD=5 java -cp "$jar" "$dir/FaasinProducer.java" "$records" 5>&1 >"$tmp/producer.json"; } |
    FAASIN_FD=0 java -cp "$jar" "$dir/FaasinConsumer.java" >"$tmp/consumer.json"
echo "producer: $(cat "$tmp/producer.json")"
echo "consumer: $(cat "$tmp/consumer.json")"
if ! cmp -s "$tmp/producer.json" "$tmp/consumer.json"; then
    echo "pipeline FAILED" >&2
    exit 1
fi
echo "pipeline OK"
