"""Throughput of `swiftgpt serve` under concurrent streaming clients.

    python3 bench/serve_bench.py --checkpoint MODEL [--parallel 8] [--clients 1 4 8 16] [--max-tokens 64]
    python3 bench/serve_bench.py --url http://127.0.0.1:8000 ...     # a server already running (the anchors)

Starts the release binary on a free loopback port (or uses --url), then for each client count runs that many
threads, each streaming completions back to back for --seconds; reports total generated
tokens/s, time to first token (p50/p95) and time per token (p50) as one JSON line per count.
"""
import argparse, http.client, json, re, statistics, subprocess, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("--checkpoint")
ap.add_argument("--url", help="benchmark this running server instead of starting swiftgpt")
ap.add_argument("--binary", default=".build/release/swiftgpt")
ap.add_argument("--parallel", type=int, default=8)
ap.add_argument("--clients", type=int, nargs="+", default=[1, 4, 8, 16])
ap.add_argument("--max-tokens", type=int, default=64)
ap.add_argument("--prompt", default="The ")
ap.add_argument("--seconds", type=float, default=10)
ap.add_argument("--threads", type=int, default=2)
args = ap.parse_args()

if args.url:
    server = None
    host, port = re.match(r"http://([0-9.a-z]+):([0-9]+)", args.url).groups()
else:
    server = subprocess.Popen([args.binary, "serve", "--checkpoint", args.checkpoint, "--port", "0", "--parallel",
                               str(args.parallel), "--threads", str(args.threads)], stdout=subprocess.PIPE, text=True)
    # The second line says the model is loaded: "… on http://HOST:PORT (OpenAI API at …".
    host, port = next(m.groups() for line in server.stdout if (m := re.search(r"on http://([0-9.]+):([0-9]+) \(OpenAI", line)))


def stream_once(stats):
    conn = http.client.HTTPConnection(host, int(port), timeout=300)
    body = json.dumps({"prompt": args.prompt, "max_tokens": args.max_tokens, "temperature": 1, "stream": True,
                       "seed": 1})
    start = time.perf_counter()
    conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    first, pieces = None, 0
    for line in response:
        if line.startswith(b"data: {"):
            if first is None:
                first = time.perf_counter() - start
            pieces += 1
    end = time.perf_counter() - start
    conn.close()
    stats.append((first, end, pieces))


try:
    for clients in args.clients:
        stats, stop = [], time.perf_counter() + args.seconds
        def worker():
            while time.perf_counter() < stop:
                stream_once(stats)
        t0 = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(clients)]
        for t in threads: t.start()
        for t in threads: t.join()
        elapsed = time.perf_counter() - t0
        tokens = sum(s[2] for s in stats)  # streamed text events ≈ tokens (one per token that adds text)
        firsts = sorted(s[0] for s in stats if s[0] is not None)
        per_token = sorted((s[1] - s[0]) / max(1, s[2] - 1) for s in stats if s[0] is not None and s[2] > 1)
        print(json.dumps({"clients": clients, "requests": len(stats), "tokens_per_s": round(tokens / elapsed, 1),
                          "ttft_p50_ms": round(1000 * statistics.median(firsts), 1),
                          "ttft_p95_ms": round(1000 * firsts[int(0.95 * (len(firsts) - 1))], 1),
                          "per_token_p50_ms": round(1000 * statistics.median(per_token), 2)}), flush=True)
finally:
    if server:
        server.terminate()
        server.wait(timeout=10)
