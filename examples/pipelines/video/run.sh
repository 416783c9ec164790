#!/usr/bin/env bash
# Video pipeline: decode -> frame transform -> encode, each its own process,
# run through `faasin run` under each transport; prints a table of medians.
#
# Usage: examples/pipelines/video/run.sh [transport...]   (default: all the runner offers)
# Env:   SECONDS_OF_VIDEO (10), SIZE (640x360), FPS (30), MODE (gray|motion),
#        RUNS (3), FAASIN (the runner; default target/release/faasin),
#        RESULTS_JSON (every runner report; default target/bench-results/pipelines/video.json),
#        PIPELINE_TIMEOUT (per chain, 300 s),
#        PIPELINE_RUNNER_ARGS (more runner options, e.g. --redis HOST:PORT).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)

if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
    apt-get update -q && apt-get install -y -q ffmpeg
fi
faasin=${FAASIN:-$root/target/release/faasin}
[[ -x $faasin ]] || (cd "$root" && cargo build -q --release -p faasin-cli)
python3 -c 'import faasin, numpy' 2>/dev/null || {
    echo "video: needs the Python binding and numpy (bash bindings/python/test.sh; pip install numpy)" >&2
    exit 2
}

secs=${SECONDS_OF_VIDEO:-10}
size=${SIZE:-640x360}
export FPS=${FPS:-30} MODE=${MODE:-gray} PIPELINE_DIR=$here
export W=${size%x*} H=${size#*x}
frames=$((secs * FPS))
encoders=$(ffmpeg -hide_banner -encoders 2>/dev/null)
if [[ $encoders == *" libx264 "* ]]; then
    export VCODEC=libx264 ENC_OPTS="-preset veryfast"
else
    export VCODEC=mpeg4 ENC_OPTS="-q:v 5"
fi

work=${WORK_DIR:-$(mktemp -d /tmp/faasin-video.XXXXXX)}
mkdir -p "$work"
trap '[[ -n ${WORK_DIR:-} ]] || rm -rf "$work"' EXIT
export VIDEO_IN=$work/testsrc-$size-$FPS-$secs.mp4 RAW_IN=$work/testsrc-$size-$FPS-$secs.rgb
if [[ ! -s $VIDEO_IN ]]; then
    ffmpeg -nostdin -v error -f lavfi -i "testsrc=size=$size:rate=$FPS" -t "$secs" \
        -c:v "$VCODEC" $ENC_OPTS -pix_fmt yuv420p -y "$VIDEO_IN"
fi
# The move-only chain replays exactly what the decoder emits.
if [[ ! -s $RAW_IN ]]; then
    ffmpeg -nostdin -v error -i "$VIDEO_IN" -f rawvideo -pix_fmt rgb24 -y "$RAW_IN"
fi
raw_bytes=$(stat -c %s "$RAW_IN")
[[ $raw_bytes -eq $((frames * W * H * 3)) ]] || {
    echo "video: decoded $raw_bytes bytes, expected $frames frames of ${W}x${H} rgb24" >&2
    exit 1
}
echo "video: $VIDEO_IN ($frames frames ${W}x${H} @ $FPS fps, $VCODEC), raw rgb24 $raw_bytes bytes," \
    "transform $MODE; load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

results=${RESULTS_JSON:-$root/target/bench-results/pipelines/video.json}
mkdir -p "$(dirname "$results")"
python3 "$here/../bench.py" --title "video: decode (ffmpeg) -> $MODE (Python numpy) -> encode (ffmpeg $VCODEC), $frames frames ${W}x${H}" \
    --chain "$here/chain.toml" --move-chain "$here/chain-move.toml" --idle-env RAW_IN=/dev/null --first-into encode \
    --verify "bash '$here/verify.sh' \"\$RUN_OUT.mp4\" $frames" \
    --runs "${RUNS:-3}" --timeout "${PIPELINE_TIMEOUT:-300}" --faasin "$faasin" --json "$results" "$@"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
