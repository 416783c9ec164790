#!/usr/bin/env bash
# Checks an encoded video: decodable, gray, the expected frame count.
# Usage: verify.sh FILE.mp4 FRAMES
set -euo pipefail
file=$1 want=$2
[[ -s $file ]] || { echo "verify: $file missing or empty" >&2; exit 1; }
got=$(ffprobe -v error -select_streams v:0 -count_frames -show_entries stream=nb_read_frames -of csv=p=0 "$file")
if [[ $got != "$want" ]]; then
    echo "verify: $file has $got frames, expected $want" >&2
    exit 1
fi
echo "$got frames"
