"""The edge every route shares: bodies bounded (JSON and uploads), bad paths, deep JSON,
upload parts, file names — each refused in the envelope of the dialect called, never a 500.

Most checks drive the ASGI app directly, so they can see how much of a body the app
pulled: a refused body must not have been read past its limit (nor at all, before auth).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.support.world import EXAMPLES, ManualClock, World, make_ports
from tuneyard.api import limits, multipart
from tuneyard.api.app import create_app
from tuneyard.api.dialects.qianfan import signature
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.settings import Settings

CHAT = (EXAMPLES / "chat.jsonl").read_bytes()
MiB = 1 << 20
GiB = 1 << 30
DATASET_LIMIT = 200_000
TOO_LARGE = {
    "clova": "41300",
    "dashscope": "RequestTooLarge",
    "openai": "request_too_large",
    "qianfan": "RequestEntityTooLarge",
    "native": "payload_too_large",
}
INVALID = {
    "clova": "40001",
    "dashscope": "InvalidParameter",
    "openai": None,
    "qianfan": "InappropriateJSON",
    "native": "validation",
}
MALFORMED = {"qianfan": "MalformedJSON", "native": "malformed_json"}
"""Where a dialect says "not JSON" apart (nesting past what the parser takes is not JSON)."""
JSON_ROUTES = {
    "clova": "/tuning/v2/tasks",
    "dashscope": "/api/v1/fine-tunes",
    "openai": "/v1/fine_tuning/jobs",
    "qianfan": "/v2/finetuning?Action=CreateFineTuningJob",
    "native": "/tuneyard/v1/jobs/x/export",
}
UPLOAD_ROUTES = {
    "clova": ("/tuning/v2/tasks", "file"),
    "dashscope": ("/api/v1/files", "files"),
    "openai": ("/v1/files", "file"),
    "native": ("/tuneyard/v1/datasets/validate", "file"),
}
FILE_SIZE = (
    "file.size: Exceeded the disk usage limit. Please check if the file size is 200KB or less."
)


class Edge:
    """One app over a fake world, with a bearer key (workspace ws) and a Qianfan AK/SK."""

    def __init__(self, tmp_path: Path, **settings: Any) -> None:
        self.clock = ManualClock()
        ports = make_ports("memory", tmp_path, self.clock)
        self.world = World(ports, tmp_path, FakeExecutor(), max_bytes=DATASET_LIMIT)
        self.app: FastAPI = create_app(
            Settings(data_dir=tmp_path, max_dataset_bytes=DATASET_LIMIT, **settings),
            self.world.service,
        )
        self.client = TestClient(self.app, raise_server_exceptions=False)
        key = self.world.service.credentials.create_key("ws")
        self.bearer = {"authorization": f"Bearer {key}"}
        self.ak, self.sk = self.world.service.credentials.create_access_key("qf")

    def keys(self, dialect: str, url: str) -> dict[str, str]:
        """Credentials for a request to `url` in `dialect` (Qianfan: a bce-auth-v1 signature)."""
        if dialect != "qianfan":
            return dict(self.bearer)
        stamp = self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        headers = {"host": "testserver", "x-bce-date": stamp}
        order = ["host", "x-bce-date"]
        auth = signature.Authorization(self.ak, stamp, 300, tuple(order), "")
        action = url.partition("Action=")[2]
        canonical = signature.canonical_request(
            "POST", "/v2/finetuning", [("Action", action)], headers, order
        )
        signed = signature.sign(self.sk, auth, canonical)
        headers["authorization"] = f"bce-auth-v1/{self.ak}/{stamp}/300/{';'.join(order)}/{signed}"
        return headers

    def call(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: Iterator[bytes] | None = None,
    ) -> Reply:
        """One request straight through the ASGI app; the body is pulled chunk by chunk
        (sent chunked unless `headers` declare its length)."""
        if body is not None and "content-length" not in headers:
            headers = {**headers, "transfer-encoding": "chunked"}
        return asyncio.run(_call(self.app, method, url, headers, body or iter(())))


class Reply:
    """What the app answered, and how many body bytes it pulled to answer it."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.raw = b""
        self.pulled = 0

    def json(self) -> Any:
        """The answer's body as JSON."""
        return json.loads(self.raw)


