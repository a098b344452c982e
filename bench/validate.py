"""Measure the dataset validator against a plain `orjson.loads` loop over the same lines.

    .venv/bin/python bench/validate.py [--size-mb 1024] [--workdir DIR]
                                       [--formats clova,openai] [--repeat 3]

Generates (once, cached in --workdir) a valid CLOVA JSONL and a valid OpenAI chat JSONL of
about --size-mb each: conversations of 1-5 turns, Text 10-120 words and Completion 20-250
words, a third of them Korean, every other conversation with a system prompt (about 1.5 KB
a CLOVA row). Then, for each format and in this same run, it times in fresh subprocesses

    baseline   for line in open(path, "rb"): orjson.loads(line)
    validator  tuneyard's validator on the same file (validate mode: no examples kept)

and prints the MB/s of each, their ratio (validator / baseline) and the validator's peak
RSS. Each run has its own process, so that one side's memory does not count for the other;
the sides take turns --repeat times and each side's fastest run counts. The OpenAI file is
validated by `tuneyard.datasets.validator` when that module exists; without it only CLOVA
is measured, and the output says so. The last line is the smallest ratio over the formats
measured: `ratio: N.NN` (goal >= 0.5; peak RSS goal < 300 MB).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FORMATS = ("clova", "openai")
_SEED = 20240601
_ENGLISH = (
    "the model answers each question with a short and polite reply that cites the manual "
    "when a customer asks about refunds shipping times warranty terms or account settings "
    "it should say what it knows and what it does not know then offer the next step"
)
_KOREAN = (
    "고객이 환불 배송 기간 보증 조건 또는 계정 설정에 대해 물으면 모델은 설명서를 인용하여 "
    "짧고 공손하게 답합니다 모르는 것은 모른다고 말하고 다음 단계를 안내합니다"
)
_SYSTEM = "You are a support assistant for an online shop. Answer briefly and politely."


def main() -> None:
    """Parse the flags, generate what is missing, measure, print; the last line is the ratio."""
    args = _parser().parse_args()
    if args.child:
        _child(args.child[0], args.child[1], Path(args.child[2]))
        return
    formats = [name for name in args.formats.split(",") if name]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        sys.exit(f"unknown formats: {', '.join(unknown)} (choose from {', '.join(FORMATS)})")
    if "openai" in formats and importlib.util.find_spec("tuneyard.datasets.validator") is None:
        print("openai: tuneyard.datasets.validator does not exist yet; measuring CLOVA only")
        formats = [name for name in formats if name != "openai"]
    workdir = Path(args.workdir or Path(tempfile.gettempdir()) / "tuneyard-bench-validate")
    workdir.mkdir(parents=True, exist_ok=True)
    files = {name: _dataset(workdir, name, args.size_mb) for name in formats}
    ratios = [_measure(name, path, args.repeat) for name, path in files.items()]
    print(f"ratio: {min(ratios):.2f}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="size of each file (MB)")
    parser.add_argument("--workdir", help="where the generated files are cached")
    parser.add_argument("--formats", default=",".join(FORMATS), help="clova,openai")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side; best counts")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)  # side, format, path
    return parser


# --- measuring ---------------------------------------------------------------------------


def _measure(name: str, path: Path, repeat: int) -> float:
    """Time both sides on one file, print their line, return validator / baseline.

    The sides take turns, `repeat` runs each, and each side's fastest run counts: what a
    run loses to other work on the machine is noise, not the code's speed.
    """
    size_mb = path.stat().st_size / 1e6
    runs = [
        (_run_child("baseline", name, path), _run_child("validator", name, path))
        for _ in range(max(repeat, 1))
    ]
    validator = runs[0][1]
    if not validator["ok"]:
        sys.exit(f"{name}: the validator rejected a valid file: {validator['first']}")
    base_rate: float = size_mb / min(baseline["seconds"] for baseline, _ in runs)
    rate: float = size_mb / min(validator["seconds"] for _, validator in runs)
    rss_mb = max(validator["rss_mb"] for _, validator in runs)
    print(
        f"{name}: {size_mb:.0f} MB, {validator['rows']} rows | "
        f"baseline {base_rate:.0f} MB/s ({runs[0][0]['rss_mb']:.0f} MB RSS) | "
        f"validator {rate:.0f} MB/s, peak RSS {rss_mb:.0f} MB | ratio {rate / base_rate:.2f}",
        flush=True,
    )
    return rate / base_rate


def _run_child(side: str, name: str, path: Path) -> dict[str, Any]:
    """Run one side in a fresh interpreter and read the JSON line it prints."""
    command = [sys.executable, __file__, "--child", side, name, str(path)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{side} on {name} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def _child(side: str, name: str, path: Path) -> None:
    """In the subprocess: run one side once, print seconds, rows, ok and peak RSS as JSON."""
    run = _baseline if side == "baseline" else _validator(name)
    started = time.perf_counter()
    rows, first = run(path)
    seconds = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    result = {"seconds": seconds, "rows": rows, "ok": first is None, "first": first}
    print(json.dumps({**result, "rss_mb": rss_mb}))


def _baseline(path: Path) -> tuple[int, str | None]:
    """The plain loop: parse every line with orjson and nothing else."""
    rows = 0
    with path.open("rb") as stream:
        for line in stream:
            orjson.loads(line)
            rows += 1
    return rows, None


def _validator(name: str) -> Callable[[Path], tuple[int, str | None]]:
    """tuneyard's validator for one format in validate mode: rows and the first issue, if any."""
    from tuneyard.datasets import clova
    from tuneyard.datasets.report import DatasetReport, Limits
    from tuneyard.kinds import TaskType

    limits = Limits(max_bytes=2**40)  # the files may pass the 1 GB upload limit

    def outcome(report: DatasetReport) -> tuple[int, str | None]:
        return report.rows, None if report.first is None else report.first.describe()

    def run_clova(path: Path) -> tuple[int, str | None]:
        task = TaskType.GENERATION
        return outcome(clova.validate(path, filename=path.name, task_type=task, limits=limits))

    def run_openai(path: Path) -> tuple[int, str | None]:
        from tuneyard.datasets import validator

        name = path.name
        return outcome(validator.validate(path, filename=name, fmt="openai-chat", limits=limits))

    return run_clova if name == "clova" else run_openai


