"""`tuneyard chat`'s pure parts: server-sent events read back, server errors typed, the
conversation kept, MODEL resolved, and a session driven over a scripted server (no
sockets, no processes)."""

from __future__ import annotations

import argparse
import io
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from tuneyard import errors
from tuneyard.cli import chat, main
from tuneyard.cli import client as remote
from tuneyard.settings import Settings

# -- server-sent events and the stream -------------------------------------------------


def test_events_are_the_data_of_each_blank_line_terminated_event() -> None:
    lines = [
        ": a comment\n",
        'data: {"a": 1}\n',
        "\n",
        "event: ignored\r\n",
        "data:no-space\r\n",
        "data:  two spaces\n",
        "\r\n",
        "\n",  # a blank line with no data is no event
        "data: [DONE]\n",
        "\n",
        "data: unterminated\n",
    ]
    assert list(remote.events(lines)) == ['{"a": 1}', "no-space\n two spaces", remote.DONE]


class _Response(io.BytesIO):
    """What `http.client` gives the stream: readline() and close()."""


class _Connection:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def _stream(body: str) -> tuple[remote.Stream, _Connection]:
    connection = _Connection()
    return remote.Stream(connection, _Response(body.encode())), connection  # type: ignore[arg-type]


def test_a_stream_yields_chunks_until_done_and_closes_its_connection() -> None:
    stream, connection = _stream('data: {"x": 1}\n\ndata: {"x": 2}\n\ndata: [DONE]\n\n')
    with stream:
        assert [c["x"] for c in stream] == [1, 2]
    assert connection.closed


def test_an_error_event_and_a_stream_cut_short_are_typed_errors() -> None:
    body = 'data: {"x": 1}\n\ndata: {"error": {"message": "engine gone", "code": null}}\n\n'
    stream, _ = _stream(body)
    with pytest.raises(errors.InferenceFailed, match="engine gone"):
        list(stream)
    stream, _ = _stream('data: {"x": 1}\n\n')
    with pytest.raises(errors.InferenceFailed, match=r"\[DONE\]"):
        list(stream)


def _envelope(message: str, code: str | None = None, param: str | None = None) -> Any:
    return {
        "error": {"message": message, "type": "invalid_request_error", "code": code, "param": param}
    }


@pytest.mark.parametrize(
    "status, code, kind",
    [
        (404, "model_not_found", errors.ServedModelNotFound),
        (400, "context_length_exceeded", errors.ContextLengthExceeded),
        (400, None, errors.InvalidRequest),
        (401, "invalid_api_key", errors.InvalidCredentials),
        (403, "permission_denied", errors.Forbidden),
        (404, None, errors.NotFound),
        (429, "rate_limit_exceeded", errors.Overloaded),
        (503, "service_unavailable", errors.InferenceUnavailable),
        (500, None, errors.TuneyardError),
        (None, None, errors.InferenceFailed),  # an error event inside a stream
    ],
)
def test_server_errors_become_typed_errors_with_the_servers_message(
    status: int | None, code: str | None, kind: type[errors.TuneyardError]
) -> None:
    found = remote.error_of(status, _envelope("the server says so", code, "temperature"))
    assert type(found) is kind
    assert found.message == "the server says so" and found.param == "temperature"


def test_retry_after_is_kept_and_a_body_that_is_not_the_envelope_falls_back() -> None:
    busy = remote.error_of(429, _envelope("queue full"), retry_after="7")
    assert isinstance(busy, errors.Overloaded) and busy.retry_after == 7
    odd = remote.error_of(502, None, fallback="http://x answered HTTP 502 Bad Gateway")
    assert odd.message == "http://x answered HTTP 502 Bad Gateway"


def test_a_server_url_is_split_and_a_bad_one_refused() -> None:
    assert remote.split_url("http://127.0.0.1:8000") == ("http", "127.0.0.1", 8000, "")
    assert remote.split_url("https://ty.example/v1/") == ("https", "ty.example", 443, "")
    assert remote.split_url("http://h/proxy/v1") == ("http", "h", 80, "/proxy")
    for bad in ("127.0.0.1:8000", "ftp://h", "http://", "http://h:99999"):
        with pytest.raises(errors.InvalidRequest, match="--url"):
            remote.split_url(bad)


