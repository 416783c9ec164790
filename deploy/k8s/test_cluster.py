"""FAASIN on the test cluster, from inside node fk8s-a's network namespace
(deploy/k8s/test.sh runs it there): a chain whose functions all run on one
node streams through rings; a chain with a function pinned to the other
node streams across it; the bytes arrive intact (each function's return
value carries the SHA-256 of what it saw); the Service in front of the
nodes answers; node fk8s-b's pods (its node service and its functions)
deleted mid-invocation fail that invocation with a 502 naming the node, and
the cluster serves again once the DaemonSets have replaced them.

Env: NODE_A, NODE_B (node names), IP_A (node a's address), SERVICE (the
Service's address), KUBECTL (a kubectl that reaches the cluster).
"""

import hashlib
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import time

NODE_A, NODE_B = os.environ["NODE_A"], os.environ["NODE_B"]
IP_A, SERVICE = os.environ["IP_A"], os.environ["SERVICE"]
KUBECTL = os.environ["KUBECTL"].split()


def post(host, port, path, body):
    """POSTs `body` with curl, which reads the response while it sends (the
    output streams back before the input is all in; a client that sends
    everything first can fill every buffer on the way and stall): (status,
    response body, invocation id)."""
    with tempfile.TemporaryDirectory() as d:
        src, hdr, out = (os.path.join(d, n) for n in ("in", "hdr", "out"))
        with open(src, "wb") as f:
            f.write(body)
        subprocess.run(["curl", "-sS", "-m", "120", "-H", "expect:", "-D", hdr, "-o", out,
                        "--data-binary", f"@{src}", f"http://{host}:{port}{path}"], check=True)
        with open(hdr) as f:
            lines = f.read().splitlines()
        with open(out, "rb") as f:
            got = f.read()
    status = int(lines[0].split()[1])
    invocation = next((l.split(":", 1)[1].strip() for l in lines
                       if l.lower().startswith("faasin-invocation-id:")), "")
    return status, got, invocation


def report(invocation):
    c = http.client.HTTPConnection(IP_A, 8080, timeout=30)
    c.request("GET", f"/invocations/{invocation}")
    return json.loads(c.getresponse().read())


def edges(r):
    return [(e["kind"], e["from_node"], e["to_node"]) for e in r["edges"]]


def check(cond, what, r=None):
    if not cond:
        sys.exit(f"FAIL: {what}" + (f"\n{json.dumps(r, indent=1)}" if r else ""))


def wait(what, limit, ok):
    t = time.monotonic()
    while not ok():
        check(time.monotonic() - t < limit, f"{what} within {limit} s")
        time.sleep(0.5)
    return time.monotonic() - t


def answers(host, port, path):
    try:
        return post(host, port, path, b"ping")[0] == 200
    except subprocess.CalledProcessError:
        return False


def run_chain(path, body, want_edges, want_nodes):
    sha = hashlib.sha256(body).hexdigest()
    status, out, invocation = post(IP_A, 8080, path, body)
    r = report(invocation)
    check(status == 200, f"{path}: status {status}", r)
    check(hashlib.sha256(out).hexdigest() == sha, f"{path}: the output differs")
    check(edges(r) == want_edges, f"{path}: edges", r)
    if want_nodes:
        check([f.get("node") for f in r["functions"]] == want_nodes, f"{path}: nodes", r)
    for f in r["functions"]:
        check(f["return_value"]["sha256"] == sha, f"{path}: a function saw other bytes", r)
    print(f"ok: {path}: {len(body)} bytes, edges {[e[0] for e in want_edges]}")


def main():
    body = random.Random(21).randbytes(16 << 20)
    a, b = NODE_A, NODE_B
    took = wait("both chains answering on node a", 120,
                lambda: answers(IP_A, 8080, "/chains/near") and answers(IP_A, 8080, "/chains/across"))
    print(f"ok: the functions' pods joined ({took:.1f} s after the deploy was ready)")

    # All on one node: the report names the node of each edge only.
    run_chain("/chains/near", body, [("ring", a, a)] * 3, None)
    run_chain("/chains/across", body,
              [("ring", a, a), ("tcp", a, b), ("tcp", b, a), ("ring", a, a)], [a, b, a])

    for k in range(4):
        small = random.Random(k).randbytes(1 << 20)
        status, out, _ = post(SERVICE, 80, "/chains/near", small)
        check(status == 200 and out == small, f"through the Service: status {status}")
    print("ok: the Service in front of the nodes")

    # fk8s-b's node service goes while it runs the middle of an invocation.
    with tempfile.TemporaryDirectory() as d:
        big = os.path.join(d, "in")
        with open(big, "wb") as f:
            f.write(random.Random(7).randbytes(32 << 20))
        hdr, out = os.path.join(d, "hdr"), os.path.join(d, "out")
        curl = subprocess.Popen(
            ["curl", "-sS", "--limit-rate", "2M", "-H", "expect:", "-D", hdr, "-o", out,
             "--data-binary", f"@{big}", f"http://{IP_A}:8080/chains/across"],
            stderr=subprocess.DEVNULL)
        wait("the slow invocation's output to begin", 30,
             lambda: os.path.exists(out) and os.path.getsize(out) > 0)
        with open(hdr) as f:
            invocation = next(l.split(":", 1)[1].strip() for l in f
                               if l.lower().startswith("faasin-invocation-id:"))
        # Node b goes: its node service and its function pods.
        pods = subprocess.check_output(KUBECTL + [
            "-n", "faasin", "get", "pods", "--field-selector", f"spec.nodeName={b}",
            "-o", "name"], text=True).split()
        subprocess.check_call(KUBECTL + ["-n", "faasin", "delete", "--wait=false"] + pods,
                              stdout=subprocess.DEVNULL)
        took = wait("the invocation to end after the node service went", 60,
                    lambda: report(invocation)["state"] == "done")
        curl.kill()
        curl.wait()
        r = report(invocation)
        check(r["status"] == 502, "a 502", r)
        check(f'node "{b}"' in (r.get("error") or ""), "the error names the node", r)
        # Its function stops on SIGTERM: the streams break at once, long
        # before the node service's grace period is over.
        check(took < 9.5, f"the 502 came {took:.1f} s after the delete", r)
        print(f"ok: {len(pods)} pods on {b} deleted mid-invocation: 502 naming it after {took:.1f} s")

    took = wait("the across chain to answer again", 180, lambda: answers(IP_A, 8080, "/chains/across"))
    print(f"ok: served across again {took:.1f} s later (a new node service, its functions joined)")


if __name__ == "__main__":
    main()
