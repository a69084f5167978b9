"""What a server-side session costs a request: the dashboard's first stores page sent with the session cookie
(one indexed read of the session row per request) against the same request with a bearer token (a comparison
in memory), interleaved, on a real server against kubesim.

    python -m bench.auth_cost [--requests 2000] [--stores 50]

The baseline is the bearer request of the same run; the figure is the ratio of p50 and p99 latency.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import aiohttp

from bench.dashboard import dashboard_document
from bench.measure import ms, percentile
from bench.stack import (
    TOKEN,
    GraphQL,
    create_store,
    kubesim_running,
    run_benchmark,
    storeplane_running,
    workdir,
)

STORES_PAGE = dashboard_document("Stores")


async def measure(requests: int, stores: int) -> dict[str, Any]:
    with workdir("storeplane-auth-cost-") as work:
        async with (
            kubesim_running(work) as sim,
            storeplane_running(work, sim.kubeconfig, {"max_stores_per_owner": str(stores + 1)}) as server,
            aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
        ):
            gql = GraphQL(http, server.url)
            for number in range(stores):
                await create_store(gql, f"shop{number}")
            async with http.post(f"{server.url}/auth/session", json={"token": TOKEN}) as response:
                cookie = response.cookies["storeplane_session"].value
            ways = {
                "bearer": {"Authorization": f"Bearer {TOKEN}"},
                "cookie": {"Cookie": f"storeplane_session={cookie}"},
            }
            latencies: dict[str, list[float]] = {name: [] for name in ways}
            body = {"query": STORES_PAGE, "variables": {"first": 50}}
            for number in range(requests):
                for name, headers in list(ways.items()) if number % 2 else reversed(list(ways.items())):
                    started = time.perf_counter()
                    async with http.post(f"{server.url}/graphql", json=body, headers=headers) as response:
                        answer = await response.json()
                    latencies[name].append(time.perf_counter() - started)
                    if response.status != 200 or answer.get("errors"):
                        raise RuntimeError(f"{name}: {response.status} {answer}")
    figures = {
        name: {"p50_ms": ms(percentile(values, 0.5)), "p99_ms": ms(percentile(values, 0.99))}
        for name, values in latencies.items()
    }
    return {
        "benchmark": "auth_cost",
        "requests": requests,
        "stores": stores,
        **figures,
        "ratio_p50": round(figures["cookie"]["p50_ms"] / figures["bearer"]["p50_ms"], 3),
        "ratio_p99": round(figures["cookie"]["p99_ms"] / figures["bearer"]["p99_ms"], 3),
    }


def table(result: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"stores(first: 50) over HTTP, {result['requests']} each way, {result['stores']} stores",
            "| auth | p50 ms | p99 ms |",
            "| --- | --- | --- |",
            *(
                f"| {name} | {result[name]['p50_ms']:.2f} | {result[name]['p99_ms']:.2f} |"
                for name in ("bearer", "cookie")
            ),
            f"cookie / bearer: p50 {result['ratio_p50']}x, p99 {result['ratio_p99']}x",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--stores", type=int, default=50)
    args = parser.parse_args()
    run_benchmark(lambda: measure(args.requests, args.stores), table)


if __name__ == "__main__":
    main()