# -- the conversation ------------------------------------------------------------------


def test_the_conversation_opens_with_the_system_message_and_keeps_answered_turns() -> None:
    talk = chat.Conversation("be brief")
    first = talk.ask("hi")
    assert first == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert talk.messages == first[:1]  # asking is not keeping
    talk.keep("hi", "hello")
    assert talk.ask("again")[1:] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "again"},
    ]
    talk.reset()
    assert talk.messages == [{"role": "system", "content": "be brief"}]
    assert chat.Conversation().ask("x") == [{"role": "user", "content": "x"}]


def test_delta_reads_the_first_choice_of_a_chunk() -> None:
    role = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
    text = {"choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]}
    end = {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}
    assert [chat.delta(c) for c in (role, text, end, {"choices": [], "usage": {}})] == [
        ("", None),
        ("Hel", None),
        ("", "length"),
        ("", None),
    ]


# -- MODEL: a model name or a job id ---------------------------------------------------


class _Jobs:
    """`get` as the server answers it: models and jobs by path."""

    def __init__(self, models: set[str], jobs: dict[str, dict[str, Any]]) -> None:
        self.models, self.jobs, self.asked = models, jobs, []

    def get(self, path: str) -> Any:
        self.asked.append(path)
        name = path.rsplit("/", 1)[-1]
        if path.startswith("/v1/models/"):
            if name in self.models:
                return {"id": name}
            raise errors.ServedModelNotFound(f"The model `{name}` does not exist")
        if name in self.jobs:
            return self.jobs[name]
        raise errors.NotFound(f"No fine-tuning job found with id {name}")


def test_model_names_and_job_ids_resolve_to_what_chat_completions_accepts() -> None:
    done = {"status": "succeeded", "fine_tuned_model": "ft:tiny-chat:ws::abc123de"}
    running = {"status": "running", "fine_tuned_model": None}
    failed = {"status": "failed", "fine_tuned_model": None, "error": {"message": "no data"}}
    server = _Jobs(
        {"tiny-chat", "ft:tiny-chat:ws::abc123de"},
        {"ftjob-abc123de": done, "ftjob-run12345": running, "ftjob-bad12345": failed},
    )
    resolve = chat.resolve
    assert resolve(server, "tiny-chat") == "tiny-chat"  # type: ignore[arg-type]
    assert resolve(server, "ft:tiny-chat:ws::abc123de") == "ft:tiny-chat:ws::abc123de"  # type: ignore[arg-type]
    assert resolve(server, "ftjob-abc123de") == done["fine_tuned_model"]  # type: ignore[arg-type]
    assert resolve(server, "abc123de") == done["fine_tuned_model"]  # type: ignore[arg-type]
    with pytest.raises(errors.ModelNotReady, match="ftjob-run12345 is running"):
        resolve(server, "run12345")  # type: ignore[arg-type]
    with pytest.raises(errors.ModelNotReady, match="is failed: no data"):
        resolve(server, "ftjob-bad12345")  # type: ignore[arg-type]
    with pytest.raises(errors.ServedModelNotFound, match="The model `nope` does not exist"):
        resolve(server, "nope")  # type: ignore[arg-type]  # the model's message, not the job's
    with pytest.raises(errors.ServedModelNotFound, match="No fine-tuning job"):
        resolve(server, "ftjob-nope")  # type: ignore[arg-type]
    server.asked.clear()
    with pytest.raises(errors.ServedModelNotFound):
        resolve(server, "ft:gone:ws::x")  # type: ignore[arg-type]
    assert server.asked == ["/v1/models/ft:gone:ws::x"]  # an ft: name is never a job id


# -- a session over a scripted server --------------------------------------------------


def _chunk(text: str | None = None, finish: str | None = None) -> dict[str, Any]:
    delta = {} if text is None else {"content": text}
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


class _Script:
    """A stream that plays chunks, then an error, a Ctrl-C or the end."""

    def __init__(self, chunks: list[dict[str, Any]], then: BaseException | None = None) -> None:
        self.chunks, self.then, self.closed = chunks, then, False

    def __enter__(self) -> _Script:
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed = True

    def __iter__(self) -> Iterator[dict[str, Any]]:
        yield from self.chunks
        if self.then is not None:
            raise self.then


class _Server:
    """The remote client, scripted: each chat() plays the next reply (or raises it)."""

    replies: ClassVar[list[_Script | errors.TuneyardError]] = []
    sent: ClassVar[list[dict[str, Any]]] = []
    played: ClassVar[list[_Script]] = []

    def __init__(self, url: str, key: str) -> None:
        self.url, self.key = url, key

    def get(self, path: str) -> Any:
        return {"id": path.rsplit("/", 1)[-1]}

    def chat(self, body: dict[str, Any]) -> _Script:
        type(self).sent.append(body)
        reply = type(self).replies.pop(0)
        if isinstance(reply, errors.TuneyardError):
            raise reply
        type(self).played.append(reply)
        return reply


def _words(*pieces: str) -> _Script:
    return _Script(
        [_chunk(role) for role in ("",)] + [_chunk(p) for p in pieces] + [_chunk(None, "stop")]
    )


def _session(
    monkeypatch: pytest.MonkeyPatch,
    replies: list[_Script | errors.TuneyardError],
    stdin: str,
    **options: Any,
) -> tuple[int, str, str]:
    monkeypatch.setattr(remote, "Client", _Server)
    _Server.replies, _Server.sent, _Server.played = list(replies), [], []
    args = argparse.Namespace(
        model=options.pop("model", "tiny-chat"),
        system=options.pop("system", None),
        temperature=options.pop("temperature", None),
        max_tokens=options.pop("max_tokens", None),
        seed=options.pop("seed", None),
    )
    out, err = io.StringIO(), io.StringIO()
    status = chat.run(
        args, Settings(api_key="nv-test"), stdin=io.StringIO(stdin), stdout=out, stderr=err
    )
    return status, out.getvalue(), err.getvalue()


def test_piped_lines_are_turns_of_one_conversation_and_only_replies_are_printed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    status, out, err = _session(
        monkeypatch,
        [_words("Hel", "lo"), _words("4")],
        "hi\n\n   \nwhat is 2+2?\n",
        system="be brief",
        temperature=0.0,
        seed=7,
    )
    assert (status, out, err) == (0, "Hello\n4\n", "")
    first, second = _Server.sent
    assert first == {
        "model": "tiny-chat",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "temperature": 0.0,
        "seed": 7,
    }
    assert second["messages"][1:] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "what is 2+2?"},
    ]
    assert all(s.closed for s in _Server.played)


