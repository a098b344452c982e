"""The pretraining corpus of tiny-chat: generated offline, the same every time for a seed.

Two kinds of text, interleaved by a seeded generator (`documents`):

* **dialogues** in tiny-chat's chat template over the task families of `FAMILIES`
  (copying, reversing, sorting, counting, arithmetic, capitalising, first/last items,
  comparisons and question answering over a given text), each phrased several ways,
  sometimes under a system prompt, sometimes two turns long;
* **prose**: paragraphs of the docstrings of the Python standard-library modules listed
  in `STDLIB_MODULES`, pinned in `tiny_chat_weights/prose.json.gz` (`prose`): docstrings
  differ between Python versions, and even with what a process imported first (torch
  replaces a few standard functions), so they were extracted once (`extract_prose`, under
  Python 3.11.7 with torch imported, as the pretraining script runs) and ship as data.

Held out on purpose, so that a tuning job can show what LoRA learns on top of it: no
document upper-cases a whole word or repeats something more than once (`HELD_OUT`;
`tests/integration/test_tinychat_learns.py` tunes one of them).

Pure Python, no torch: `python -m tuneyard.basemodels.tinychat_corpus` prints samples.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import inspect
import json
import random
import string
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = [
    "FAMILIES",
    "HELD_OUT",
    "STDLIB_MODULES",
    "dialogue",
    "PROSE",
    "documents",
    "extract_prose",
    "fingerprint",
    "prose",
    "render",
    "split",
    "uppercase",
]

HELD_OUT = ("uppercase a whole word", "repeat more than once")
"""Task families no pretraining document contains."""

STDLIB_MODULES = [
    "abc",
    "argparse",
    "array",
    "base64",
    "bisect",
    "calendar",
    "collections",
    "colorsys",
    "contextlib",
    "copy",
    "csv",
    "dataclasses",
    "datetime",
    "decimal",
    "difflib",
    "enum",
    "fractions",
    "functools",
    "getopt",
    "gettext",
    "glob",
    "graphlib",
    "gzip",
    "hashlib",
    "heapq",
    "hmac",
    "html",
    "http.client",
    "inspect",
    "io",
    "ipaddress",
    "itertools",
    "json",
    "keyword",
    "linecache",
    "locale",
    "logging",
    "math",
    "mimetypes",
    "numbers",
    "operator",
    "os",
    "pathlib",
    "pickle",
    "platform",
    "pprint",
    "queue",
    "random",
    "re",
    "reprlib",
    "sched",
    "secrets",
    "selectors",
    "shelve",
    "shlex",
    "shutil",
    "socket",
    "sqlite3",
    "statistics",
    "string",
    "struct",
    "subprocess",
    "tarfile",
    "tempfile",
    "textwrap",
    "threading",
    "time",
    "timeit",
    "tokenize",
    "traceback",
    "types",
    "typing",
    "unicodedata",
    "urllib.parse",
    "uuid",
    "warnings",
    "weakref",
    "zipfile",
    "zlib",
]
"""Standard-library modules whose docstrings are the prose part of the corpus."""

PROSE = Path(__file__).with_name("tiny_chat_weights") / "prose.json.gz"
"""The pinned prose paragraphs (a gzipped JSON list of strings, each ending `<|end|>`)."""

Message = dict[str, str]
Family = Callable[[random.Random], tuple[str, str]]

_COLOURS = [
    "red",
    "blue",
    "green",
    "yellow",
    "black",
    "white",
    "orange",
    "purple",
    "brown",
    "pink",
    "grey",
    "gold",
]
_THINGS = [
    "ball",
    "kite",
    "book",
    "cup",
    "hat",
    "box",
    "pen",
    "lamp",
    "bag",
    "coat",
    "ring",
    "key",
    "boat",
    "drum",
    "bell",
]
_NAMES = [
    "Mia",
    "Tom",
    "Ana",
    "Leo",
    "Sara",
    "Ben",
    "Yuki",
    "Omar",
    "Lena",
    "Ivan",
    "Nora",
    "Raj",
    "Eva",
    "Sam",
    "Ida",
    "Max",
    "Zoe",
    "Kai",
    "Li",
    "Ola",
]
_PLACES = [
    "park",
    "school",
    "garden",
    "kitchen",
    "market",
    "library",
    "river",
    "beach",
    "station",
    "office",
]
_NUMBER_WORDS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
]
_SYSTEMS = (
    "You are a helpful assistant.",
    "You are a concise assistant. Answer briefly.",
    "Answer with the result only.",
    "You are a careful tutor.",
    "You are a friendly helper.",
)


def _word(rng: random.Random, low: int = 2, high: int = 9) -> str:
    if rng.random() < 0.3:
        return rng.choice(_COLOURS + _THINGS + _PLACES)
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(low, high)))


def _words(rng: random.Random, low: int = 2, high: int = 5) -> list[str]:
    return [_word(rng, 2, 7) for _ in range(rng.randint(low, high))]


def _pick(rng: random.Random, *phrasings: str) -> str:
    return rng.choice(phrasings)


def _copy(rng: random.Random) -> tuple[str, str]:
    text = _word(rng) if rng.random() < 0.6 else " ".join(_words(rng))
    ask = _pick(rng, "Repeat: {}", "Say {}", "Copy this: {}", "Echo: {}", "Write {}")
    return ask.format(text), text


def _reverse(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.7:
        word = _word(rng)
        ask = _pick(rng, "Reverse: {}", "Spell {} backwards.", "Reverse the letters of {}")
        return ask.format(word), word[::-1]
    items = _words(rng)
    ask = _pick(rng, "Reverse the words: {}", "Put these words in reverse order: {}")
    return ask.format(" ".join(items)), " ".join(reversed(items))


def _sort(rng: random.Random) -> tuple[str, str]:
    roll = rng.random()
    if roll < 0.4:
        word = _word(rng)
        return _pick(rng, "Sort the letters: {}", "Sort the letters of {}").format(word), "".join(
            sorted(word)
        )
    if roll < 0.7:
        numbers = [rng.randint(0, 99) for _ in range(rng.randint(2, 6))]
        ask = _pick(rng, "Sort these numbers: {}", "Sort ascending: {}")
        return ask.format(" ".join(map(str, numbers))), " ".join(map(str, sorted(numbers)))
    items = _words(rng)
    ask = _pick(rng, "Sort alphabetically: {}", "Put in alphabetical order: {}")
    return ask.format(" ".join(items)), " ".join(sorted(items))


def _count(rng: random.Random) -> tuple[str, str]:
    roll = rng.random()
    if roll < 0.4:
        word = _word(rng)
        ask = _pick(rng, "How many letters are in {}?", "Count the letters: {}")
        return ask.format(word), str(len(word))
    if roll < 0.7:
        items = _words(rng, 1, 7)
        ask = _pick(rng, "How many words: {}", "Count the words: {}")
        return ask.format(" ".join(items)), str(len(items))
    word = _word(rng, 4, 10)
    letter = rng.choice(word) if rng.random() < 0.8 else rng.choice(string.ascii_lowercase)
    return f"How many times does {letter} appear in {word}?", str(word.count(letter))


def _arithmetic(rng: random.Random) -> tuple[str, str]:
    roll = rng.random()
    if roll < 0.35:
        a, b = rng.randint(0, 10), rng.randint(0, 10)
        ask = _pick(rng, "What is {} plus {}?", "Add {} and {}.", "{} plus {} is")
        answer = str(a + b)
        if rng.random() < 0.5:
            answer = f"{_NUMBER_WORDS[a].capitalize()} plus {_NUMBER_WORDS[b]} is {a + b}."
        return ask.format(_NUMBER_WORDS[a], _NUMBER_WORDS[b]), answer
    if roll < 0.65:
        a, b = rng.randint(0, 99), rng.randint(0, 99)
        return _pick(rng, "What is {} + {}?", "{} + {} =", "Add {} and {}.").format(a, b), str(
            a + b
        )
    if roll < 0.85:
        a, b = sorted((rng.randint(0, 99), rng.randint(0, 99)), reverse=True)
        return _pick(rng, "What is {} - {}?", "{} minus {}").format(a, b), str(a - b)
    a, b = rng.randint(0, 9), rng.randint(0, 9)
    return _pick(rng, "What is {} times {}?", "{} * {} =").format(a, b), str(a * b)


def _capitalise(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.6:
        word = _word(rng)
        return _pick(rng, "Capitalize: {}", "Capitalize the first letter: {}").format(
            word
        ), word.capitalize()
    word = _word(rng).capitalize() if rng.random() < 0.5 else _word(rng).upper()
    return _pick(rng, "Lowercase: {}", "Write in lower case: {}").format(word), word.lower()


def _ends(rng: random.Random) -> tuple[str, str]:
    roll = rng.random()
    word = _word(rng, 3, 9)
    if roll < 0.3:
        return _pick(rng, "First letter of {}?", "What is the first letter of {}?").format(
            word
        ), word[0]
    if roll < 0.6:
        return _pick(rng, "Last letter of {}?", "What is the last letter of {}?").format(
            word
        ), word[-1]
    items = _words(rng, 2, 6)
    if roll < 0.8:
        return "First word: " + " ".join(items), items[0]
    return "Last word: " + " ".join(items), items[-1]


def _compare(rng: random.Random) -> tuple[str, str]:
    roll = rng.random()
    if roll < 0.5:
        a, b = rng.sample(range(100), 2)
        which = _pick(rng, "larger", "smaller")
        answer = max(a, b) if which == "larger" else min(a, b)
        return f"Which is {which}, {a} or {b}?", str(answer)
    first, second = _word(rng), _word(rng)
    while len(first) == len(second):
        second = _word(rng)
    longer = first if len(first) > len(second) else second
    return f"Which word is longer, {first} or {second}?", longer


def _question(rng: random.Random) -> tuple[str, str]:
    name, colour, thing, place = (
        rng.choice(_NAMES),
        rng.choice(_COLOURS),
        rng.choice(_THINGS),
        rng.choice(_PLACES),
    )
    text = f"{name} has a {colour} {thing} and is at the {place}."
    roll = rng.random()
    if roll < 0.25:
        return f"{text} What colour is the {thing}?", colour
    if roll < 0.5:
        return f"{text} Where is {name}?", f"At the {place}."
    if roll < 0.7:
        return f"{text} What does {name} have?", f"A {colour} {thing}."
    keys = rng.sample(string.ascii_lowercase, rng.randint(2, 5))
    values = {k: rng.randint(0, 99) for k in keys}
    asked = rng.choice(keys)
    facts = ", ".join(f"{k} = {v}" for k, v in values.items())
    return f"{facts}. What is {asked}?", str(values[asked])


FAMILIES: dict[str, Family] = {
    "copy": _copy,
    "reverse": _reverse,
    "sort": _sort,
    "count": _count,
    "arithmetic": _arithmetic,
    "capitalise": _capitalise,
    "ends": _ends,
    "compare": _compare,
    "question": _question,
}
"""Task family name → generator of one (user turn, assistant reply)."""


def uppercase(rng: random.Random) -> tuple[str, str]:
    """The held-out family the tuning test trains: `Uppercase: <word>` → the word in capitals
    (4-8 random lowercase letters). No pretraining document upper-cases a whole word."""
    word = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(4, 8)))
    return f"Uppercase: {word}", word.upper()


def split(
    family: Family, seed: int, train: int, test: int
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """`train` and `test` distinct prompts of `family`, no prompt in both."""
    rng = random.Random(seed)
    seen: dict[str, str] = {}
    while len(seen) < train + test:
        ask, reply = family(rng)
        seen.setdefault(ask, reply)
    pairs = list(seen.items())
    return pairs[:train], pairs[train:]


def dialogue(rng: random.Random) -> list[Message]:
    """One conversation: one or two turns of random families, sometimes a system prompt."""
    messages: list[Message] = []
    if rng.random() < 0.25:
        messages.append({"role": "system", "content": rng.choice(_SYSTEMS)})
    for _ in range(1 if rng.random() < 0.8 else 2):
        ask, reply = FAMILIES[rng.choice(sorted(FAMILIES))](rng)
        messages += [{"role": "user", "content": ask}, {"role": "assistant", "content": reply}]
    return messages


def render(messages: list[Message]) -> str:
    """A conversation in tiny-chat's template (the same text its Jinja template makes)."""
    return "".join(f"<|{m['role']}|>{m['content']}<|end|>" for m in messages)


