#!/usr/bin/env python3
"""Local benchmark of the node: N validators as processes on 127.0.0.1.

Usage: node/scripts/bench.py --load 25000 [--nodes 4] [--warmup 10] [--duration 30]
       [--binary PATH] [--genesis-args "..."] [--set FIELD=JSON ...] [--crashed K]
Offered load is per validator. Throughput is the committed rate at one validator
(max over validators); latency percentiles come from histogram deltas over the window.
"""
import argparse, json, os, shutil, signal, subprocess, sys, tempfile, time, urllib.request

def scrape(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, value = line.rsplit(" ", 1)
        out[name] = float(value)
    return out

def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

def buckets(m):
    b = []
    for k, v in m.items():
        if k.startswith("node_transaction_latency_seconds_bucket"):
            le = k.split('le="')[1].split('"')[0]
            b.append((float("inf") if le == "+Inf" else float(le), v))
    return sorted(b)

def percentile(deltas, q):
    total = deltas[-1][1]
    if total <= 0:
        return float("nan")
    target = q * total
    prev_le, prev_c = 0.0, 0.0
    for le, c in deltas:
        if c >= target:
            if le == float("inf"):
                return prev_le
            frac = (target - prev_c) / max(c - prev_c, 1e-9)
            return prev_le + frac * (le - prev_le)
        prev_le, prev_c = le, c
    return prev_le

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--load", type=int, required=True)
    p.add_argument("--nodes", type=int, default=4)
    p.add_argument("--warmup", type=float, default=10)
    p.add_argument("--duration", type=float, default=30)
    p.add_argument("--binary", default=os.path.expanduser("~/.cache/consensus-bench/target-node/release/node"))
    p.add_argument("--genesis-args", default="")
    p.add_argument("--base-port", type=int, default=36000)
    p.add_argument("--set", action="append", default=[], metavar="FIELD=JSON",
                   help="override a parameters.json field, e.g. wal_retention_bytes=134217728")
    p.add_argument("--crashed", type=int, default=0, help="the last K validators are never started")
    a = p.parse_args()
    work = tempfile.mkdtemp(prefix="node-bench-")
    mport = a.base_port + 1000
    subprocess.run([a.binary, "genesis", "--ips", *["127.0.0.1"] * a.nodes, "--working-directory", work,
                    "--base-port", str(a.base_port), "--metrics-base-port", str(mport), *a.genesis_args.split()],
                   check=True, stdout=subprocess.DEVNULL)
    if a.set:
        params = json.load(open(f"{work}/parameters.json"))
        for item in a.set:
            field, value = item.split("=", 1)
            if field not in params:
                shutil.rmtree(work, ignore_errors=True)
                sys.exit(f"--set {item}: parameters.json has no field {field}")
            params[field] = json.loads(value)
        json.dump(params, open(f"{work}/parameters.json", "w"), indent=2)
    running = a.nodes - a.crashed
    procs = []
    try:
        for i in range(running):
            log = open(f"{work}/node-{i}.log", "w")
            procs.append(subprocess.Popen([a.binary, "run", "--authority", str(i), "--committee", f"{work}/committee.json",
                "--parameters", f"{work}/parameters.json", "--private", f"{work}/private-{i}.key",
                "--storage", f"{work}/storage-{i}", "--load", str(a.load)], stderr=log, stdout=log))
        time.sleep(a.warmup)
        start = [scrape(mport + i) for i in range(running)]
        cpu0 = [cpu_seconds(pr.pid) for pr in procs]
        t0 = time.time()
        time.sleep(a.duration)
        end = [scrape(mport + i) for i in range(running)]
        dt = time.time() - t0
        cpu1 = [cpu_seconds(pr.pid) for pr in procs]
        tps = max((e["node_committed_transactions_total"] - s["node_committed_transactions_total"]) / dt for s, e in zip(start, end))
        merged = None
        for s, e in zip(start, end):
            d = [(le, ce - cs) for (le, cs), (_, ce) in zip(buckets(s), buckets(e))]
            merged = d if merged is None else [(le, c + c2) for (le, c), (_, c2) in zip(merged, d)]
        cpu = [(c1 - c0) / dt for c0, c1 in zip(cpu0, cpu1)]
        rss = [e["process_resident_memory_bytes"] / 2**20 for e in end]
        rej = sum(e["node_rejected_transactions_total"] - s["node_rejected_transactions_total"] for s, e in zip(start, end)) / dt
        rounds = (end[0]["node_current_round"] - start[0]["node_current_round"]) / dt
        leaders = {k.split('"')[1]: int(v) for k, v in end[0].items() if k.startswith("node_committed_leaders_total")}
        print(f"load/node={a.load} offered={a.load * running} committed_tps={tps:.0f} "
              f"p50={percentile(merged, .5):.3f}s p90={percentile(merged, .9):.3f}s p99={percentile(merged, .99):.3f}s "
              f"rejected_tps={rej:.0f} rounds/s={rounds:.1f} cpu/node={sum(cpu)/len(cpu):.2f} "
              f"rss_max={max(rss):.0f}MiB leaders={leaders}")
    finally:
        for pr in procs:
            pr.send_signal(signal.SIGTERM)
        for pr in procs:
            try:
                pr.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pr.kill()
        if os.environ.get("KEEP") is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("kept", work)

if __name__ == "__main__":
    main()
