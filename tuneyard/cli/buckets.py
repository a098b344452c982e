"""`tuneyard buckets create|list`: object-storage buckets, each owned by one workspace.

A CLOVA request reads a bucket only with its key pair; a Qianfan `bos://` path only from
the caller's own workspace. Without an endpoint the bucket is the folder
`<data-dir>/object-storage/<NAME>/`; with one, it is recorded with the keys the endpoint
issued for it (the access key as a flag, the secret key as the first line of stdin).
"""

from __future__ import annotations

import argparse
import json
import sys

from tuneyard import errors, runtime
from tuneyard.settings import Settings

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `buckets create` and `buckets list`."""
    buckets = commands.add_parser("buckets", help="object-storage buckets and their keys")
    actions = buckets.add_subparsers(dest="buckets_command", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create",
        help="create a bucket owned by a workspace; prints its key pair as `ACCESS_KEY "
        "SECRET_KEY`, the only line on stdout (shown once; the secret key is stored "
        "encrypted). An existing folder of that name is adopted as it is",
    )
    create.add_argument("name", help="bucket name: 3-63 lowercase letters, digits, . and -")
    create.add_argument("--workspace", default="default", help="its owner (default: default)")
    create.add_argument(
        "--access-key",
        help="record this access key instead of minting a pair, with the secret key read "
        "from the first line of stdin: the keys an S3-compatible endpoint "
        "(--object-storage-endpoint) issued for the bucket",
    )
    listing = actions.add_parser("list", help="a workspace's buckets (no secret keys)")
    listing.add_argument("--workspace", default="default", help="the workspace (default: default)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    for parser in (create, listing):
        parser.add_argument(
            "--data-dir", help="the server's data directory (env TUNEYARD_DATA_DIR)"
        )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Create (prints the pair) or list (0)."""
    buckets = runtime.build(settings).service.buckets
    if args.buckets_command == "create":
        secret = None
        if args.access_key is not None:
            secret = sys.stdin.readline().strip()
            if not secret:
                raise errors.InvalidRequest("--access-key needs the secret key on stdin")
        access_key, secret_key = buckets.create(
            args.workspace, args.name, access_key=args.access_key, secret_key=secret
        )
        print(f"{access_key} {secret_key}" if secret is None else access_key)
        return 0
    rows = [
        {"name": b.name, "access_key": b.access_key, "created_at": b.created_at.isoformat()}
        for b in buckets.list_buckets(args.workspace)
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(f"{row['name']}  {row['access_key']}  {row['created_at']}")
    return 0
