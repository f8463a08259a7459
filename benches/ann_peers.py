#!/usr/bin/env python3
"""hnswlib and faiss HNSW on the vectors the index benchmark wrote, for its side-by-side table.

Called by benches/index_search.rs with a folder holding base.f32 and queries.f32 (row-major
little-endian float32, unit vectors) and truth.i32 (the exact top k of each query). Prints one
JSON object: per engine, the build time, the memory the index took, and recall@k and
queries/s on one thread at each ef. An engine that is not installed is reported as missing.
"""

import argparse
import json
import os
import sys
import time

import numpy as np


def package_version(name):
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # noqa: BLE001 - only a label
        return "?"


def rss_mib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def recall(found, truth):
    k = truth.shape[1]
    hits = sum(len(set(f[:k]) & set(t)) for f, t in zip(found.tolist(), truth.tolist()))
    return hits / (truth.shape[0] * k)


def run_hnswlib(base, queries, truth, args):
    import hnswlib

    before = rss_mib()
    started = time.perf_counter()
    index = hnswlib.Index(space="ip", dim=base.shape[1])
    index.init_index(max_elements=base.shape[0], M=args.m, ef_construction=args.ef_construction)
    index.add_items(base, np.arange(base.shape[0]), num_threads=args.threads)
    build = time.perf_counter() - started
    memory = rss_mib() - before
    index.set_num_threads(1)
    rows = []
    for ef in args.ef:
        index.set_ef(max(ef, args.k))
        seconds = float("inf")
        for _ in range(args.runs):
            started = time.perf_counter()
            labels, _ = index.knn_query(queries, k=args.k, num_threads=1)
            seconds = min(seconds, time.perf_counter() - started)
        rows.append({"ef": ef, "recall": recall(labels, truth), "qps": len(queries) / seconds})
    return {"version": package_version("hnswlib"), "build_s": build,
            "memory_mib": memory, "searches": rows}


def run_faiss(base, queries, truth, args):
    import faiss

    faiss.omp_set_num_threads(args.threads)
    before = rss_mib()
    started = time.perf_counter()
    index = faiss.IndexHNSWFlat(base.shape[1], args.m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = args.ef_construction
    index.add(base)
    build = time.perf_counter() - started
    memory = rss_mib() - before
    faiss.omp_set_num_threads(1)
    rows = []
    for ef in args.ef:
        index.hnsw.efSearch = max(ef, args.k)
        seconds = float("inf")
        for _ in range(args.runs):
            started = time.perf_counter()
            _, labels = index.search(queries, args.k)
            seconds = min(seconds, time.perf_counter() - started)
        rows.append({"ef": ef, "recall": recall(labels, truth), "qps": len(queries) / seconds})
    return {"version": faiss.__version__, "build_s": build, "memory_mib": memory,
            "searches": rows}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--ef", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--runs", type=int, default=3,
                        help="times each ef's queries are timed; the fastest is kept")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()

    base = np.fromfile(os.path.join(args.folder, "base.f32"), dtype="<f4").reshape(-1, args.dim)
    queries = np.fromfile(os.path.join(args.folder, "queries.f32"), dtype="<f4").reshape(-1, args.dim)
    truth = np.fromfile(os.path.join(args.folder, "truth.i32"), dtype="<i4").reshape(-1, args.k)
    results = {}
    for name, run in (("hnswlib", run_hnswlib), ("faiss", run_faiss)):
        try:
            results[name] = run(base, queries, truth, args)
        except ImportError as err:
            results[name] = {"missing": str(err)}
        print(f"{name} done", file=sys.stderr)
    json.dump(results, sys.stdout)
    print()


if __name__ == "__main__":
    main()