# --- generating --------------------------------------------------------------------------


def _dataset(workdir: Path, name: str, size_mb: int) -> Path:
    """The cached file for one format and size, generated when missing."""
    path = workdir / f"{name}-{size_mb}mb.jsonl"
    if not path.exists():
        started = time.perf_counter()
        partial = path.with_suffix(".partial")
        rows = _clova_rows() if name == "clova" else _openai_rows()
        _write(partial, rows, size_mb * 1_000_000)
        partial.rename(path)
        print(f"generated {path} in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def _write(path: Path, rows: Iterator[bytes], size: int) -> None:
    """Write whole conversations (one item of `rows` each) until the file has `size` bytes."""
    written = 0
    with path.open("wb") as stream:
        for conversation in rows:
            stream.write(conversation)
            written += len(conversation)
            if written >= size:
                return


def _conversations() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """Endless seeded conversations: a system prompt ("" for none) and (text, completion)s."""
    chooser = random.Random(_SEED)
    english, korean = _ENGLISH.split(), _KOREAN.split()
    for c_id in range(sys.maxsize):
        words = korean if chooser.random() < 1 / 3 else english
        system = _SYSTEM if c_id % 2 == 0 else ""
        turns = [
            (_sentence(chooser, words, 10, 120), _sentence(chooser, words, 20, 250))
            for _ in range(chooser.randint(1, 5))
        ]
        yield system, turns


def _sentence(chooser: random.Random, words: list[str], low: int, high: int) -> str:
    return " ".join(chooser.choices(words, k=chooser.randint(low, high)))


def _clova_rows() -> Iterator[bytes]:
    """CLOVA JSONL, one conversation at a time: C_ID 0, 1, 2, … with T_ID 0, 1, … in each."""
    for c_id, (system, turns) in enumerate(_conversations()):
        rows = (
            {"System_Prompt": system, "C_ID": c_id, "T_ID": t_id, "Text": text, "Completion": done}
            for t_id, (text, done) in enumerate(turns)
        )
        yield b"".join(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE) for row in rows)


def _openai_rows() -> Iterator[bytes]:
    """OpenAI chat JSONL rows: one conversation a line, `messages` with roles."""
    for system, turns in _conversations():
        messages = [{"role": "system", "content": system}] if system else []
        for text, completion in turns:
            messages += [
                {"role": "user", "content": text},
                {"role": "assistant", "content": completion},
            ]
        yield orjson.dumps({"messages": messages}, option=orjson.OPT_APPEND_NEWLINE)


if __name__ == "__main__":
    main()
