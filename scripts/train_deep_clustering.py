"""Train the deep clustering model the course ships (``pretrained.load("deep-clustering")``).

Deep clustering is trained on its affinity loss, not on SI-SNR, so ``tasnet-edu train`` does not run it; this
script does, with the course's recipe around ``train_deep_clustering``: dynamic mixing of the training voices,
Adam, gradient clipping at 5, the learning rate halved after 3 validations without improvement, the weights
of the best validation SI-SNRi kept. It writes ``OUT/best.pt`` (a course checkpoint: ``pretrained.load``
reads it) after every better validation, so a run can be stopped at any time, and ``OUT/log.csv``.

    python scripts/train_deep_clustering.py --data data/course-train --out runs/deep-clustering
    python -c "from tasnet_edu import pretrained; \
pretrained.export('runs/deep-clustering/best.pt', pretrained.shipped_path('deep-clustering'))"
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
from pathlib import Path

from tasnet_edu.data import WSJ0Mix
from tasnet_edu.data.datasets import DynamicMix
from tasnet_edu.models import DeepClustering
from tasnet_edu.models.deep_clustering import train_deep_clustering
from tasnet_edu.train import CHECKPOINT_FORMAT, TrainConfig, save_checkpoint, versions
from tasnet_edu.utils import count_parameters, seed_everything


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="course dataset root (tr/ cv/ tt/)")
    parser.add_argument("--out", required=True, help="folder for best.pt and log.csv")
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--hidden", type=int, default=192, help="BLSTM cells per direction and layer")
    parser.add_argument("--D", type=int, default=20, help="embedding dimension")
    parser.add_argument("--silence-db", type=float, default=20.0)
    parser.add_argument("--segment", type=float, default=1.0, help="seconds per training crop")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--valid-every", type=int, default=500)
    parser.add_argument("--valid-items", type=int, default=50)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(0)
    model = DeepClustering.tiny(hidden=args.hidden, D=args.D, silence_db=args.silence_db)
    train_set = DynamicMix(args.data, "tr", segment=args.segment, seed=0)
    valid_set = WSJ0Mix(args.data, "cv", segment=None)
    model_config = {k: v for k, v in model.config.items() if k != "n_src"}
    config = TrainConfig(model_class="DeepClustering", model_config=model_config, segment=args.segment,
                         batch_size=args.batch_size, dynamic_mix=True, lr=args.lr,
                         max_epochs=args.steps * args.batch_size // len(train_set),
                         valid_items=args.valid_items)
    print(f"DeepClustering {model_config}: {count_parameters(model):,} parameters; "
          f"{len(train_set)} training mixtures per epoch, {args.steps} steps", flush=True)

    def save(history: dict) -> None:
        step, value, lr = (history[k][-1] for k in ("valid_step", "valid_si_snri", "lr"))
        print(f"step {step}: validation SI-SNRi {value:.2f} dB (lr {lr:g})", flush=True)
        with open(out / "log.csv", "a", newline="") as f:
            writer = csv.writer(f)
            if f.tell() == 0:
                writer.writerow(["step", "valid_si_snri", "lr"])
            writer.writerow([step, value, lr])
        if value < max(history["valid_si_snri"]):
            return
        columns = zip(history["valid_step"], history["valid_si_snri"], history["lr"], strict=True)
        valid = [{"step": s, "valid_si_snri": v, "lr": r} for s, v, r in columns]
        epoch = step * args.batch_size // len(train_set)
        save_checkpoint({"format": CHECKPOINT_FORMAT, "config": dataclasses.asdict(config),
                         "state_dict": history["best_state"], "epoch": epoch,
                         "metrics": {"best_valid_si_snri": value, "steps": step, "valid": valid},
                         "versions": versions()}, out / "best.pt")

    history = train_deep_clustering(model, train_set, steps=args.steps, batch_size=args.batch_size,
                                    lr=args.lr, log_every=100, valid_set=valid_set,
                                    valid_every=args.valid_every, valid_items=args.valid_items,
                                    on_validation=save)
    print(f"done: {args.steps} steps in {history['train_seconds'] / 60:.1f} min of training; best validation "
          f"SI-SNRi {max(history['valid_si_snri']):.2f} dB; {out / 'best.pt'}")


if __name__ == "__main__":
    main()
