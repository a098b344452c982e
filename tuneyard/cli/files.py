"""`tuneyard files upload|list`: dataset files from the operator's shell, e.g. for Qianfan
clients, whose `datasetConfig.versions[].versionId` names an uploaded file (spec §7)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from tuneyard import errors, runtime
from tuneyard.datasets import validator
from tuneyard.settings import Settings

__all__ = ["add_parser", "run"]

_CHUNK = 1 << 20


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `files upload` and `files list`."""
    files = commands.add_parser("files", help="upload and list dataset files")
    actions = files.add_subparsers(dest="files_command", required=True, metavar="ACTION")
    upload = actions.add_parser(
        "upload",
        help="check a dataset and store it in a workspace; prints its file id (the only line "
        "on stdout); a file with an issue is not kept (exit 1, the issue on stderr)",
    )
    upload.add_argument("file", type=Path, help="the dataset file (.jsonl, .csv)")
    upload.add_argument("--workspace", default="default", help="its workspace (default: default)")
    upload.add_argument("--description", help="a note kept with the file")
    listing = actions.add_parser("list", help="a workspace's files, newest first")
    listing.add_argument("--workspace", default="default", help="the workspace (default: default)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    for parser in (upload, listing):
        parser.add_argument(
            "--data-dir", help="the server's data directory (env TUNEYARD_DATA_DIR)"
        )


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Upload (0, or 1 for a rejected dataset) or list (0)."""
    uploads = runtime.build(settings).service.uploads
    if args.files_command == "upload":
        if not args.file.is_file():
            raise errors.InvalidRequest(f"{args.file} is not a file")
        stored, problem = uploads.upload_dataset(
            args.workspace,
            args.file.name,
            _chunks(args.file),
            formats=validator.FORMATS,
            description=args.description,
        )
        if stored is None:
            print(f"tuneyard: {args.file}: {problem}", file=sys.stderr)
            return 1
        print(stored.id)
        return 0
    rows = []
    offset = 0
    while True:
        page = uploads.list_files(args.workspace, offset=offset, limit=100)
        rows += [
            {
                "id": f.id,
                "filename": f.filename,
                "bytes": f.bytes,
                "created_at": f.created_at.isoformat(),
                "description": f.description,
            }
            for f in page.items
        ]
        offset += len(page.items)
        if not page.items or offset >= page.total:
            break
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(f"{row['id']}  {row['bytes']:>10}  {row['created_at']}  {row['filename']}")
    return 0
