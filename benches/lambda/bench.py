"""A chain of three Lambda handlers (stages.py) under `faasin serve`: (a)
passing each result on as the next stage's event, (b) streaming through
faasin/faasout; and one stage alone, under AWS's emulator and under
`faasin serve`, for reference. Prints a markdown table; run.sh sets up
(FAASIN_BIN, FAASIN_RIE, scripts/lib on PYTHONPATH).

Env: ROUNDS (default 11), OUT (raw results directory)."""

import json
import os
import random
import statistics
import subprocess
import tempfile

import lambda_endpoints as endpoints

HERE = os.path.dirname(os.path.abspath(__file__))
ROUNDS = int(os.environ.get("ROUNDS", "11"))
OUT = os.environ.get("OUT") or tempfile.mkdtemp(prefix="faasin-lambda-bench-")
SIZES = [("1 KiB", 1 << 10), ("1 MiB", 1 << 20), ("5 MiB", 5 << 20), ("16 MiB", 16 << 20)]
MIB = 1 << 20


def runtime(handler):
    return ["python3", "-m", "awslambdaric", handler]


def serve(name, handler, event):
    """`faasin serve` with three lambda stages running `handler` and the
    chain `name` of them."""
    workdir = os.path.join(OUT, name)
    os.makedirs(workdir)
    stages = [f"{name}{i}" for i in (1, 2, 3)]
    tables = [endpoints.lambda_function(s, runtime(handler), event, 60, {"PYTHONPATH": HERE})
              for s in stages]
    return endpoints.serve(tables + [endpoints.chain(name, stages)], workdir, HERE, None)


def curl(url, body_file, out_file):
    """One POST by curl, which sends and receives at once; its own timing."""
    r = subprocess.run(["curl", "-sS", "-o", out_file, "-w", "%{http_code} %{time_total}",
                        "--data-binary", f"@{body_file}", url],
                       capture_output=True, text=True, timeout=300, check=True)
    status, seconds = r.stdout.split()
    return int(status), float(seconds)


def tree_peak_rss(pid):
    """Peak RSS (VmHWM) of `pid` and of each process under it, in bytes."""
    peaks = {}
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                hwm = next(line for line in f if line.startswith("VmHWM:"))
            # A child is listed under the thread that started it.
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, StopIteration):
            continue
        peaks[p] = int(hwm.split()[1]) * 1024
    return peaks


def payloads():
    """Per size: the text as a file, the same as a JSON string (an event),
    and the text itself."""
    rng = random.Random(19)
    files = {}
    for label, size in SIZES:
        text = bytes(rng.choices(b"abcdefghijklmnopqrstuvwxyz\n", k=size)).decode()
        raw, event = os.path.join(OUT, f"raw-{size}"), os.path.join(OUT, f"event-{size}")
        with open(raw, "w") as f:
            f.write(text)
        with open(event, "w") as f:
            json.dump(text, f)
        files[label] = (raw, event, text)
    return files


def measure(modes, files):
    """Every mode at every size, ROUNDS times, the modes' order rotated per
    round. Returns the times of correct answers, and why others failed."""
    got = os.path.join(OUT, "response")
    times = {(m, label): [] for m in modes for label, _ in SIZES}
    failed = {}
    for m, (url, as_event) in modes.items():  # cold starts, not timed
        curl(url, files["1 KiB"][as_event], got)
    for r in range(ROUNDS):
        order = list(modes)[r % len(modes):] + list(modes)[:r % len(modes)]
        for label, _ in SIZES:
            raw, event, text = files[label]
            for m in order:
                url, as_event = modes[m]
                status, seconds = curl(url, event if as_event else raw, got)
                with open(got, "rb") as f:
                    body = f.read()
                if status == 200 and (json.loads(body) if as_event else body.decode()) == text:
                    times[(m, label)].append(seconds)
                else:
                    failed[(m, label)] = (status, body)
    return times, failed


def report(times, failed, peaks_b, peaks_a):
    def cell(m, label):
        """A median, or how it failed: the status, or the error the handler
        got (an event cut short by the emulator)."""
        if (m, label) in failed:
            status, body = failed[(m, label)]
            if status != 200:
                return str(status)
            try:
                return json.loads(body)["errorType"]
            except (ValueError, TypeError, KeyError):
                return "wrong output"
        return f"{statistics.median(times[(m, label)]) * 1000:.2f}"

    def ratio(label):
        a, b = times[("a", label)], times[("b", label)]
        if ("a", label) in failed or ("b", label) in failed:
            return "-"
        return f"{statistics.median(x / y for x, y in zip(a, b)):.1f}x"

    print(f"Three stages; medians of {ROUNDS} rounds, ms to the last byte (curl's timing);"
          " (a) / (b): median of the per-round ratios.\n")
    print("| payload | (a) events | (b) streams | (a) / (b) | one stage: emulator | one stage: faasin serve |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, _ in SIZES:
        print(f"| {label} | {cell('a', label)} | {cell('b', label)} | {ratio(label)} "
              f"| {cell('rie', label)} | {cell('one', label)} |")
    print()
    for (m, label), (status, body) in sorted(failed.items()):
        print(f"{m} at {label} failed: {status}: {body[:100]!r}")
    for mode, peaks in (("(b)", peaks_b), ("(a)", peaks_a)):
        service, *others = peaks.values()
        print(f"{mode} peak RSS over the run: service {service / MIB:.0f} MiB, largest other process "
              f"{max(others) / MIB:.0f} MiB, {sum(peaks.values()) / MIB:.0f} MiB in "
              f"{len(peaks)} processes")


def main():
    os.makedirs(OUT, exist_ok=True)
    files = payloads()
    procs = []
    try:
        events, a_url = serve("a", "stages.event_stage", "body")
        procs.append(events)
        streams, b_url = serve("b", "stages.stream_stage", "params")
        procs.append(streams)
        env = dict(os.environ, PYTHONPATH=HERE, AWS_LAMBDA_FUNCTION_TIMEOUT="60")
        rie, rie_url = endpoints.emulator(runtime("stages.event_stage"),
                                          os.path.join(OUT, "emulator.log"), HERE, env)
        procs.append(rie)
        modes = {  # name: (URL, whether the body is the payload as an event)
            "a": (f"{a_url}/chains/a", 1),
            "b": (f"{b_url}/chains/b", 0),
            "rie": (rie_url, 1),
            "one": (f"{a_url}/functions/a1", 1),
        }
        times, failed = measure(modes, files)
        peaks_b, peaks_a = tree_peak_rss(streams.pid), tree_peak_rss(events.pid)
    finally:
        for p in procs:
            endpoints.stop(p)
    report(times, failed, peaks_b, peaks_a)
    with open(os.path.join(OUT, "times.json"), "w") as f:
        json.dump({f"{m} {label}": t for (m, label), t in times.items()}, f, indent=1)


if __name__ == "__main__":
    main()
