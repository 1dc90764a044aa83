"""One training step, op by op: a fingerprint of the kernels a CPU runs, for comparing CPUs.

Whole-pipeline reruns say *that* two CPUs differ; this says *where*. It builds the model of a named
shape with fixed weights and a fixed batch (variable lengths, so masks and padding are exercised),
runs forward, backward, one optimizer step and an evaluation forward as the Trainer runs them (fused
AdamW, the optimizer portable mode pins), and prints a hash of every module's output, every gradient, every
updated parameter and the evaluation's logits. Run it natively and under `qemu-x86_64 -cpu MODEL` with the
same `--kernels`, and the first differing name is the op that is not portable (tests/test_portable_kernels.py
does). `--kernels portable` applies runtime.portable as a stage does (the variables, and the OpenBLAS matrix products of
portable/gemm.py); `native` leaves torch's own kernels, and `environment` takes whatever variables this process
inherited, without the OpenBLAS products.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from typing import Any

from sentibench.core.errors import run_cli
from sentibench.core.params import ModelParams, RuntimeParams
from sentibench.portable.runtime import apply_runtime

# The shapes measured elsewhere: the embedded default (params.yaml's model.config, dropout included: it decides
# which attention kernel runs), the ci profile, the seed's hfl/rbt3.
SHAPES = {
    "default": ModelParams().config,
    "ci": {"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 2, "intermediate_size": 128},
    "rbt3": {"num_hidden_layers": 3, "hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 3072},
}
VOCAB_SIZE = 21128  # bert-base-chinese's, as assets/rbt3-tokenizer
OPTIMIZERS = ("fused", "foreach", "for-loop")


def _digest(tensor: Any) -> str:
    return hashlib.sha256(tensor.detach().contiguous().cpu().numpy().tobytes()).hexdigest()[:16]


def fingerprint(shape: str, optimizer: str = "fused", batch: int = 8, tokens: int = 64) -> dict[str, str]:
    """Hash of every module output (forward), gradient (backward) and parameter after one AdamW step, and of the
    logits an evaluation then computes."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=VOCAB_SIZE, num_labels=2, **SHAPES[shape])
    model = BertForSequenceClassification(config).train()
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(1, VOCAB_SIZE, (batch, tokens), generator=generator)
    lengths = torch.randint(4, tokens + 1, (batch,), generator=generator)
    mask = (torch.arange(tokens)[None, :] < lengths[:, None]).long()
    labels = torch.randint(0, 2, (batch,), generator=generator)
    out: dict[str, str] = {}

    def record(name: str) -> Any:
        def hook(_module: Any, _inputs: Any, output: Any) -> None:
            tensor = output[0] if isinstance(output, tuple) else output
            if isinstance(tensor, torch.Tensor):
                out[f"forward {name}"] = _digest(tensor)

        return hook

    hooks = [module.register_forward_hook(record(name)) for name, module in model.named_modules() if name]
    flags = {"fused": {"fused": True}, "foreach": {"foreach": True}, "for-loop": {"foreach": False}}[optimizer]
    adamw = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01, **flags)
    loss = model(input_ids=ids * mask, attention_mask=mask, labels=labels).loss
    out["loss"] = _digest(loss)
    loss.backward()
    for name, parameter in model.named_parameters():
        out[f"grad {name}"] = _digest(parameter.grad)
    adamw.step()
    for name, parameter in model.named_parameters():
        out[f"step {name}"] = _digest(parameter)
    for hook in hooks:
        hook.remove()
    with torch.no_grad():  # evaluation's forward: no dropout, no autograd (other kernels on some CPUs)
        out["eval logits"] = _digest(model.eval()(input_ids=ids * mask, attention_mask=mask).logits)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="default")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="fused")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads (they change the bytes)")
    parser.add_argument("--batch", type=int, default=8, help="rows in the batch")
    parser.add_argument("--tokens", type=int, default=64, help="longest row, in tokens (rows are 4 to this long)")
    parser.add_argument("--kernels", choices=("portable", "native", "environment"), default="environment")
    args = parser.parse_args(argv)
    if args.kernels != "environment":
        apply_runtime(RuntimeParams(threads=args.threads, portable=args.kernels == "portable"))
    import torch

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    print(json.dumps(fingerprint(args.shape, args.optimizer, args.batch, args.tokens), indent=1))


if __name__ == "__main__":
    sys.exit(run_cli(main))
