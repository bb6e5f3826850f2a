"""Ready-to-use models: a checkpoint written by ``tasnet-edu train``, or a model the course ships by name.

``load("course-small")`` or ``load("runs/x/best.pt")`` returns the model in eval mode on the requested
device; ``load(name, engine="auto", shifts=4)`` the separator ``tasnet-edu separate`` runs (the network on
ONNX Runtime where it can, averaged over four shifts), decided once. Checkpoints are read with
``torch.load(..., weights_only=True)``: a checkpoint is data (tensors, numbers, strings), never code, so a
file from the internet cannot run anything on the reader's machine.
``load_weights(model, checkpoint)`` puts a checkpoint's weights into a model you built yourself, and says
which hyper-parameters differ when they do not fit.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import torch

from tasnet_edu.checkpoints import (
    RECORD_KEYS,
    Record,
    inference_part,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from tasnet_edu.compiled import for_engine
from tasnet_edu.errors import CourseError
from tasnet_edu.inference import ShiftAverage
from tasnet_edu.separator import Separator

RESOURCES = Path(__file__).resolve().parent / "resources"
CARDS = RESOURCES  # the model cards, beside the weights

#: Models the course ships: name → file under ``tasnet_edu/resources/``, written there by ``export``. Each has
#: a model card beside it (``<name>.md``, read by ``card``): what it is for, how it was made, how it scores.
SHIPPED = {
    "course-small": "course-small.pt",
    "course-small-espeak": "course-small-espeak.pt",
    "course-small-causal": "course-small-causal.pt",
    "deep-clustering": "deep-clustering.pt",
}
#: The heading above a card's data block.
CARD_DATA = "## Card data"
#: The keys every card has (``card``); ``check`` holds per-mixture scores a test recomputes from the weights.
CARD_KEYS = ("name", "summary", "architecture", "intended_use", "limitations", "training_data", "recipe",
             "checkpoint", "selection", "scores", "check", "history")


def card_path(name: str) -> Path:
    """Where the model card of the shipped model ``name`` lives: ``<name>.md`` beside its weights."""
    return CARDS / f"{shipped_path(name).stem}.md"


def card(name: str) -> dict:
    """The model card of the shipped model ``name``: a dict with the keys of ``CARD_KEYS``.

    The card is one Markdown file beside the weights: text for people, then its data as a JSON block
    (``CARD_DATA``), which this returns. ``recipe`` is the list of commands that made the model, each an
    argument list (``["tasnet-edu", "train", …]``); ``checkpoint`` is the file the last one left, which
    ``export`` shipped. ``scores`` maps a test set (``"synthetic"``, ``"real"``, …) to its name, number of
    mixtures and the SI-SNRi / SDRi mean with the half-width of its 95 % interval, e.g.
    ``card("course-small")["scores"]["real"]["si_snri"]["mean"]``; optionally SI-SNRi means ``per_source``
    or ``per_overlap`` (full and partial overlap) and the single-talker ``leakage`` (``utterances``,
    ``median_db``, ``share_20db``).

    Raises:
        CourseError: an unknown name, or a card file that is missing, has no data block or lacks a key.
    """
    path = card_path(name)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CourseError(f"{path}: the model card of {name!r} is missing") from None
    block = text.split(CARD_DATA, 1)[1].split("```json\n", 1)[1] if CARD_DATA in text else ""
    try:
        data = json.loads(block.split("\n```", 1)[0])
    except json.JSONDecodeError as err:
        raise CourseError(f"{path}: not a readable model card: no JSON block after {CARD_DATA!r} ({err})"
                          ) from None
    missing = [key for key in CARD_KEYS if key not in data]
    if missing:
        raise CourseError(f"{path}: the model card lacks {', '.join(missing)}")
    return data


def write_card(data: dict) -> Path:
    """Write the card ``data`` of a shipped model (``data["name"]``): its text made from the data, then the
    data. Shipping a model is ``export`` of its weights and this."""
    body = json.dumps(data, indent=1, ensure_ascii=False)
    body = re.sub(r"\[[^\[\]{}]*\]", lambda m: " ".join(m.group(0).split()), body)  # flat lists on one line
    note = ("The text above is made from this block (`tasnet_edu.pretrained.write_card`); "
            "`pretrained.card(name)` returns it.")
    text = f"{format_card(data)}\n\n{CARD_DATA}\n\n{note}\n\n```json\n{body}\n```\n"
    path = card_path(data["name"])
    path.write_text(text, encoding="utf-8")
    return path


def command_line(args: list[str]) -> str:
    """One recipe command as a shell line (quoted where needed), e.g. to print or paste."""
    return shlex.join(args)


def train_hint(name: str) -> str:
    """How to get the shipped model ``name`` when its file is missing: where it comes from, or the recipe."""
    made = card(name)
    best = made["checkpoint"]
    steps = "`, then `".join(command_line(args) for args in made["recipe"])
    return (f"it ships inside the package (a git checkout or an install with package data has it); or train "
            f"one: `{steps}`, and load {best} instead (`--checkpoint {best}`)")


def shipped_path(name: str) -> Path:
    """Where the shipped model ``name`` lives inside the package (whether or not it is there yet)."""
    if name not in SHIPPED:
        raise CourseError(f"no shipped model named {name!r}; known: {', '.join(SHIPPED)}")
    return RESOURCES / SHIPPED[name]


def resolve(name_or_path) -> Path:
    """A shipped model's name or a checkpoint path → an existing checkpoint file, or a ``CourseError``."""
    if str(name_or_path) in SHIPPED:
        path = shipped_path(str(name_or_path))
        if not path.is_file():
            raise CourseError(
                f"the model {name_or_path!r} is missing (expected at {path}); {train_hint(str(name_or_path))}"
            )
        return path
    path = Path(name_or_path)
    if not path.is_file():
        raise CourseError(
            f"{path}: no such checkpoint file, and not a shipped model name ({', '.join(SHIPPED)})"
        )
    return path


