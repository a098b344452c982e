"""`tuneyard chat MODEL`: talk to a base, fine-tuned or checkpoint model of a running
`tuneyard serve` in the terminal, its replies streamed as they are generated.

On a terminal it prompts `you> ` and keeps the conversation until `/exit`, Ctrl-D or
Ctrl-C at the prompt; Ctrl-C during a reply stops that reply (the connection is dropped,
so the server frees the request's slot). With stdin piped, each line is one user turn and
only the replies are printed, one after another, so it can be scripted.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import sys
import urllib.parse
from typing import Any, TextIO

from tuneyard import errors
from tuneyard.cli import client as remote
from tuneyard.settings import Settings

__all__ = ["Conversation", "add_parser", "delta", "resolve", "run"]

PROMPT = "you> "
NO_KEY = (
    "no API key: pass --key KEY or set TUNEYARD_API_KEY (make one with "
    "`tuneyard keys create --workspace NAME` on the server's machine)"
)
COMMANDS = "/reset forgets the conversation, /exit (or Ctrl-D) quits, Ctrl-C stops a reply"
_FATAL_PARAMS = frozenset({"model", "temperature", "max_tokens", "seed"})
"""Fields the command line sets: a 400 naming one would fail every turn the same way."""
_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

_DESCRIPTION = """\
Chat with a model of a running `tuneyard serve` (OpenAI's /v1/chat/completions, streamed).

MODEL is a base model (tiny-chat), a job's fine_tuned_model (ft:…), a checkpoint's
fine_tuned_model_checkpoint (ft:…:ckpt-step-N), or a job id (ftjob-… or the bare id),
which stands for that job's fine_tuned_model once it has succeeded.

On a terminal: type a message at `you> `; the reply streams in. /reset forgets the
conversation (the --system message stays), /exit or Ctrl-D quits, Ctrl-C stops a reply
(what came of it stays in the conversation) and, at the prompt, quits.
With stdin piped: each non-empty line is a turn of one conversation, and only the
replies are printed, each ending with a newline.
"""
_EPILOG = """\
Errors of one turn (a prompt past the context, a full queue) are printed on stderr and
the session goes on. Exit status: 0 when it ends; 1 when the server cannot be reached,
refuses the key, does not know the model (or refuses a value given here), or, with stdin
piped, when any turn failed; 2 for a bad command line (no key, a bad --url).
"""


def _temperature(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"temperature must be 0 or more, not {text}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `chat`."""
    chat = commands.add_parser(
        "chat",
        help="chat with a base or tuned model of a running server, streamed",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    chat.add_argument("model", metavar="MODEL", help="model name, ft:… name or job id")
    chat.add_argument(
        "--system", metavar="TEXT", help="a system message that opens the conversation"
    )
    chat.add_argument(
        "--temperature",
        type=_temperature,
        metavar="T",
        help="0 is greedy (default: the server's, 1)",
    )
    chat.add_argument(
        "--max-tokens",
        type=_positive,
        metavar="N",
        help="the most tokens in a reply (default: the server's, 256)",
    )
    chat.add_argument("--seed", type=int, metavar="N", help="makes sampled replies reproducible")
    chat.add_argument(
        "--url", metavar="URL", help="the server (env TUNEYARD_URL; default http://127.0.0.1:8000)"
    )
    chat.add_argument(
        "--key",
        dest="api_key",
        metavar="KEY",
        help="API key (env TUNEYARD_API_KEY; make one with `tuneyard keys create`)",
    )


class Conversation:
    """The messages sent with each turn: the system message, then user and assistant."""

    def __init__(self, system: str | None = None) -> None:
        self._opening = [{"role": "system", "content": system}] if system else []
        self.messages: list[dict[str, str]] = list(self._opening)

    def ask(self, text: str) -> list[dict[str, str]]:
        """The messages to send for a new user turn (kept only by `keep`)."""
        return [*self.messages, {"role": "user", "content": text}]

    def keep(self, text: str, reply: str) -> None:
        """Add an answered turn."""
        self.messages += [
            {"role": "user", "content": text},
            {"role": "assistant", "content": reply},
        ]

    def reset(self) -> None:
        """Forget every turn; the system message stays."""
        self.messages = list(self._opening)


def delta(chunk: dict[str, Any]) -> tuple[str, str | None]:
    """(text, finish_reason) of the first choice of a `chat.completion.chunk`."""
    choices = chunk.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return "", None
    choice = choices[0]
    content = (choice.get("delta") or {}).get("content")
    reason = choice.get("finish_reason")
    return (content if isinstance(content, str) else ""), (
        reason if isinstance(reason, str) else None
    )


def resolve(server: remote.Client, name: str) -> str:
    """The model name to send for MODEL: itself if the server serves it, else (a job id)
    its job's fine_tuned_model. ServedModelNotFound (ModelNotReady: the job has not
    succeeded) otherwise."""
    if name.startswith("ftjob-"):
        try:
            return _from_job(server, name)
        except errors.ModelNotReady:
            raise
        except errors.NotFound as exc:
            raise errors.ServedModelNotFound(exc.message, param="model") from None
    try:
        server.get("/v1/models/" + urllib.parse.quote(name, safe=":"))
        return name
    except errors.NotFound as unknown:
        if not _JOB_ID.fullmatch(name):
            raise
        try:
            return _from_job(server, "ftjob-" + name)
        except errors.ModelNotReady:
            raise
        except errors.NotFound:
            raise unknown from None


def _from_job(server: remote.Client, job_id: str) -> str:
    """The job's fine_tuned_model; NotFound for no such job, ModelNotReady for a job that
    has not succeeded."""
    job = server.get("/v1/fine_tuning/jobs/" + urllib.parse.quote(job_id, safe=""))
    job = job if isinstance(job, dict) else {}
    model = job.get("fine_tuned_model")
    if isinstance(model, str) and model:
        return model
    failure = (job.get("error") or {}).get("message")
    detail = f": {failure}" if failure else "; it has a model to chat with once it succeeds"
    raise errors.ModelNotReady(
        f"job {job_id} is {job.get('status', 'unknown')}{detail}", param="model"
    )


def _fatal(exc: errors.TuneyardError) -> bool:
    """An error every later turn would hit too."""
    if isinstance(exc, errors.ServerUnreachable | errors.Unauthenticated | errors.NotFound):
        return True
    return (
        isinstance(exc, errors.InvalidRequest)
        and not isinstance(exc, errors.ContextLengthExceeded)
        and exc.param in _FATAL_PARAMS
    )


def _message(exc: errors.TuneyardError) -> str:
    if isinstance(exc, errors.Unauthenticated):
        return f"{exc.message} (make a key with `tuneyard keys create --workspace NAME`)"
    if isinstance(exc, errors.Overloaded):
        return f"{exc.message} (retry after {exc.retry_after} s)"
    return exc.message


class _Session:
    """One conversation: read a turn, stream its reply, until the input ends."""

    def __init__(
        self,
        server: remote.Client,
        model: str,
        conversation: Conversation,
        sampling: dict[str, Any],
        streams: tuple[TextIO, TextIO, TextIO],
    ) -> None:
        self.server, self.model, self.conversation = server, model, conversation
        self.sampling = sampling
        self.stdin, self.stdout, self.stderr = streams
        self.interactive = self.stdin.isatty()
        self.failed = False

    def loop(self) -> int:
        """Answer turns until /exit, the end of input or Ctrl-C at the prompt."""
        while True:
            try:
                line = self._read()
            except KeyboardInterrupt:
                self._say("")
                return self._status()
            if line is None:
                return self._status()
            text = line.strip()
            if text in ("/exit", "/quit"):
                return self._status()
            if text == "/reset":
                self.conversation.reset()
                if self.interactive:
                    self._say("(the conversation starts over)")
            elif text == "/help":
                self._say(COMMANDS)
            elif text:
                try:
                    self._turn(text)
                except errors.TuneyardError as exc:
                    self._say(f"tuneyard: {_message(exc)}")
                    if _fatal(exc):
                        return 1
                    self.failed = True

    def _status(self) -> int:
        return 1 if self.failed and not self.interactive else 0

    def _read(self) -> str | None:
        """The next line; None at the end of input."""
        if not self.interactive:
            return self.stdin.readline() or None
        if self.stdin is sys.stdin and self.stdout is sys.stdout and self.stdout.isatty():
            try:
                return input(PROMPT)  # with line editing when readline is loaded
            except EOFError:
                self._say("")
                return None
        shown = self.stdout if self.stdout.isatty() else self.stderr
        shown.write(PROMPT)
        shown.flush()
        return self.stdin.readline() or None

    def _turn(self, text: str) -> None:
        body = {"model": self.model, "messages": self.conversation.ask(text), **self.sampling}
        pieces: list[str] = []
        finish = None
        try:
            with self.server.chat(body) as stream:
                for chunk in stream:
                    piece, reason = delta(chunk)
                    if piece:
                        pieces.append(piece)
                        self.stdout.write(piece)
                        self.stdout.flush()
                    finish = reason or finish
        except KeyboardInterrupt:
            self._end_reply(pieces)
            self._say("(stopped)")
            if pieces:  # what was said stays, so "go on" or "shorter" can follow
                self.conversation.keep(text, "".join(pieces))
            return
        except errors.TuneyardError:
            self._end_reply(pieces)
            raise
        self.stdout.write("\n")
        self.stdout.flush()
        self.conversation.keep(text, "".join(pieces))
        if finish == "length":
            self._say("(the reply reached its token limit; --max-tokens allows more)")

    def _end_reply(self, pieces: list[str]) -> None:
        if pieces:
            self.stdout.write("\n")
            self.stdout.flush()

    def _say(self, line: str) -> None:
        self.stderr.write(line + "\n")
        self.stderr.flush()


def run(
    args: argparse.Namespace,
    settings: Settings,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Chat until the input ends; the exit status (see the command's help)."""
    streams = (stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr)
    if not settings.api_key:
        raise errors.InvalidRequest(NO_KEY)
    server = remote.Client(settings.url, settings.api_key)
    sampling = {
        name: value
        for name, value in (
            ("temperature", args.temperature),
            ("max_tokens", args.max_tokens),
            ("seed", args.seed),
        )
        if value is not None
    }
    interactive = streams[0].isatty()
    try:
        model = resolve(server, args.model)
    except KeyboardInterrupt:
        return 0
    except errors.TuneyardError as exc:
        streams[2].write(f"tuneyard: error: {_message(exc)}\n")
        return 1
    if interactive:
        with contextlib.suppress(ImportError):  # line editing and history for input()
            import readline  # noqa: F401
        named = f"{args.model} ({model})" if model != args.model else model
        streams[2].write(f"Chatting with {named} at {settings.url}. {COMMANDS}.\n")
    session = _Session(server, model, Conversation(args.system), sampling, streams)
    try:
        return session.loop()
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly
        if streams[1] is sys.stdout:  # and keep Python from failing to flush it at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
