#!/usr/bin/env python3
"""Frame transform: whole rgb24 frames in from faasin, one gray plane per frame out.

Modes:
  gray    ITU-R BT.601 luma, integer weights (77 R + 150 G + 29 B) >> 8
  motion  luma, then |luma - previous luma| thresholded to 0/255 (a motion mask)
  null    no arithmetic: forwards the first W*H bytes of each frame, so the
          output volume is the same as gray's; used to time the data movement

Each frame is read with readinto() straight into a preallocated numpy array:
a frame (691 200 bytes at 640x360) is most of a 1 MiB ring and may wrap
around its end, so a zero-copy borrow would often see only part of a frame
and the frame would have to be assembled anyway. readinto is that one copy.

Prints a JSON return value: frames, bytes, and wall-clock times (unix seconds)
of the first frame written and of the time spent computing, so the caller
can tell the time to first frame for every transport, pipes included.
"""

import argparse
import json
import sys
import time

import numpy as np

import faasin


def read_frame(src, buf: np.ndarray) -> bool:
    """Fills buf with one whole frame; False at a clean EOF between frames."""
    got = 0
    while got < len(buf):
        n = src.readinto(buf[got:])
        if not n:
            if got == 0:
                return False
            sys.exit(f"transform: input ended inside a frame ({got} of {len(buf)} bytes)")
        got += n
    return True


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, required=True)
    ap.add_argument("--height", type=int, required=True)
    ap.add_argument("--mode", choices=("gray", "motion", "null"), default="gray")
    ap.add_argument("--threshold", type=int, default=24)
    args = ap.parse_args()
    if args.width <= 0 or args.height <= 0:
        sys.exit("transform: --width and --height must be positive")

    src, dst = faasin.input, faasin.output
    h, w = args.height, args.width
    frame = np.empty((h, w, 3), dtype=np.uint8)
    view = frame.reshape(-1)  # a flat uint8 view of the same memory
    luma = np.empty((h, w), dtype=np.uint16)
    out = np.empty((h, w), dtype=np.uint8)
    prev = None

    frames = 0
    compute_s = 0.0
    first_out = None
    while read_frame(src, view):
        t0 = time.perf_counter()
        if args.mode == "null":
            result = frame.reshape(-1)[: h * w]
        else:
            # uint16 is enough: 255 * (77 + 150 + 29) = 65280.
            np.multiply(frame[:, :, 0], 77, out=luma, dtype=np.uint16)
            luma += frame[:, :, 1] * np.uint16(150)
            luma += frame[:, :, 2] * np.uint16(29)
            luma >>= 8
            if args.mode == "gray":
                np.copyto(out, luma, casting="unsafe")
            else:
                cur = luma.astype(np.int16)
                if prev is None:
                    out.fill(0)
                else:
                    np.copyto(out, (np.abs(cur - prev) > args.threshold) * np.uint8(255), casting="unsafe")
                prev = cur
            result = out
        compute_s += time.perf_counter() - t0
        dst.write(result)
        if first_out is None:
            first_out = time.time()
        frames += 1
    dst.close()
    json.dump(
        {
            "mode": args.mode,
            "frames": frames,
            "bytes_out": frames * h * w,
            "first_frame_out_unix": first_out,
            "compute_s": round(compute_s, 4),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