def test_reset_forgets_the_turns_and_exit_stops_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    status, out, _ = _session(
        monkeypatch, [_words("a"), _words("b")], "one\n/reset\ntwo\n/exit\nnever sent\n"
    )
    assert (status, out) == (0, "a\nb\n")
    assert _Server.sent[1]["messages"] == [{"role": "user", "content": "two"}]


def test_a_turn_that_fails_is_reported_and_the_session_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    too_long = errors.ContextLengthExceeded(
        "maximum context length is 1024 tokens", param="messages"
    )
    busy = errors.Overloaded("64 requests are already waiting", retry_after=2)
    broken = _Script([_chunk("par")], then=errors.InferenceFailed("the engine stopped"))
    status, out, err = _session(monkeypatch, [too_long, busy, broken, _words("ok")], "a\nb\nc\nd\n")
    assert out == "par\nok\n"  # a partial reply still ends its line
    assert err.splitlines() == [
        "tuneyard: maximum context length is 1024 tokens",
        "tuneyard: 64 requests are already waiting (retry after 2 s)",
        "tuneyard: the engine stopped",
    ]
    assert _Server.sent[-1]["messages"] == [
        {"role": "user", "content": "d"}
    ]  # failed turns not kept
    assert status == 1  # piped: some line went unanswered


