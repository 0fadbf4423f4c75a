"""nanoGPT's README CPU run side by side: PyTorch (bench/nanogpt_cpu.py, nanoGPT's model and
loop) vs `swiftgpt train` with the same configuration, on the same prepared data, one after the
other in the same window. Reports wall time and the final train/val losses.

Reference only; not part of the product.

    swiftgpt prepare --input ../shared/data/corpus/en/tinyshakespeare.txt --output /tmp/ts
    python3 bench/pretrain_bench.py --data /tmp/ts
"""
import argparse, csv, json, os, subprocess, sys, tempfile, time

p = argparse.ArgumentParser()
p.add_argument("--data", required=True)
p.add_argument("--swiftgpt", default=".build/release/swiftgpt")
p.add_argument("--runs", default="pytorch:1,swiftgpt:1,swiftgpt:2,pytorch:2")
args = p.parse_args()
here = os.path.dirname(os.path.abspath(__file__))

results = []
for run in args.runs.split(","):
    impl, threads = run.split(":")
    start = time.time()
    if impl == "pytorch":
        env = dict(os.environ, OMP_NUM_THREADS=threads)
        out = subprocess.run([sys.executable, os.path.join(here, "nanogpt_cpu.py"), "--data", args.data, "--threads", threads],
                             capture_output=True, text=True, check=True, env=env).stdout
        last = json.loads(out.strip().splitlines()[-1])["evals"][-1]
        train, val = last["train"], last["val"]
    else:
        outdir = tempfile.mkdtemp(prefix="swiftgpt-bench-")
        subprocess.run([args.swiftgpt, "train", "--data", args.data, "--model", "gpt-micro", "--out", outdir,
                        "--threads", threads], capture_output=True, text=True, check=True)
        rows = list(csv.DictReader(open(os.path.join(outdir, "log.csv"))))
        train, val = float(rows[-1]["train_loss"]), float(rows[-1]["val_loss"])
    wall = time.time() - start
    results.append({"impl": impl, "threads": int(threads), "wall_s": round(wall, 1), "train": round(train, 4), "val": round(val, 4)})
    print(json.dumps(results[-1]), flush=True)