def load(name_or_path, device="cpu", *, engine: str = "eager", shifts: int = 1) -> Separator:
    """Load a shipped model (a name in ``SHIPPED``) or a checkpoint file as a separator ready to run.

    Args:
        name_or_path: a name in ``SHIPPED`` or the path of a checkpoint written by ``tasnet-edu train``.
        device: where the model goes (``"cpu"``, ``"cuda"``, a ``torch.device``).
        engine: what runs the network (``compiled.for_engine``): ``"eager"`` (default) the PyTorch model
            itself, whose layers a chapter can look into; ``"onnx"`` ONNX Runtime (a Conv-TasNet on the CPU:
            the same outputs, faster); ``"auto"`` ONNX Runtime where it can run and is installed, else eager.
        shifts: average this many passes over the input delayed by parts of one encoder hop
            (``inference.ShiftAverage``); 1 (default): the network alone.

    Returns:
        a ``tasnet_edu.separator.Separator`` in eval mode: ``separator(mix (batch, time)) → (batch, n_src,
        time)``; ``separator.sample_rate`` is the rate (Hz) it was trained at, which ``tasnet_edu.separate``
        resamples to. With the defaults it is the model itself, built with the configuration the checkpoint
        records.

    Raises:
        CourseError: unknown name, model not shipped yet, missing/truncated/foreign checkpoint, weights that
        do not fit the recorded configuration, a CUDA device on a machine without one, an engine that cannot
        run this model, or ``shifts`` outside 1 … its hop.

    Example:
        >>> model = load("runs/course-small/best.pt")  # doctest: +SKIP
        >>> fast = load("course-small", engine="auto", shifts=4)  # doctest: +SKIP
    """
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CourseError(f"device {str(device)!r} was asked for, but this machine has no CUDA GPU; use cpu")
    model = model_from_checkpoint(load_checkpoint(resolve(name_or_path))).to(device)
    separator = for_engine(model, engine, device)
    return separator if shifts == 1 else ShiftAverage(separator, shifts)


def record(name_or_path) -> Record:
    """What a checkpoint says about itself, without its weights: ``config`` (the ``TrainConfig`` fields),
    ``epoch``, ``metrics`` (best validation SI-SNRi, the per-epoch log) and ``versions`` (torch, Python,
    course package at training time)."""
    checkpoint = load_checkpoint(resolve(name_or_path))
    return {k: checkpoint[k] for k in RECORD_KEYS if k in checkpoint}


def load_weights(model: torch.nn.Module, name_or_path) -> torch.nn.Module:
    """Copy a checkpoint's weights into ``model``, a model you built yourself; returns ``model``.

    Raises:
        CourseError: when the checkpoint was trained with another configuration or at another rate; the
        message names every hyper-parameter that differs, e.g. ``checkpoint has N=256, model has N=512`` (or
        ``sample_rate``: build the model with ``sample_rate=…``).
    """
    trained = load(name_or_path, device=next(model.parameters(), torch.empty(0)).device)
    if type(trained) is not type(model):
        kinds = type(trained).__name__, type(model).__name__
        raise CourseError(f"{name_or_path}: the checkpoint holds a {kinds[0]}, the model is a {kinds[1]}")
    misfit = f"{name_or_path}: its weights do not fit this model"
    differ = []
    if hasattr(model, "config"):  # the hyper-parameters and the rate it is built for, each named
        theirs, ours = ({**m.config, "sample_rate": m.sample_rate} for m in (trained, model))
        differ = [f"checkpoint has {k}={v!r}, model has {k}={ours.get(k)!r}"
                  for k, v in theirs.items() if ours.get(k) != v]
    if differ:
        raise CourseError(
            f"{misfit}: {'; '.join(differ)}; build the model with "
            "the checkpoint's values, or let `pretrained.load` build it"
        )
    try:
        model.load_state_dict(trained.state_dict())
    except RuntimeError as err:  # a model without ``config``: only the tensor shapes can tell
        raise CourseError(f"{misfit}: {' '.join(str(err).split())[:300]}") from None
    return model