@pytest.mark.parametrize(
    "fatal",
    [
        errors.ServedModelNotFound("The model `x` does not exist", param="model"),
        errors.InvalidRequest("temperature must be at most 2", param="temperature"),
        errors.InvalidCredentials("Invalid key"),
        errors.ServerUnreachable("cannot reach http://127.0.0.1:8000"),
    ],
)
def test_an_error_every_turn_would_hit_ends_the_session_with_1(
    monkeypatch: pytest.MonkeyPatch, fatal: errors.TuneyardError
) -> None:
    status, out, err = _session(monkeypatch, [fatal, _words("never")], "a\nb\n")
    assert (status, out) == (1, "")
    assert err.startswith(f"tuneyard: {fatal.message}") and len(_Server.sent) == 1


def test_ctrl_c_during_a_reply_stops_it_closes_the_stream_and_keeps_what_came(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stopped = _Script([_chunk("long"), _chunk(" story")], then=KeyboardInterrupt())
    silent = _Script([], then=KeyboardInterrupt())
    status, out, err = _session(monkeypatch, [stopped, silent, _words("short")], "a\nb\nc\n")
    assert (status, out) == (0, "long story\nshort\n")
    assert err.splitlines() == ["(stopped)", "(stopped)"]
    assert _Server.played[0].closed and _Server.played[1].closed
    assert _Server.sent[2]["messages"] == [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "long story"},  # kept, so "shorter" can follow
        {"role": "user", "content": "c"},  # b got nothing: forgotten
    ]


def test_a_reply_cut_at_the_token_limit_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    cut = _Script([_chunk("abc"), _chunk(None, "length")])
    status, out, err = _session(monkeypatch, [cut], "a\n", max_tokens=1)
    assert (status, out) == (0, "abc\n") and "--max-tokens" in err
    assert _Server.sent[0]["max_tokens"] == 1


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_it_prompts_and_ctrl_c_at_the_prompt_quits_with_0(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(remote, "Client", _Server)
    _Server.replies, _Server.sent, _Server.played = [_words("hey")], [], []

    class Keyboard(_Tty):
        def readline(self, size: int | None = -1) -> str:
            if self.tell() == len(self.getvalue()):
                raise KeyboardInterrupt
            return super().readline()

    out, err = _Tty(), io.StringIO()
    args = argparse.Namespace(
        model="tiny-chat", system=None, temperature=None, max_tokens=None, seed=None
    )
    status = chat.run(args, Settings(api_key="k"), stdin=Keyboard("hi\n"), stdout=out, stderr=err)
    assert status == 0
    assert out.getvalue() == "you> hey\nyou> "
    assert err.getvalue().startswith("Chatting with tiny-chat at http://127.0.0.1:8000.")


def test_without_a_key_it_says_how_to_make_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TUNEYARD_API_KEY", raising=False)
    assert main.main(["chat", "tiny-chat"]) == 2
    assert "tuneyard keys create --workspace NAME" in capsys.readouterr().err


def test_url_and_key_have_environment_twins_and_the_key_is_never_shown() -> None:
    loaded = Settings.load(env={"TUNEYARD_URL": "http://gpu:9000", "TUNEYARD_API_KEY": "nv-s3cret"})
    assert (loaded.url, loaded.api_key) == ("http://gpu:9000", "nv-s3cret")
    assert "nv-s3cret" not in repr(loaded)
    flagged = Settings.load({"url": "http://h:1", "api_key": "k2"}, env={"TUNEYARD_API_KEY": "k1"})
    assert (flagged.url, flagged.api_key) == ("http://h:1", "k2")


def test_help_documents_models_commands_and_exit_statuses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as leaving:
        main.main(["chat", "--help"])
    assert leaving.value.code == 0
    shown = capsys.readouterr().out
    for needle in (
        "ftjob-",
        "/reset",
        "/exit",
        "Ctrl-C",
        "--temperature",
        "TUNEYARD_URL",
        "Exit status",
    ):
        assert needle in shown
