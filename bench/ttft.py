"""Time to first tweet of POST /api/generate/stream, against a mock OpenAI that streams its reply
at a model's pace: measured.

    .venv/bin/python -m bench.ttft [--requests 10] [--token-rate 75] [--delay 0.3]

Alone it starts its own mock OpenAI (bench/servers.py, `--token-rate` tokens a second, ~4
characters each, after `--delay` seconds) and one `threadr serve` (memory stores, the mock as
its OpenAI); `make bench` runs `measure` against the benchmark's own stack as one of its steps.
Each request streams a thread of a new text, one at a time; the client notes when each `tweet`
event arrives, and the mock when it sent the closing quote of each tweet of its reply (both
time.monotonic(), one clock for every process of the machine). Reported, in ms:

- `after_model`: a tweet's arrival at the client after the model finished writing it — issue
  #16's target is the first tweet within 50 ms;
- `first_tweet`: the first tweet's arrival after the request was sent (the model's first-token
  delay and its writing of one tweet included);
- `done`: the whole thread's arrival after the request was sent.

Writes bench/results/ttft.json when run alone.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.procs import HOST, ROOT, Procs, free_port, python
from bench.servers import TOKEN_RATE

RESULTS = ROOT / "bench" / "results" / "ttft.json"
TARGET_MS = 50.0  # issue #16: a tweet reaches the client within 50 ms of the model finishing it
TEXT = (
    "Streaming turns a wait into a read. Run {run}, request {i}. A thread of six tweets takes a "
    "model several seconds to write, and a reader who sees the first tweet while the rest is "
    "still being written waits for one tweet, not six. The server must pass each tweet on as "
    "soon as it is final: no buffering in the app, none in the proxy, none in the client."
)


def stream_once(url: str, text: str) -> tuple[float, list[float], float]:
    """POST one stream; (when it was sent, when each tweet event arrived, when it ended)."""
    arrivals: list[float] = []
    name = ""
    with httpx.Client(timeout=60) as client:
        sent = time.monotonic()
        with client.stream("POST", url, json={"text": text}) as response:
            if response.status_code != 200:
                raise RuntimeError(f"{url}: {response.status_code} {response.read()[:300]!r}")
            for line in response.iter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: ") and name == "tweet":
                    arrivals.append(time.monotonic())
        return sent, arrivals, time.monotonic()


def measure(service: str, openai: str, requests: int) -> dict[str, Any]:
    """`requests` streams, one at a time, against `service` whose OpenAI is the mock `openai`
    (base URLs); the figures above, with the per-request ones."""
    run = f"{time.time_ns():x}"
    after_model: list[float] = []
    first: list[float] = []
    each: list[float] = []
    done: list[float] = []
    counts: list[tuple[int, int]] = []
    for i in range(requests):
        sent, arrivals, ended = stream_once(
            f"{service}/api/generate/stream", TEXT.format(run=run, i=i)
        )
        marks: list[float] = httpx.get(f"{openai}/_marks", timeout=10).json()["tweet_ends"]
        counts.append((len(arrivals), len(marks)))
        if arrivals and marks:
            after_model.append((arrivals[0] - marks[0]) * 1000)
            each += [(a - m) * 1000 for a, m in zip(arrivals, marks, strict=False)]
        if arrivals:
            first.append((arrivals[0] - sent) * 1000)
        done.append((ended - sent) * 1000)
    return {
        "requests": requests,
        "after_model_first_ms": _summary(after_model),
        "after_model_each_ms": _summary(each),
        "first_tweet_ms": _summary(first),
        "done_ms": _summary(done),
        "tweets_told_vs_written": sorted(set(counts)),
        "target_ms": TARGET_MS,
    }


def _summary(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 1),
        "p95": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 1),
        "max": round(ordered[-1], 1),
    }


def lines(result: dict[str, Any]) -> list[str]:
    """The figures as markdown list items (bench/report.py puts them under the table)."""
    first, each = result["after_model_first_ms"], result["after_model_each_ms"]
    if first is None:
        return ["- streaming: no tweet event arrived (see bench/results for the run)"]
    met = "✅" if first["median"] <= TARGET_MS else "❌"
    return [
        f"- {met} streaming, first tweet at the client after the model finished it "
        f"(issue #16: ≤ {TARGET_MS:g} ms): **median {first['median']:g} ms**, p95 "
        f"{first['p95']:g} ms, max {first['max']:g} ms; every tweet: median "
        f"{each['median']:g} ms, p95 {each['p95']:g} ms ({result['requests']} streams, mock "
        f"model at {result['token_rate']:g} tokens/s)",
        f"- streaming, first tweet after the request: median "
        f"{result['first_tweet_ms']['median']:g} ms; whole thread: median "
        f"{result['done_ms']['median']:g} ms; tweets told / written by the model: "
        + ", ".join(f"{t}/{w}" for t, w in result["tweets_told_vs_written"]),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--token-rate", type=float, default=TOKEN_RATE, help="mock tokens/s")
    parser.add_argument("--delay", type=float, default=0.3, help="mock first-token delay (s)")
    args = parser.parse_args(argv)
    with Procs(Path(tempfile.mkdtemp(prefix="threadr-ttft-logs-"))) as procs:
        mock = free_port()
        procs.start(
            "openai",
            [python(), "-m", "bench.servers", "openai", "--port", str(mock),
             "--delay", str(args.delay), "--token-rate", str(args.token_rate)],
            port=mock,
        )  # fmt: skip
        port = free_port()
        env = {
            "ENVIRONMENT": "production",
            "OPENAI_API_KEY": "sk-bench-not-a-real-key",
            "OPENAI_BASE_URL": f"http://{HOST}:{mock}/v1",
            "OPENAI_TIMEOUT_SECONDS": "30",
            "RATE_LIMIT_ENABLED": "false",
            "FREE_TIER_ENABLED": "false",
        }
        argv_ = [python(), "-m", "threadr.cli", "serve", "--host", HOST, "--port", str(port)]
        procs.start("threadr", argv_, env=env, port=port, timeout=30)
        result = measure(f"http://{HOST}:{port}", f"http://{HOST}:{mock}", args.requests)
    result |= {"token_rate": args.token_rate, "delay": args.delay}
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print("\n".join(lines(result)))
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
