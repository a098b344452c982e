"""Export a saved model or checkpoint as a standalone Hugging Face directory.

`python -m tuneyard.trainer.export SOURCE TARGET [--merged]`. SOURCE is a job's output or
one of its checkpoints (both hold the weights, the tokenizer and `tuneyard.json`). Without
`--merged` the weights are copied as saved: a PEFT adapter (load it with
`peft.AutoPeftModel*`) or a whole model. With `--merged` an adapter is merged into the
weights it was trained on and saved as a whole model (`AutoModelFor*.from_pretrained`),
with the tokenizer and, for classifiers, the label names in its config. The target is
written atomically: staged beside it, then renamed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["export", "main"]

_WEIGHT_FILES = ("adapter_config.json", "config.json")
_NOT_EXPORTED = frozenset({"trainer_state.pt", "checkpoint.json"})


def export(source: Path, target: Path, *, merged: bool) -> None:
    """Write `source` to `target`, as saved or (`merged`) as one whole model."""
    if not any((source / name).is_file() for name in _WEIGHT_FILES):
        raise ValueError(f"{source} holds no saved model (no adapter_config.json or config.json)")
    staging = Path(f"{target}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        if merged and (source / "adapter_config.json").is_file():
            _merge(source, staging)
        else:
            shutil.copytree(source, staging, ignore=lambda _, names: _NOT_EXPORTED & set(names))
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _merge(source: Path, target: Path) -> None:
    import transformers

    from tuneyard import kinds
    from tuneyard.trainer import model

    manifest = _manifest(source)
    adapter_config = json.loads((source / "adapter_config.json").read_text("utf-8"))
    base = Path(manifest.get("weights_base") or adapter_config["base_model_name_or_path"])
    task_type = kinds.TaskType(manifest.get("task_type", kinds.TaskType.GENERATION.value))
    tokenizer = transformers.AutoTokenizer.from_pretrained(source)
    net = model.load(
        base,
        task_type=task_type,
        labels=manifest.get("labels"),
        pad_id=tokenizer.pad_token_id,
    )
    merged = model.load_adapter(net, source, trainable=False).merge_and_unload()
    merged.save_pretrained(target)
    tokenizer.save_pretrained(target)
    manifest.update(method=kinds.Method.FULL.value, merged_from=str(source))
    (target / model.MANIFEST).write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def _manifest(source: Path) -> dict[str, Any]:
    from tuneyard.trainer import model

    path = source / model.MANIFEST
    return dict(json.loads(path.read_text("utf-8"))) if path.is_file() else {}


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; exit status 0 on success, 1 with a message on stderr."""
    parser = argparse.ArgumentParser(
        prog="python -m tuneyard.trainer.export",
        description="Export a tuneyard output or checkpoint as a Hugging Face model directory.",
    )
    parser.add_argument("source", type=Path, help="a job's output or checkpoint directory")
    parser.add_argument("target", type=Path, help="the directory to write")
    parser.add_argument(
        "--merged", action="store_true", help="merge a LoRA adapter into its base weights"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        export(args.source, args.target, merged=args.merged)
    except (ValueError, OSError) as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