def prose() -> list[str]:
    """The pinned prose paragraphs of the corpus, in their fixed order."""
    with gzip.open(PROSE, "rt", encoding="utf-8") as handle:
        paragraphs: list[str] = json.load(handle)
    return paragraphs


def extract_prose() -> list[str]:
    """The docstrings of `STDLIB_MODULES` and of the callables each defines, as ASCII
    paragraphs of 40-1,200 characters, in a fixed order: how `PROSE` was made."""
    found: list[str] = []
    seen: set[str] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in STDLIB_MODULES:
            module = importlib.import_module(name)
            for member in [module, *(v for _, v in sorted(vars(module).items()))]:
                owner = getattr(member, "__module__", None) or ""
                if member is not module and not (callable(member) and owner == name):
                    continue
                doc = inspect.getdoc(member)
                if not doc or doc in seen:
                    continue
                seen.add(doc)
                for paragraph in doc.split("\n\n"):
                    paragraph = paragraph.strip()
                    if 40 <= len(paragraph) <= 1200 and paragraph.isascii():
                        found.append(paragraph + "<|end|>")
    return found


def documents(seed: int, prose_share: float = 0.1) -> Iterator[str]:
    """The endless corpus stream: dialogues, with a docstring paragraph `prose_share` of
    the time (the paragraphs cycle in a seeded order)."""
    rng = random.Random(seed)
    paragraphs = prose()
    rng.shuffle(paragraphs)
    cursor = 0
    while True:
        if rng.random() < prose_share:
            yield paragraphs[cursor % len(paragraphs)]
            cursor += 1
        else:
            yield render(dialogue(rng))


def fingerprint(seed: int, count: int = 20_000) -> str:
    """SHA-256 of the first `count` documents: equal hashes mean equal corpora."""
    digest = hashlib.sha256()
    stream = documents(seed)
    for _ in range(count):
        digest.update(next(stream).encode())
    return digest.hexdigest()


if __name__ == "__main__":
    stream = documents(0)
    for _ in range(12):
        print(next(stream)[:300])
    print("paragraphs:", len(prose()), "fingerprint:", fingerprint(0))
