"""What the black-box checks share: a pass/fail record, running the CLI, and starting
`swiftgpt serve` on a free loopback port."""
import re, subprocess, sys

BIN = sys.argv[1] if len(sys.argv) > 1 else ".build/debug/swiftgpt"
results = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"), flush=True)


def run(*args):
    subprocess.run([BIN, *args], check=True, capture_output=True, text=True, timeout=300)


def serve(folder, *extra):
    """Starts `swiftgpt serve` on a free port and waits until the model is loaded; returns the
    process and its URL."""
    process = subprocess.Popen([BIN, "serve", "--checkpoint", folder, "--port", "0", *extra],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in process.stdout:
        found = re.search(r"on (http://[0-9.]+:[0-9]+) \(OpenAI API", line)
        if found:
            return process, found.group(1)
    process.kill()
    raise SystemExit("serve did not start")


def stop(process):
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    return process.returncode


def finish():
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
