#!/usr/bin/env python3
"""Soak test of `hypencoder serve` (bench/serve/run_soak.sh starts the server):
for --seconds (default 600), --concurrency (32) loopback clients send a mix
of valid requests (single and batch searches in every mode the index has,
GET searches, index list, document lookups) and invalid ones (malformed
JSON, unknown fields, k out of range, over-long and missing queries, unknown
index or mode, an over-large body). It counts answers by kind and status,
samples the server's resident memory (/proc/PID/status VmRSS) after the
warm-up and at the end, and prints one JSON line. Exit status 1 if any valid
request got a 5xx or an invalid one anything but a 4xx, or if resident
memory at the end is more than 10% above its value after warm-up.

Standard library only: http.client, one keep-alive connection per client.

    python3 bench/serve/soak_serve.py --url http://127.0.0.1:8393 --pid PID --index NAME
"""
import argparse
import http.client
import json
import random
import threading
import time
import urllib.parse

QUERIES = [
    "command line tool for transferring data with URLs",
    "free real-time strategy game of ancient warfare",
    "Python library for parsing HTML",
    "resize jpeg photos",
    "PostgreSQL client library",
    "font for programming with ligatures",
    "network packet analyzer",
    "music player for the terminal",
    "spell checker dictionary for German",
    "tool to convert markdown to pdf",
]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def requests_for(index, modes, rng):
    """One request: (kind, method, path, body)."""
    search = f"/v1/indexes/{index}/search"
    q = rng.choice(QUERIES)
    r = rng.random()
    if r < 0.45:
        body = {"query": q, "k": rng.choice([1, 10, 100]), "mode": rng.choice(modes)}
        return "valid", "POST", search, json.dumps(body)
    if r < 0.55:
        body = {"queries": rng.sample(QUERIES, rng.randint(2, 8)), "k": 10}
        return "valid", "POST", search, json.dumps(body)
    if r < 0.65:
        return "valid", "GET", search + "?" + urllib.parse.urlencode({"q": q, "k": 5}), None
    if r < 0.70:
        return "valid", "GET", "/v1/indexes", None
    if r < 0.75:
        return "valid", "GET", "/healthz", None
    bad = [
        ("POST", search, '{"query": "unterminated'),
        ("POST", search, json.dumps({"query": q, "colour": "red"})),
        ("POST", search, json.dumps({"query": q, "k": 0})),
        ("POST", search, json.dumps({"query": q, "k": 100000})),
        ("POST", search, json.dumps({"query": "x" * 5000})),
        ("POST", search, json.dumps({"k": 3})),
        ("POST", search, json.dumps({"query": q, "mode": "telepathy"})),
        ("POST", "/v1/indexes/no-such-index/search", json.dumps({"query": q})),
        ("GET", f"/v1/indexes/{index}/documents/no-such-document", None),
    ]
    if rng.random() < 0.1:
        # Over the 1 MiB body limit: 413 and the connection closed, or, when
        # the server answers before the upload ends, a reset mid-upload.
        return "oversize", "POST", search, json.dumps({"query": "y " * 600000})
    method, path, body = rng.choice(bad)
    return "invalid", method, path, body


def client(url, index, modes, until, seed, counts, lock):
    rng = random.Random(seed)
    parsed = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    while time.time() < until:
        kind, method, path, body = requests_for(index, modes, rng)
        headers = {"Content-Type": "application/json"} if body else {}
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
            if response.getheader("connection", "").lower() == "close":
                conn.close()
        except (OSError, http.client.HTTPException):
            # The server may close a connection after refusing a huge body.
            conn.close()
            conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
            status = 0
        with lock:
            key = f"{kind} {status}"
            counts[key] = counts.get(key, 0) + 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--index", required=True)
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--warmup", type=float, default=60)
    ap.add_argument("--concurrency", type=int, default=32)
    args = ap.parse_args()

    with urllib.request.urlopen(f"{args.url}/v1/indexes") as r:
        info = [i for i in json.load(r)["indexes"] if i["name"] == args.index][0]
    modes = info["modes"]
    counts, lock = {}, threading.Lock()
    start = time.time()
    until = start + args.seconds
    threads = [
        threading.Thread(target=client, args=(args.url, args.index, modes, until, s, counts, lock))
        for s in range(args.concurrency)
    ]
    for t in threads:
        t.start()
    time.sleep(min(args.warmup, args.seconds / 2))
    rss_warm = rss_kib(args.pid)
    rss_peak = rss_warm
    while time.time() < until:
        time.sleep(5)
        rss_peak = max(rss_peak, rss_kib(args.pid))
    for t in threads:
        t.join()
    rss_end = rss_kib(args.pid)
    valid_5xx = sum(n for k, n in counts.items() if k.startswith("valid 5") or k == "valid 0")
    invalid_not_4xx = sum(n for k, n in counts.items() if k.startswith("invalid") and not k.startswith("invalid 4"))
    invalid_not_4xx += sum(n for k, n in counts.items() if k.startswith("oversize") and k not in ("oversize 413", "oversize 0"))
    total = sum(counts.values())
    growth = rss_end / rss_warm - 1
    result = {
        "seconds": round(time.time() - start, 1),
        "concurrency": args.concurrency,
        "requests": total,
        "requests_per_s": round(total / (time.time() - start), 1),
        "by_kind_and_status": dict(sorted(counts.items())),
        "valid_5xx_or_failed": valid_5xx,
        "invalid_not_4xx": invalid_not_4xx,
        "rss_after_warmup_mib": round(rss_warm / 1024, 1),
        "rss_peak_mib": round(rss_peak / 1024, 1),
        "rss_end_mib": round(rss_end / 1024, 1),
        "rss_growth": round(growth, 4),
    }
    print(json.dumps(result))
    ok = valid_5xx == 0 and invalid_not_4xx == 0 and growth <= 0.10
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    import urllib.request

    main()
