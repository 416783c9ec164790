#!/usr/bin/env bash
# CI for the real-world pipelines: each runs ONCE on a small input over the
# FAASIN transport (plus its move-only and idle variants), and its output is
# checked: the video's frame count with ffprobe, the ETL report against
# aggregates computed independently from the CSV. The main job
# (scripts/demo.sh) runs one small round under every transport. Then the
# checkers are shown to reject a wrong output, so a green run means something.
#
# Called from the repo root by scripts/test.sh, after the bindings' own test
# scripts, and assumes what they leave behind: `import faasin` (the Python
# binding, built from this tree) and numpy, bindings/java/target/faasin-0.1.0.jar,
# bindings/node/faasin.node. Installs ffmpeg itself; builds the runner if missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
here=$root/examples/pipelines

if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
    apt-get update -q
    apt-get install -y -q --no-install-recommends ffmpeg
fi
cargo build -q --release -p faasin-cli
export FAASIN=$root/target/release/faasin

tmp=$(mktemp -d /tmp/faasin-pipelines-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

echo "=== video pipeline (2 s, 60 frames)"
SECONDS_OF_VIDEO=2 RUNS=1 PIPELINE_TIMEOUT=60 WORK_DIR=$tmp/video timeout 300 bash "$here/video/run.sh" faasin
# The motion-detection path of the transform, too.
SECONDS_OF_VIDEO=2 RUNS=1 MODE=motion PIPELINE_TIMEOUT=60 WORK_DIR=$tmp/video timeout 300 bash "$here/video/run.sh" faasin

echo "=== ETL pipeline (20000 lines)"
LINES=20000 RUNS=1 PIPELINE_TIMEOUT=60 WORK_DIR=$tmp/etl timeout 300 bash "$here/etl/run.sh" faasin

echo "=== the demo (scripts/demo.sh): one round, a small payload"
DEMO_BYTES=4194304 DEMO_ROUNDS=1 timeout 600 bash "$root/scripts/demo.sh"

echo "=== the checkers reject wrong output"
# The demo's table must refuse a run whose last function saw other bytes.
python3 - "$root/target/demo/faasin-1.json" "$tmp/bad-demo.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
report["functions"][-1]["return_value"]["sum"] ^= 1
json.dump(report, open(sys.argv[2], "w"))
PY
if python3 "$root/examples/demo/table.py" "$tmp/bad-demo.json" >/dev/null 2>&1; then
    echo "examples/demo/table.py accepted a changed stream" >&2
    exit 1
fi
# The generated 60-frame test video must fail a check for 61 frames.
video=$tmp/video/testsrc-640x360-30-2.mp4
if bash "$here/video/verify.sh" "$video" 61 2>/dev/null; then
    echo "video/verify.sh accepted a wrong frame count" >&2
    exit 1
fi
csv=$tmp/etl/access-20000.csv
report=$tmp/report.txt
# The ETL chain run by hand, as README.md shows it: its report must pass...
FAASIN_JAR=$root/bindings/java/target/faasin-0.1.0.jar ETL_CLASSES=$tmp/etl/classes PIPELINE_DIR=$here/etl \
    timeout 120 "$FAASIN" run -q -f "$here/etl/chain.toml" -i "$csv" -o "$report"
python3 "$here/etl/verify.py" "$csv" "$report"
# ...and the same report with one request count off by one must not.
awk '!done && $1 == "US" && NF == 7 { $3 = $3 + 1; done = 1 } { print }' "$report" >"$tmp/bad.txt"
cmp -s "$report" "$tmp/bad.txt" && { echo "test: could not alter the report" >&2; exit 1; }
if python3 "$here/etl/verify.py" "$csv" "$tmp/bad.txt" 2>/dev/null; then
    echo "etl/verify.py accepted a wrong report" >&2
    exit 1
fi
echo "=== pipelines passed"
