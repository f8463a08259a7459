"""The sentence-transformers side of `benches/embed_throughput.rs`.

Embeds the same texts with the same model on PyTorch (CPU), at the given batch sizes and thread
count, and prints one JSON object: {"versions": {...}, "texts_per_s": {"1": x, "16": y, ...}}.

Make a Python for it with:  python3 -m venv .venv-bench && .venv-bench/bin/pip install torch sentence-transformers
"""

import argparse
import json
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="sentence-transformers model folder")
    parser.add_argument("--texts", required=True, help="JSONL file of {\"text\": ...} records")
    parser.add_argument("--batch-sizes", default="1,16,64")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-seq-length", type=int, default=256)
    args = parser.parse_args()

    import torch
    import sentence_transformers
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    with open(args.texts, encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f if line.strip()]
    model = SentenceTransformer(args.model, device="cpu")
    model.max_seq_length = args.max_seq_length
    model.encode(texts[:8], batch_size=8)  # warm-up: first-call allocations and lazy init

    results = {}
    for batch_size in (int(b) for b in args.batch_sizes.split(",")):
        started = time.perf_counter()
        model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
        results[str(batch_size)] = len(texts) / (time.perf_counter() - started)
        print(f"pytorch batch {batch_size}: {results[str(batch_size)]:.1f} texts/s", file=sys.stderr)

    versions = {"torch": torch.__version__, "sentence_transformers": sentence_transformers.__version__}
    print(json.dumps({"versions": versions, "threads": torch.get_num_threads(), "texts_per_s": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