def export(checkpoint, out) -> Path:
    """Write the inference part of a training checkpoint to ``out``: no optimizer or scheduler state.

    Adam keeps two moments per weight, so this file is about a third of the training checkpoint; it still
    loads with ``load`` (but cannot resume training). How a shipped model is made::

        export("runs/course-small/best.pt", shipped_path("course-small"))
    """
    state = load_checkpoint(resolve(checkpoint))
    return save_checkpoint(inference_part(state), out)


# --------------------------------------------------------------------------- the cards as text
def _interval_text(value: dict) -> str:
    """``{"mean", "ci95"}`` as ``"mean ± ci"``, the mean alone without an interval, a dash without a mean."""
    if value["mean"] is None:
        return "—"
    interval = f" ± {value['ci95']:.2f}" if value["ci95"] is not None else ""
    return f"{value['mean']:.2f}{interval}"


def _score(card_: dict, test_set: str) -> str:
    """The SI-SNRi of one test set of a card as text, or a dash where it was not scored."""
    entry = card_["scores"].get(test_set)
    return "—" if entry is None else _interval_text(entry["si_snri"])


def models_table(link: str | None = None, scores: bool = True) -> str:
    """The shipped models as a Markdown table read from their cards: name, size, use and latency, and (with
    ``scores``) SI-SNRi in dB on the synthetic and the real test set. ``link``: a format string for each
    name's link, e.g. ``"tasnet_edu/resources/{name}.md"``."""
    head = "| model | parameters | what it is | latency |"
    rule = "|---|---|---|---|"
    if scores:
        head, rule = head + " synthetic test SI-SNRi | real test SI-SNRi |", rule + "---|---|"
    rows = [head, rule]
    for name in SHIPPED:
        made = card(name)
        arch = made["architecture"]
        label = f"[`{name}`]({link.format(name=name)})" if link else f"`{name}`"
        latency_ms = arch["algorithmic_latency_ms"]
        latency = "offline" if latency_ms is None else f"{latency_ms:g} ms"
        row = f"| {label} | {arch['parameters'] / 1e6:.2f} M | {made['summary']} | {latency} |"
        if scores:
            row += f" {_score(made, 'synthetic')} | {_score(made, 'real')} |"
        rows.append(row)
    return "\n".join(rows)


def _leakage_text(entry: dict) -> str:
    """One sentence on a test set's single-talker leakage (``scores[…]["leakage"]``), for under the table."""
    leak = entry["leakage"]
    share = leak["share_20db"] * 100
    return (f"\nOne person alone ({entry['name']}, {leak['utterances']} utterances): ideally one output "
            f"stays silent, at least 20 dB below the other. Median gap: {leak['median_db']:.1f} dB; "
            f"{share:.0f} % reach 20 dB.")


def format_card(made: dict) -> str:
    """A model card as Markdown: what the model is for, its network, scores, limits, data and making."""
    arch = made["architecture"]
    config = ", ".join(f"{k}={v}" for k, v in arch["config"].items())
    field = f"; receptive field {arch['receptive_field_s']:.2f} s" if arch.get("receptive_field_s") else ""
    lines = [f"# Model card: {made['name']}", "", made["summary"] + ".", "",
             "## Use", "", made["intended_use"], "",
             "## Network", "", f"{arch['class']}({config}); {arch['parameters']:,d} parameters{field}; "
             f"{arch['sample_rate']} Hz input; {arch['latency']}.", "",
             "## Scores", "", "SI-SNRi and SDRi in dB, mean ± 95 % interval.", "",
             "| test set | mixtures | SI-SNRi | SDRi | voices |", "|---|---|---|---|---|"]
    for entry in made["scores"].values():
        sisnri, sdri = _interval_text(entry["si_snri"]), _interval_text(entry["sdri"])
        for part in ("per_source", "per_overlap"):
            if part in entry:
                sisnri += " (" + ", ".join(f"{k} {v:.2f}" for k, v in entry[part].items()) + ")"
        lines.append(f"| {entry['name']} | {entry['n_mixtures']} | {sisnri} | {sdri} | {entry['voices']} |")
    lines += [_leakage_text(entry) for entry in made["scores"].values() if "leakage" in entry]
    lines += ["", "## Limitations", "", *(f"- {item}" for item in made["limitations"]), "",
              "## Training data", ""]
    for source in made["training_data"]:
        hours = "hours not recorded" if source["hours"] is None else f"{source['hours']:.2f} h"
        lines.append(f"- {source['source']}: {source['speakers']}; {hours}; licence {source['licence']}")
    lines += ["", "## Selection", "", made["selection"], "", "## History", "",
              *(f"- {item}" for item in made["history"]["summary"]), "",
              "## Recipe", "", f"These commands, then `export` of `{made['checkpoint']}`:", "", "```bash",
              *(command_line(args) for args in made["recipe"]), "```"]
    return "\n".join(lines)
