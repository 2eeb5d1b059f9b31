"""Equal-accuracy check: hepfm PET vs OmniLearned PET2 trained the same way on the same real jets.

Uses the shipped Pythia 8 + FastJet sample (``src/hepfm/resources/jets_sample.h5``) or any
hepfm event file with a class label. The events are split once (hash split, 75% train /
25% test); a plan of training batches is drawn once, and every model is trained on exactly
those batches in that order (same optimiser: AdamW, warm-up + cosine, clipping at 1), each in
its own process (``benchmarks/_quality_worker.py``). OmniLearned reads the events through
``hepfm.data.export_omnilearned`` and its own dataset/collate code, with token types as its
``pid`` and the extra token columns as its ``add_info``; hepfm models get the same inputs.

    python benchmarks/model_quality.py                      # ~25 min on 2 cores
    python benchmarks/model_quality.py --steps 20 --models pet-tiny,omnilearned:small+int
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from hepfm.data import export_omnilearned, open_events
from hepfm.data.split import assign_parts

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent / "src" / "hepfm" / "resources" / "jets_sample.h5"
DEFAULT_OMNILEARNED_PYTHON = os.environ.get("HEPFM_OMNILEARNED_PYTHON", "/tmp/olvenv/v/bin/python")


def make_plan(n_events: int, steps: int, batch: int, test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Test indices and ``steps`` training batches (epochs of shuffled training indices)."""
    part = assign_parts(np.arange(n_events), (1 - test_fraction, test_fraction), seed)
    train, test = np.flatnonzero(part == 0), np.flatnonzero(part == 1)
    rng = np.random.default_rng(seed)
    epochs = -(-steps * batch // len(train))
    order = np.concatenate([rng.permutation(train) for _ in range(epochs)])
    return {"train_batches": order[: steps * batch].reshape(steps, batch), "test": test}


def metrics(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy (with its binomial standard error) and macro one-vs-rest AUC."""
    acc = float(np.mean(probs.argmax(1) == labels))
    return {"accuracy": acc, "accuracy_se": float(np.sqrt(acc * (1 - acc) / len(labels))),
            "auc_macro_ovr": float(roc_auc_score(labels, probs, multi_class="ovr", average="macro"))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=SAMPLE)
    p.add_argument("--models", default="pet-tiny,pet-small,omnilearned:small+int",
                   help="comma-separated hepfm registry names and omnilearned:<size>[+int]")
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--max-tokens", type=int, default=100)
    p.add_argument("--test-fraction", type=float, default=0.25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--omnilearned-python", default=DEFAULT_OMNILEARNED_PYTHON)
    p.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = p.parse_args()

    schema = open_events(args.data).schema
    if not schema.labels or schema.labels[0].kind != "class":
        raise SystemExit(f"{args.data}: needs a class label as its first label")
    label = schema.labels[0]
    n_events = len(open_events(args.data))
    plan = make_plan(n_events, args.steps, args.batch, args.test_fraction, args.seed)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see benchmarks/README.md
    results = {}
    with tempfile.TemporaryDirectory(prefix="hepfm-quality-") as tmp:
        tmp = Path(tmp)
        np.savez(tmp / "plan.npz", **plan)
        ol_data = None
        for spec in args.models.split(","):
            kind, name = spec.split(":", 1) if ":" in spec else ("hepfm", spec)
            if kind == "omnilearned":
                if not Path(args.omnilearned_python).exists():
                    print(f"{spec}: skipped, {args.omnilearned_python} does not exist", file=sys.stderr)
                    continue
                if ol_data is None:  # the whole file as one split; the plan picks train/test events
                    ol_data = export_omnilearned(args.data, tmp / "omnilearned", "jets", label=label.name,
                                                 max_tokens=args.max_tokens, split="train")["train"]
                python, data = args.omnilearned_python, ol_data
            else:
                python, data = sys.executable, args.data
            out = tmp / f"{kind}-{name}.npz"
            cmd = [python, str(HERE / "_quality_worker.py"), "--model", f"{kind}:{name}", "--data", str(data),
                   "--plan", str(tmp / "plan.npz"), "--out", str(out), "--classes", str(len(label.classes)),
                   "--token-types", str(len(schema.token_types)), "--extra", str(len(schema.extra)),
                   "--max-tokens", str(args.max_tokens), "--threads", str(args.threads), "--seed", str(args.seed)]
            print(f"training {kind}:{name} for {args.steps} steps ...", file=sys.stderr)
            t0 = time.perf_counter()
            if subprocess.run(cmd, env=env).returncode:
                print(f"{spec}: worker failed", file=sys.stderr)
                continue
            res = np.load(out)
            stats = json.loads(out.with_suffix(".json").read_text())
            results[f"{kind}:{name}"] = metrics(res["probs"], res["labels"]) | stats | {
                "final_train_loss": float(res["losses"][-10:].mean()), "wall_s": time.perf_counter() - t0}

    print(f"\n{args.data.name}: {n_events} events, {len(label.classes)} classes, test {len(plan['test'])} events; "
          f"{args.steps} steps of {args.batch}, max {args.max_tokens} tokens, seed {args.seed}\n")
    print("| model | params | test accuracy | macro AUC (one-vs-rest) | final train loss | train time |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['params'] / 1e6:.2f}M | {r['accuracy']:.3f} ± {r['accuracy_se']:.3f} "
              f"| {r['auc_macro_ovr']:.3f} | {r['final_train_loss']:.3f} | {r['train_s']:.0f} s |")
    if args.json:
        tmp = args.json.with_name(f"{args.json.name}.tmp-{os.getpid()}")
        settings = {k: str(v) for k, v in vars(args).items()}
        tmp.write_text(json.dumps({"settings": settings, "results": results}, indent=1))
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
