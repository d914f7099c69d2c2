"""Writes tokens.py from the token tables Baileys ships, so the protocol data has a checkable origin.

The single- and double-byte dictionaries and the tag bytes are facts of the WhatsApp protocol; Baileys
publishes them in `lib/WABinary/constants.js`. This script asks `node` to import that module from the
pinned npm package (tests/interop) and renders the lists as Python literals. Run from the repository root:

    .venv/bin/python -m connector.engines.web.binary.gen_tokens          # rewrite tokens.py
    .venv/bin/python -m connector.engines.web.binary.gen_tokens --check  # exit 1 if tokens.py is stale
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

PACKAGE = "@whiskeysockets/baileys"
REPO_ROOT = Path(__file__).resolve().parents[4]
DEFAULT_NODE_PROJECT = REPO_ROOT / "tests" / "interop"
TOKENS_PY = Path(__file__).with_name("tokens.py")

# Run as an ES module with cwd = the npm project, so the bare specifier resolves to the pinned package.
_EXPORT_SCRIPT = f"""
import {{ createRequire }} from 'module';
import * as c from '{PACKAGE}/lib/WABinary/constants.js';
import {{ readFileSync }} from 'fs';
const require = createRequire(process.cwd() + '/');
const pkg = JSON.parse(readFileSync(require.resolve('{PACKAGE}/package.json'), 'utf8'));
process.stdout.write(JSON.stringify({{
  version: pkg.version, tags: c.TAGS, single: c.SINGLE_BYTE_TOKENS, double: c.DOUBLE_BYTE_TOKENS,
}}));
"""

_LINE_WIDTH = 104


def read_baileys_tables(node_project: Path = DEFAULT_NODE_PROJECT) -> dict[str, Any]:
    """The tag bytes and token lists exactly as the installed Baileys exports them.

    Raises:
        RuntimeError: node is missing or the package cannot be imported.
    """
    try:
        done = subprocess.run(
            ["node", "--input-type=module", "-e", _EXPORT_SCRIPT],
            cwd=node_project,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except FileNotFoundError as exc:
        raise RuntimeError("node is not installed") from exc
    if done.returncode != 0:
        raise RuntimeError(f"cannot read {PACKAGE} constants: {done.stderr.strip()}")
    tables: dict[str, Any] = json.loads(done.stdout)
    return tables


def _check(tables: dict[str, Any]) -> None:
    single: list[str] = tables["single"]
    double: list[list[str]] = tables["double"]
    every = single[1:] + [token for table in double for token in table]
    # A token that appears twice would make the encoder's choice depend on lookup order; refuse it.
    if len(every) != len(set(every)):
        raise RuntimeError("duplicate tokens in the Baileys tables")
    if single[0] != "" or "" in every:
        raise RuntimeError("token 0 must be the only empty token (it is LIST_EMPTY on the wire)")
    if len(single) > tables["tags"]["DICTIONARY_0"] or any(len(table) > 256 for table in double):
        raise RuntimeError("token tables overlap the tag bytes")


def _rows(tokens: list[str], indent: str) -> list[str]:
    """Tokens packed greedily into lines, each ending with the index of its first token."""
    lines: list[str] = []
    row: list[str] = []
    first = 0
    for index, token in enumerate(tokens):
        quoted = json.dumps(token)
        candidate = ", ".join([*row, quoted]) + ","
        if row and len(indent) + len(candidate) + len(f"  # {first}") > _LINE_WIDTH:
            lines.append(f"{indent}{', '.join(row)},  # {first}")
            row, first = [], index
        row.append(quoted)
    if row:
        lines.append(f"{indent}{', '.join(row)},  # {first}")
    return lines


def render(tables: dict[str, Any]) -> str:
    """The text of tokens.py for these tables."""
    _check(tables)
    out = [
        '"""WABinary tag bytes and token tables: protocol data generated from Baileys by gen_tokens.py."""',
        "",
        f"# Generated from {PACKAGE} {tables['version']} (lib/WABinary/constants.js) by",
        "# `python -m connector.engines.web.binary.gen_tokens`. Do not edit: regenerate.",
        "",
        "from __future__ import annotations",
        "",
        "from typing import Final",
        "",
        f'BAILEYS_VERSION: Final = "{tables["version"]}"',
        "",
        "# Tag bytes: the first byte of every value on the wire says how the rest is laid out.",
    ]
    out += [f"{name}: Final = {value}" for name, value in tables["tags"].items()]
    out += [
        "",
        "# Strings sent as one byte (index 1..len-1; index 0 is LIST_EMPTY, never a token).",
        "# fmt: off",
        "SINGLE_BYTE_TOKENS: Final[tuple[str, ...]] = (",
        *_rows(tables["single"], "    "),
        ")",
        "",
        "# Strings sent as two bytes: DICTIONARY_0 + table number, then the index in that table.",
        "DOUBLE_BYTE_TOKENS: Final[tuple[tuple[str, ...], ...]] = (",
    ]
    for table in tables["double"]:
        out += ["    (", *_rows(table, "        "), "    ),"]
    out += [")", "# fmt: on", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node-project", type=Path, default=DEFAULT_NODE_PROJECT)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    text = render(read_baileys_tables(args.node_project))
    if args.check:
        if TOKENS_PY.read_text(encoding="utf-8") != text:
            sys.stderr.write(f"{TOKENS_PY} is stale: regenerate it\n")
            return 1
        return 0
    TOKENS_PY.write_text(text, encoding="utf-8")
    sys.stderr.write(f"wrote {TOKENS_PY}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
