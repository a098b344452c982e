"""Writes the sample datasets in this folder (deterministic; rerun to regenerate)."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

HERE = Path(__file__).parent
SYSTEM = "You are a concise arithmetic tutor."
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def generation_rows(conversations: int = 60, seed: int = 7) -> list[list[str]]:
    """Multi-turn arithmetic chats: C_ID groups a conversation, T_ID orders its turns."""
    rng = random.Random(seed)
    rows = []
    for c_id in range(conversations):
        for t_id in range(rng.randint(1, 3)):
            a, b = rng.randint(0, 9), rng.randint(0, 9)
            text = f"What is {WORDS[a]} plus {WORDS[b]}?"
            completion = f"{WORDS[a].capitalize()} plus {WORDS[b]} is {a + b}."
            rows.append([SYSTEM, str(c_id), str(t_id), text, completion])
    return rows


def classification_rows(count: int = 120, seed: int = 11) -> list[list[str]]:
    """Short reviews labelled positive or negative."""
    rng = random.Random(seed)
    good = ["great", "wonderful", "delightful", "excellent", "lovely"]
    bad = ["terrible", "awful", "boring", "dreadful", "disappointing"]
    things = ["movie", "meal", "book", "concert", "hotel", "game"]
    rows = []
    for c_id in range(count):
        positive = c_id % 2 == 0
        adjective = rng.choice(good if positive else bad)
        text = f"The {rng.choice(things)} was {adjective}."
        rows.append(["", str(c_id), "0", text, "positive" if positive else "negative"])
    return rows


def write(path: Path, rows: list[list[str]]) -> None:
    """A CLOVA CSV with the canonical header."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["System_Prompt", "C_ID", "T_ID", "Text", "Completion"])
        writer.writerows(rows)


def chat_lines(conversations: int = 120, seed: int = 7) -> list[str]:
    """The same arithmetic chats as ChatML JSONL (DashScope SFT, OpenAI chat)."""
    rows = generation_rows(conversations, seed)
    chats: dict[str, list[dict[str, str]]] = {}
    for system, c_id, _, text, completion in rows:
        messages = chats.setdefault(c_id, [{"role": "system", "content": system}])
        messages += [{"role": "user", "content": text}, {"role": "assistant", "content": completion}]
    return [json.dumps({"messages": m}, ensure_ascii=False) for m in chats.values()]


def qianfan_lines(conversations: int = 120, seed: int = 7) -> list[str]:
    """The same arithmetic chats as Qianfan SFT JSONL: each line an array of turns."""
    rows = generation_rows(conversations, seed)
    chats: dict[str, list[dict[str, str]]] = {}
    for system, c_id, _, text, completion in rows:
        turns = chats.setdefault(c_id, [])
        turn = {"system": system} if not turns else {}
        turns.append({**turn, "prompt": text, "response": completion})
    return [json.dumps(t, ensure_ascii=False) for t in chats.values()]


if __name__ == "__main__":
    (HERE / "chat.jsonl").write_text("\n".join(chat_lines()) + "\n", encoding="utf-8")
    (HERE / "qianfan-sft.jsonl").write_text("\n".join(qianfan_lines()) + "\n", encoding="utf-8")
    write(HERE / "clova-generation.csv", generation_rows())
    write(HERE / "clova-classification.csv", classification_rows())
