"""The ONNX Runtime side of `benches/embed_throughput.rs`: the speed peer a user would pick.

Exports the model folder's BERT to ONNX (PyTorch's exporter), quantises it to int8 with ONNX
Runtime's dynamic quantiser (weights int8, activations quantised per call), and embeds the same
texts as sentence-transformers does: sorted by length, each batch padded to its longest text,
mean pooling over the attention mask, L2 normalisation. Prints one JSON object like
`embed_pytorch.py`'s, with texts/s per precision and batch size, and the lowest cosine of each
precision's vectors against the FP32 export's (so the quantised model's loss is on record).

Make a Python for it with `make bench-venv`.
"""

import argparse
import json
import os
import sys
import time


def export(model_dir, folder):
    """The FP32 and int8 ONNX files of the model, made once and kept in `folder`."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    os.makedirs(folder, exist_ok=True)
    fp32 = os.path.join(folder, "model.onnx")
    int8 = os.path.join(folder, "model-int8.onnx")
    if not os.path.exists(fp32):
        class LastHiddenState(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.bert = AutoModel.from_pretrained(model_dir).eval()

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.bert(
                    input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
                ).last_hidden_state

        ids = torch.ones((2, 16), dtype=torch.long)
        torch.onnx.export(
            LastHiddenState().eval(),
            (ids, ids, torch.zeros_like(ids)),
            fp32,
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                name: {0: "batch", 1: "tokens"}
                for name in ["input_ids", "attention_mask", "token_type_ids", "last_hidden_state"]
            },
            opset_version=17,
            dynamo=False,
        )
    if not os.path.exists(int8):
        quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8)
    return {"fp32": fp32, "int8": int8}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="sentence-transformers model folder")
    parser.add_argument("--texts", required=True, help='JSONL file of {"text": ...} records')
    parser.add_argument("--batch-sizes", default="1,16,64")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-seq-length", type=int, default=256)
    parser.add_argument("--cache", required=True, help="folder for the exported ONNX files")
    parser.add_argument("--precisions", default="int8")
    args = parser.parse_args()

    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    files = export(args.model, args.cache)
    with open(args.texts, encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f if line.strip()]
    tokenizer = Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
    tokenizer.enable_truncation(args.max_seq_length)
    tokenizer.no_padding()

    def embed(session, batch_size):
        encodings = tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        vectors = [None] * len(texts)
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            width = max(len(encodings[i].ids) for i in chosen)
            ids = np.zeros((len(chosen), width), dtype=np.int64)
            mask = np.zeros((len(chosen), width), dtype=np.int64)
            for row, i in enumerate(chosen):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            (hidden,) = session.run(
                None,
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )
            pooled = (hidden * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
            pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
            for row, i in enumerate(chosen):
                vectors[i] = pooled[row]
        return np.stack(vectors)

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    results, reference, lowest_cosine = {}, None, {}
    for precision in ["fp32"] + [p for p in args.precisions.split(",") if p != "fp32"]:
        session = ort.InferenceSession(files[precision], options, providers=["CPUExecutionProvider"])
        vectors = embed(session, 16)  # warm-up, and the vectors to compare
        if reference is None:
            reference = vectors
        lowest_cosine[precision] = float((vectors * reference).sum(1).min())
        if precision not in args.precisions.split(","):
            continue
        for batch_size in (int(b) for b in args.batch_sizes.split(",")):
            started = time.perf_counter()
            embed(session, batch_size)
            rate = len(texts) / (time.perf_counter() - started)
            results.setdefault(precision, {})[str(batch_size)] = rate
            print(f"onnxruntime {precision} batch {batch_size}: {rate:.1f} texts/s", file=sys.stderr)

    versions = {"onnxruntime": ort.__version__}
    print(
        json.dumps(
            {
                "versions": versions,
                "threads": args.threads,
                "texts_per_s": results,
                "lowest_cosine_to_fp32": lowest_cosine,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