async def _call(
    app: FastAPI, method: str, url: str, headers: dict[str, str], body: Iterator[bytes]
) -> Reply:
    reply = Reply()
    path, _, query = url.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    pending = next(body, None)

    async def receive() -> dict[str, Any]:
        nonlocal pending
        if pending is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        chunk, pending = pending, next(body, None)
        reply.pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": pending is not None}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            reply.status = message["status"]
            reply.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            reply.raw += message.get("body", b"")

    await app(scope, receive, send)
    return reply


def _zeros(total: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """`total` bytes of JSON-ish filler, generated as it is pulled."""
    block = b" " * chunk
    for _ in range(total // chunk):
        yield block


def _multipart(field: str, filename: str, total: int) -> Iterator[bytes]:
    """A multipart body whose one file part runs to `total` bytes, generated as pulled."""
    yield (
        f'--B\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    yield from _zeros(total)
    yield b"\r\n--B--\r\n"


def _code(dialect: str, body: Any) -> Any:
    """The vendor's error code in a dialect's envelope."""
    if dialect == "clova":
        return body["status"]["code"]
    if dialect in ("openai", "native"):
        return body["error"]["code"]
    return body["code"]


def _message(dialect: str, body: Any) -> str:
    if dialect == "clova":
        return str(body["status"]["message"])
    if dialect in ("openai", "native"):
        return str(body["error"]["message"])
    return str(body["message"])


@pytest.fixture
def edge(tmp_path: Path) -> Edge:
    return Edge(tmp_path)


# -- JSON bodies ---------------------------------------------------------------------------
@pytest.mark.parametrize("dialect", list(JSON_ROUTES))
def test_declared_length_past_the_limit_is_413_before_auth_and_unread(
    edge: Edge, dialect: str
) -> None:
    reply = edge.call(
        "POST",
        JSON_ROUTES[dialect],
        {"content-type": "application/json", "content-length": str(GiB)},
        _zeros(GiB),
    )
    assert reply.status == 413 and _code(dialect, reply.json()) == TOO_LARGE[dialect]
    assert reply.pulled == 0
    assert reply.headers["connection"] == "close"


@pytest.mark.parametrize("dialect", list(JSON_ROUTES))
def test_a_keyless_body_is_never_read(edge: Edge, dialect: str) -> None:
    reply = edge.call(
        "POST", JSON_ROUTES[dialect], {"content-type": "application/json"}, _zeros(GiB)
    )
    assert reply.status in (400, 401), reply.raw  # Qianfan says 400 InvalidHTTPAuthHeader
    assert reply.pulled == 0
    assert reply.headers["connection"] == "close"  # the rest of the body is not received


@pytest.mark.parametrize("dialect", list(JSON_ROUTES))
def test_a_chunked_body_with_a_key_stops_at_the_limit(edge: Edge, dialect: str) -> None:
    url = JSON_ROUTES[dialect]
    headers = {**edge.keys(dialect, url), "content-type": "application/json"}
    reply = edge.call("POST", url, headers, _zeros(GiB))
    assert reply.status == 413 and _code(dialect, reply.json()) == TOO_LARGE[dialect]
    assert "1048576 bytes" in _message(dialect, reply.json())
    assert MiB < reply.pulled <= MiB + 64 * 1024
    assert reply.headers["connection"] == "close"


def test_the_json_limit_is_a_setting(tmp_path: Path) -> None:
    edge = Edge(tmp_path, max_json_bytes=4096)
    body = {"model": "tiny-chat", "training_file_ids": ["file-x"], "pad": "x" * 5000}
    refused = edge.client.post("/api/v1/fine-tunes", headers=edge.bearer, json=body)
    assert refused.status_code == 413 and refused.json()["code"] == "RequestTooLarge"
    body["pad"] = "x" * 3000
    within = edge.client.post("/api/v1/fine-tunes", headers=edge.bearer, json=body)
    assert within.status_code == 400 and "File not found" in within.json()["message"]


def test_a_multipart_body_to_a_json_route_gets_the_json_limit(edge: Edge) -> None:
    headers = {**edge.bearer, "content-type": "multipart/form-data; boundary=B"}
    reply = edge.call("POST", "/api/v1/fine-tunes", headers, _multipart("files", "a", GiB))
    assert reply.status == 413 and reply.pulled <= MiB + 64 * 1024


def test_a_form_encoded_body_gets_the_json_limit(edge: Edge) -> None:
    headers = {**edge.bearer, "content-type": "application/x-www-form-urlencoded"}
    reply = edge.call(
        "POST", "/tuning/v2/tasks", headers, (b"&a=" + b"x" * 60_000 for _ in range(GiB))
    )
    assert reply.status == 413 and reply.json()["status"]["code"] == "41300"
    assert reply.pulled <= MiB + 64 * 1024
    one_field = edge.call("POST", "/tuning/v2/tasks", headers, _zeros(GiB))
    assert one_field.status == 400 and "Field exceeded" in one_field.json()["status"]["message"]
    assert one_field.pulled <= multipart.MAX_FIELD_BYTES + 64 * 1024


def test_export_reads_its_body_after_the_key(edge: Edge) -> None:
    # FastAPI reads a body-model parameter before the dependencies (the key) run
    reply = edge.call(
        "POST", "/tuneyard/v1/jobs/x/export", {"content-type": "application/json"}, iter([b"{}"])
    )
    assert reply.status == 401 and reply.pulled == 0
    bad = edge.client.post("/tuneyard/v1/jobs/x/export", headers=edge.bearer, json={"step": "soon"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "step"


# -- JSON depth ----------------------------------------------------------------------------
def _nested(levels: int) -> bytes:
    return b'{"a":' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"


@pytest.mark.parametrize("levels", [65, 1_000, 100_000])
@pytest.mark.parametrize("dialect", list(JSON_ROUTES))
def test_deep_json_is_400_in_the_envelope(edge: Edge, dialect: str, levels: int) -> None:
    url = JSON_ROUTES[dialect]
    headers = {**edge.keys(dialect, url), "content-type": "application/json"}
    reply = edge.call("POST", url, headers, iter([_nested(levels)]))
    assert reply.status == 400, reply.raw
    code = _code(dialect, reply.json())
    assert code == INVALID[dialect] or (levels > 1024 and code == MALFORMED.get(dialect, code))


def test_json_up_to_64_levels_is_parsed(edge: Edge) -> None:
    body = b'{"model": "tiny-chat", "training_file_ids": ["file-x"], "deep":' + _nested(63) + b"}"
    reply = edge.client.post(
        "/api/v1/fine-tunes",
        headers={**edge.bearer, "content-type": "application/json"},
        content=body,
    )
    assert reply.status_code == 400 and "deeper" not in reply.text, reply.text


# -- uploads -------------------------------------------------------------------------------
@pytest.mark.parametrize("dialect", list(UPLOAD_ROUTES))
def test_an_upload_stops_at_the_dataset_limit_with_file_size(edge: Edge, dialect: str) -> None:
    url, field = UPLOAD_ROUTES[dialect]
    headers = {**edge.bearer, "content-type": "multipart/form-data; boundary=B"}
    reply = edge.call("POST", url, headers, _multipart(field, "big.jsonl", GiB))
    assert reply.status == 413 and _code(dialect, reply.json()) == TOO_LARGE[dialect]
    assert _message(dialect, reply.json()) == FILE_SIZE
    limit = limits.upload_limit(edge.app.state.settings)
    assert DATASET_LIMIT < reply.pulled <= limit + 64 * 1024
    declared = edge.call(
        "POST",
        url,
        {**headers, "content-length": str(GiB)},
        _multipart(field, "big.jsonl", GiB),
    )
    assert declared.status == 413 and declared.pulled == 0
    assert _message(dialect, declared.json()) == FILE_SIZE


@pytest.mark.parametrize("dialect", list(UPLOAD_ROUTES))
def test_an_upload_over_the_json_limit_but_within_the_dataset_limit_is_taken(
    tmp_path: Path, dialect: str
) -> None:
    edge = Edge(tmp_path, max_json_bytes=1024)
    url, field = UPLOAD_ROUTES[dialect]
    data = {"purpose": "fine-tune"} if dialect == "openai" else {}
    if dialect == "clova":
        data = {"name": "t", "model": "tiny-chat", "taskType": "GENERATION"}
    response = edge.client.post(
        url, headers=edge.bearer, data=data, files=[(field, ("chat.jsonl", CHAT))]
    )
    assert len(CHAT) > 1024 and response.status_code == 200, response.text


def test_a_file_just_over_the_limit_still_gets_the_seeds_reason(edge: Edge) -> None:
    # within the multipart framing allowance: received, stored truncated, checked as before
    response = edge.client.post(
        "/api/v1/files",
        headers=edge.bearer,
        files=[("files", ("big.jsonl", b"x" * (DATASET_LIMIT + 10)))],
    )
    (failed,) = response.json()["data"]["failed_uploads"]
    assert failed["message"].startswith("file.size: Exceeded the disk usage limit")


def test_file_parts_per_upload_are_capped(tmp_path: Path) -> None:
    edge = Edge(tmp_path, max_upload_files=2)
    parts = [("files", (f"t{i}.jsonl", CHAT)) for i in range(3)]
    refused = edge.client.post("/api/v1/files", headers=edge.bearer, files=parts)
    assert refused.status_code == 400 and refused.json()["code"] == "InvalidParameter"
    assert "Maximum number of files is 2" in refused.json()["message"]
    taken = edge.client.post("/api/v1/files", headers=edge.bearer, files=parts[:2])
    assert len(taken.json()["data"]["uploaded_files"]) == 2
    two = [("file", ("a.jsonl", CHAT)), ("file", ("b.jsonl", CHAT))]
    single = edge.client.post(
        "/v1/files", headers=edge.bearer, data={"purpose": "fine-tune"}, files=two
    )
    assert single.status_code == 400 and single.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    "data, headers",
    [
        ({"descriptions": "d" * (multipart.MAX_FIELD_BYTES + 1)}, {}),
        ({f"f{i}": "x" for i in range(multipart.MAX_FIELDS + 1)}, {}),
    ],
    ids=["a field too large", "too many fields"],
)
def test_form_fields_are_bounded(edge: Edge, data: dict[str, str], headers: Any) -> None:
    response = edge.client.post(
        "/api/v1/files", headers=edge.bearer, data=data, files=[("files", ("t.jsonl", CHAT))]
    )
    assert response.status_code == 400 and response.json()["code"] == "InvalidParameter"


@pytest.mark.parametrize(
    "extra", [b"X-Pad: " + b"p" * 3000 + b"\r\nX-More: " + b"p" * 3000, b"X-Pad: " + b"p" * 9000]
)
def test_part_headers_are_bounded(edge: Edge, extra: bytes) -> None:
    body = (
        b'--B\r\nContent-Disposition: form-data; name="files"; filename="t.jsonl"\r\n'
        + extra + b"\r\n\r\n" + CHAT + b"\r\n--B--\r\n"
    )  # fmt: skip
    headers = {**edge.bearer, "content-type": "multipart/form-data; boundary=B"}
    reply = edge.call("POST", "/api/v1/files", headers, iter([body]))
    assert reply.status == 400 and reply.json()["code"] == "InvalidParameter"


# -- paths ---------------------------------------------------------------------------------
PATHS = {
    "clova": "/tuning/v2/tasks/{}",
    "dashscope": "/api/v1/fine-tunes/{}",
    "openai": "/v1/files/{}/content",
    "qianfan": "/v2/finetuning{}",
    "native": "/tuneyard/v1/jobs/{}/events",
}


@pytest.mark.parametrize("segment", ["a\x00b", "a\nb", "a\x1bb", "a\x7fb", "x" * 5_000, "é" * 600])
@pytest.mark.parametrize("dialect", list(PATHS))
def test_bad_paths_are_400_in_the_envelope(edge: Edge, dialect: str, segment: str) -> None:
    url = PATHS[dialect].format(segment)
    for headers in ({}, edge.bearer):
        reply = edge.call("GET", url, headers)
        assert reply.status == 400, (url[:60], reply.raw)
        assert _code(dialect, reply.json()) == INVALID[dialect]


def test_a_path_of_1024_bytes_is_served(edge: Edge) -> None:
    path = "/api/v1/fine-tunes/"
    reply = edge.client.get(path + "x" * (1024 - len(path)), headers=edge.bearer)
    assert reply.status_code == 404 and reply.json()["code"] == "NotFound"


# -- file names ----------------------------------------------------------------------------
NAMES = {
    "../../../../tmp/x.jsonl": "x.jsonl",
    "..\\..\\windows\\x.jsonl": "x.jsonl",
    "/abs/olute/.hidden.jsonl": "hidden.jsonl",
    "../..": "dataset.jsonl",
}
RAW_NAMES = {  # bytes a client can put in a part header as they are (httpx would escape them)
    b"nul\x00by\x1bte\x7f.jsonl": "nulbyte.jsonl",
    b"tr\xe2\x80\xaeain.jsonl": "train.jsonl",  # a right-to-left override reorders what is shown
    b"../x\x01/\x02y.jsonl": "y.jsonl",
}


def _raw_upload(edge: Edge, url: str, field: str, name: bytes, extra: bytes = b"") -> Reply:
    body = (
        b'--B\r\nContent-Disposition: form-data; name="' + field.encode() + b'"; filename="'
        + name + b'"\r\n\r\n' + CHAT + b"\r\n" + extra + b"--B--\r\n"
    )  # fmt: skip
    headers = {**edge.bearer, "content-type": "multipart/form-data; boundary=B"}
    return edge.call("POST", url, headers, iter([body]))


@pytest.mark.parametrize("raw, cleaned", list(NAMES.items()))
def test_upload_names_are_stored_and_echoed_as_safe_base_names(
    edge: Edge, raw: str, cleaned: str
) -> None:
    files = [("files", (raw, CHAT)), ("files", (raw, b"not json\n"))]
    data = edge.client.post("/api/v1/files", headers=edge.bearer, files=files).json()["data"]
    assert [f["name"] for f in data["uploaded_files"]] == [cleaned]
    assert [f["name"] for f in data["failed_uploads"]] == [cleaned]
    listed = edge.client.get("/api/v1/files", headers=edge.bearer).json()["data"]["files"]
    assert [f["name"] for f in listed] == [cleaned]

    stored = edge.client.post(
        "/v1/files", headers=edge.bearer, data={"purpose": "fine-tune"}, files={"file": (raw, CHAT)}
    ).json()
    assert stored["filename"] == cleaned
    content = edge.client.get(f"/v1/files/{stored['id']}/content", headers=edge.bearer)
    assert content.headers["content-disposition"] == f'attachment; filename="{cleaned}"'


@pytest.mark.parametrize("raw, cleaned", list(RAW_NAMES.items()))
def test_control_characters_never_reach_a_stored_name(edge: Edge, raw: bytes, cleaned: str) -> None:
    echoed = _raw_upload(edge, "/api/v1/files", "files", raw).json()["data"]["uploaded_files"]
    assert [f["name"] for f in echoed] == [cleaned]
    purpose = b'--B\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n'
    stored = _raw_upload(edge, "/v1/files", "file", raw, purpose).json()
    assert stored["filename"] == cleaned
    content = edge.client.get(f"/v1/files/{stored['id']}/content", headers=edge.bearer)
    assert content.headers["content-disposition"] == f'attachment; filename="{cleaned}"'


def test_a_2000_byte_name_is_cut_to_255_bytes_keeping_its_suffix(edge: Edge) -> None:
    raw = "é" * 1000 + ".jsonl"
    stored = edge.client.post(
        "/v1/files", headers=edge.bearer, data={"purpose": "fine-tune"}, files={"file": (raw, CHAT)}
    ).json()
    assert len(stored["filename"].encode()) <= 255 and stored["filename"].endswith("é.jsonl")


def test_names_from_any_source_are_cleaned_where_files_are_stored(edge: Edge) -> None:
    stored = edge.world.service.uploads.upload(
        "ws", "dir/sub/a\r\nb\x00.csv", [CHAT], purpose="fine-tune"
    )
    assert stored.filename == "ab.csv"
