"""What the black-box checks share: a pass/fail record, running the CLI, and starting
`swiftgpt serve` on a free loopback port."""
import json, os, re, subprocess, sys, time, urllib.request

BIN = sys.argv[1] if len(sys.argv) > 1 else ".build/debug/swiftgpt"
results = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"), flush=True)


def run(*args):
    subprocess.run([BIN, *args], check=True, capture_output=True, text=True, timeout=300)


def train_chat_model(work):
    """A tiny char GPT (`work/pre`, 3 steps) instruction-tuned on 8 Korean chats (`work/chat`)."""
    chats = os.path.join(work, "chat.jsonl")
    with open(chats, "w") as f:
        for k in range(8):
            f.write('{"messages": [{"role": "user", "content": "헌법 제%d조?"}, {"role": "assistant", "content": "대한민국 %d"}]}\n' % (k, k))
    run("train", "--model", "gpt-nano", "--max-steps", "3", "--eval-every", "3", "--eval-steps", "1", "--batch-size", "4",
        "--out", os.path.join(work, "pre"), "--threads", "1")
    run("finetune", "--task", "sft", "--checkpoint", os.path.join(work, "pre"), "--train", chats, "--max-steps", "2",
        "--out", os.path.join(work, "chat"), "--threads", "1")


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


def stopped_generating(url, seconds=3):
    """Waits until no slot of the server at `url` is busy; returns whether that happened, and
    the tokens it has generated in all (from /metrics)."""
    deadline, idle = time.time() + seconds, False
    while time.time() < deadline and not idle:
        idle = not any(slot["is_processing"] for slot in json.loads(urllib.request.urlopen(url + "/slots").read()))
        time.sleep(0.02)
    metrics = urllib.request.urlopen(url + "/metrics").read().decode()
    return idle, float(re.search(r"^swiftgpt_tokens_predicted_total ([0-9.e+]+)$", metrics, re.M).group(1))


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
