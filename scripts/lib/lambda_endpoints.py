"""The two places a Lambda handler can run here, started on free loopback
ports for one test or benchmark run: AWS's Runtime Interface Emulator
(FAASIN_RIE, from need-rie.sh) and `faasin serve` (FAASIN_BIN). Used by
examples/lambda/conformance and benches/lambda, whose scripts put this
directory on PYTHONPATH."""

import json
import os
import signal
import socket
import subprocess
import time


def need_executable(var):
    path = os.environ.get(var)
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError(f"{var} must name an executable (the test or bench script sets it), got {path!r}")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path, n=3000):
    with open(path, errors="replace") as f:
        return f.read()[-n:]


def start(argv, port, log, cwd, env):
    """Starts `argv` in a session of its own (so `stop` ends whatever it
    started) and waits until it listens on `port`."""
    with open(log, "w") as f:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=f, stderr=f, start_new_session=True)
    end = time.monotonic() + 30
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{argv[0]} exited with {proc.returncode} before it listened:\n{tail(log)}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    stop(proc)
    raise RuntimeError(f"{argv[0]} did not listen on {port}:\n{tail(log)}")


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def emulator(command, log, cwd, env):
    """The runtime client `command` behind the emulator, which starts it as
    its child. Returns the process and the invocation URL."""
    port, api = free_port(), free_port()
    argv = [need_executable("FAASIN_RIE"),
            "--runtime-interface-emulator-address", f"127.0.0.1:{port}",
            "--runtime-api-address", f"127.0.0.1:{api}", *command]
    proc = start(argv, port, log, cwd, env)
    return proc, f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"


def lambda_function(name, command, event, timeout, env):
    """A `[[function]]` table of kind lambda."""
    pairs = ", ".join(f"{k} = {json.dumps(v)}" for k, v in env.items())
    return "\n".join(["[[function]]", f"name = {json.dumps(name)}", 'kind = "lambda"',
                      f"command = {json.dumps(command)}", f"event = {json.dumps(event)}",
                      f"timeout = {timeout}", f"env = {{ {pairs} }}", ""])


def chain(name, functions):
    return f"[[chain]]\nname = {json.dumps(name)}\nfunctions = {json.dumps(functions)}\n"


def serve(tables, workdir, cwd, env):
    """`faasin serve` with `tables` (its `[[function]]` and `[[chain]]`),
    its config and log in `workdir`. Returns the process and the base URL
    of its invocation API."""
    port, admin = free_port(), free_port()
    config = os.path.join(workdir, "platform.toml")
    with open(config, "w") as f:
        f.write(f'listen = "127.0.0.1:{port}"\nadmin = "127.0.0.1:{admin}"\n' + "".join(tables))
    argv = [need_executable("FAASIN_BIN"), "serve", "-c", config]
    proc = start(argv, admin, os.path.join(workdir, "serve.log"), cwd, env)
    return proc, f"http://127.0.0.1:{port}"
