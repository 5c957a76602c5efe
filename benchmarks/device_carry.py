"""Which kit parts travel together: the device calls that stage the offline vLLM kit, planned
against what one call may carry.

A device call sends the working tree (tracked files, and untracked ones git does not ignore) plus
the paths named in `carry`: 64 MiB in all, at most 8 carried paths. The vLLM kit
(`../shared/gpu/make-wheelhouse.sh`) is about 180 MB in parts, so it travels over several `stage`
calls and a last `install` call, and every call also carries the checkout. The checkout grows with
each committed results directory: in session 5 it had reached 18.7 MiB and the first call, with two
24 MB parts, was refused. `plan` reads the checkout's size and the parts' sizes now, pairs the parts
that fit (largest first), and says which part size to rebuild the kit with when they no longer do.

Sizes are counted as the disk holds them, each file rounded up to a 4 KiB block, because the device
tool's limit counts more than the files' bytes: on 2026-12-07 a call of 66.0 MB by bytes (the
checkout's 1,359 files at 29.6 MB and three parts) was refused as over 64 MiB (67.1 MB); by blocks
it was 69.0 MB, and the same three parts had passed in the session before with a checkout 3.4 MB
smaller.

    python -m benchmarks.device_carry plan .gpu-wheelhouse [--json] \\
        [--install-with .cache/gpu/models/llama-2-7b-shape --install-with .cache/gpu/sharegpt-subset.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

LIMIT_BYTES = 64 * 2**20
"""What one device call carries in all: the working tree and the `carry` paths."""
MAX_CARRY_PATHS = 8
BLOCK_BYTES = 4096
"""Each file counts as its size rounded up to this (see the module's docstring)."""
MARGIN_BYTES = 2**19
"""Headroom left unplanned: files written between the plan and the call still fit."""
SIZE_STEP = 100_000
"""A suggested part size is rounded down to this."""
WHEELHOUSE_SCRIPT = "../shared/gpu/make-wheelhouse.sh"


class CarryError(Exception):
    """No plan fits: a part or the install call is larger than the room a call has."""


@dataclass
class Call:
    """One device call: its command, what it carries, and the bytes it sends with the checkout."""

    command: str
    carry: list[str]
    total_bytes: int
    carry_bytes: list[int] = field(default_factory=list)


def _file_bytes(path: Path) -> int:
    """A file's or a link's own size rounded up to whole blocks; 0 for a folder or a missing path."""
    if not (path.is_symlink() or path.is_file()):
        return 0
    return -(-path.lstat().st_size // BLOCK_BYTES) * BLOCK_BYTES


def path_bytes(path: Path) -> int:
    """Size of a file, or of every file under a folder (links counted as themselves), in blocks."""
    if path.is_symlink() or not path.is_dir():
        return _file_bytes(path)
    return sum(_file_bytes(p) for p in path.rglob("*"))


def checkout_bytes(root: Path) -> int:
    """What every call sends before its carry: tracked files and untracked files git does not
    ignore, as they are on disk now (a deleted tracked file sends nothing), plus `shared/`; in
    blocks."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        check=True,
        capture_output=True,
    ).stdout.decode()
    names = {name for name in listed.split("\0") if name}
    total = sum(_file_bytes(root / name) for name in names)
    shared = root / "shared"
    if shared.is_dir():  # travels whether or not git ignores it
        total += sum(_file_bytes(p) for p in shared.rglob("*") if str(p.relative_to(root)) not in names)
    return total


def room_bytes(checkout: int, limit: int = LIMIT_BYTES, margin: int = MARGIN_BYTES) -> int:
    """What a call may carry beside the checkout, less the headroom."""
    return limit - margin - checkout


def pairing_size(checkout: int, limit: int = LIMIT_BYTES, margin: int = MARGIN_BYTES) -> int:
    """The largest kit part size (bytes, rounded down) at which two parts still fit one call."""
    return max(0, room_bytes(checkout, limit, margin) // 2 // SIZE_STEP * SIZE_STEP)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def plan(
    parts: Sequence[tuple[str, int]],
    install_with: Sequence[tuple[str, int]],
    checkout: int,
    limit: int = LIMIT_BYTES,
    margin: int = MARGIN_BYTES,
) -> list[Call]:
    """The stage calls (every part but the last, packed largest first into as few calls as fit)
    and the install call (the last part and `install_with`), in order. `parts` are (path, bytes)
    in the kit's order; raises `CarryError` when a part or the install call cannot fit."""
    if not parts:
        raise CarryError("the kit has no parts (parts.txt lists none)")
    room = room_bytes(checkout, limit, margin)
    pair = pairing_size(checkout, limit, margin)
    rebuild = f"rebuild the kit with parts of at most {pair:,} bytes: bash {WHEELHOUSE_SCRIPT} DEST {pair}"
    *staged, last = parts
    for name, size in staged:
        if size > room:
            raise CarryError(
                f"{name} ({_mb(size)}) does not fit beside the checkout ({_mb(checkout)}): "
                f"a call has room for {_mb(room)}; {rebuild}"
            )
    install = [last, *install_with]
    if sum(size for _, size in install) > room or len(install) > MAX_CARRY_PATHS:
        raise CarryError(
            f"the install call ({', '.join(n for n, _ in install)}: "
            f"{_mb(sum(s for _, s in install))}) does not fit beside the checkout ({_mb(checkout)}): "
            f"a call has room for {_mb(room)}; carry less with it, or {rebuild}"
        )
    bins: list[list[tuple[str, int]]] = []
    for item in sorted(staged, key=lambda p: (-p[1], p[0])):
        home = next(
            (b for b in bins if sum(s for _, s in b) + item[1] <= room and len(b) < MAX_CARRY_PATHS), None
        )
        if home is None:
            bins.append([item])
        else:
            home.append(item)
    ordered = sorted((sorted(b) for b in bins), key=lambda b: b[0][0])
    calls = [_call("benchmarks/gpu_host.sh stage " + " ".join(n for n, _ in b), b, checkout) for b in ordered]
    calls.append(_call(f"benchmarks/gpu_host.sh install {last[0]}", install, checkout))
    return calls


def _call(command: str, carried: Sequence[tuple[str, int]], checkout: int) -> Call:
    return Call(
        command=command,
        carry=[name for name, _ in carried],
        total_bytes=checkout + sum(size for _, size in carried),
        carry_bytes=[size for _, size in carried],
    )


def kit_parts(kit: Path) -> list[Path]:
    """The kit's parts in order, from its `parts.txt`."""
    listing = kit / "parts.txt"
    if not listing.is_file():
        raise CarryError(f"{listing} not found: build the kit with bash {WHEELHOUSE_SCRIPT} {kit}")
    parts = [kit / line.strip() for line in listing.read_text().splitlines() if line.strip()]
    missing = [str(p) for p in parts if not p.exists()]
    if missing:
        raise CarryError(f"parts.txt lists parts that are missing: {', '.join(missing)}")
    return parts


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        raise CarryError(f"{path} is outside the checkout ({root}): a call carries only its paths") from None


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.device_carry", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    planned = commands.add_parser("plan", help="the stage and install calls that carry the kit")
    planned.add_argument("kit", type=Path, help="the kit's folder (with parts.txt)")
    planned.add_argument(
        "--install-with", type=Path, action="append", default=[], help="also carried by the install call"
    )
    planned.add_argument("--root", type=Path, default=Path("."), help="the checkout [default: .]")
    planned.add_argument("--limit-bytes", type=int, default=LIMIT_BYTES)
    planned.add_argument("--margin-bytes", type=int, default=MARGIN_BYTES)
    planned.add_argument("--json", action="store_true", help="print the calls as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: print the plan, or one line saying why none fits (exit 2)."""
    args = build_parser().parse_args(argv)
    root: Path = args.root
    try:
        checkout = checkout_bytes(root)
        parts = [(_relative(p, root), path_bytes(p)) for p in kit_parts(root / args.kit)]
        extras = []
        for path in args.install_with:
            if not (root / path).exists():
                raise CarryError(f"{path} not found (--install-with)")
            extras.append((_relative(root / path, root), path_bytes(root / path)))
        calls = plan(parts, extras, checkout, args.limit_bytes, args.margin_bytes)
    except (CarryError, subprocess.CalledProcessError, OSError) as exc:
        print(f"device_carry: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([asdict(c) for c in calls], indent=2))
        return 0
    room = room_bytes(checkout, args.limit_bytes, args.margin_bytes)
    print(
        f"checkout {_mb(checkout)} in every call; room for {_mb(room)} more a call "
        f"({_mb(args.limit_bytes)} less {_mb(args.margin_bytes)} headroom); two parts pair up to "
        f"{pairing_size(checkout, args.limit_bytes, args.margin_bytes):,} bytes each"
    )
    for number, call in enumerate(calls, 1):
        print(f"call {number}: {call.command}")
        print(f"  carry {json.dumps(call.carry)}  ({_mb(call.total_bytes)} with the checkout)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
