"""Build step: turn Baileys' WAProto.proto into `WAProto_pb2.py` (+ `.pyi`) with protoc from grpcio-tools.

Run `python -m connector.engines.web.proto.build [--source PATH] [--out DIR] [--force]` after `npm ci` in
tests/interop. Baileys' schema says proto3 but is not valid proto3 for protoc (its enums do not start at 0),
so it is rewritten as proto2: every singular field gets `optional` (keeps presence, as protobufjs does)
and repeated numeric/enum fields get `[packed=true]` (proto3's default, which protobufjs follows on the
wire). Outputs are build artefacts (git-ignored); the same input always gives the same output, and an
up-to-date output is left alone unless --force.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[4]
DEFAULT_SOURCE = REPO_ROOT / "tests/interop/node_modules/@whiskeysockets/baileys/WAProto/WAProto.proto"
PACKAGE_DIR = Path(__file__).resolve().parent
PROTO_NAME = "WAProto.proto"
MODULE_NAME = "WAProto_pb2"
_PACKAGE = "proto"
_MYPY_IGNORE = "# mypy: ignore-errors\n"

# Bump when convert() changes, so existing outputs are rebuilt.
CONVERTER_VERSION = "1"

_SCALARS_PACKABLE = frozenset(
    "double float int32 int64 uint32 uint64 sint32 sint64 fixed32 fixed64 sfixed32 sfixed64 bool".split()
)
_SCOPE = re.compile(r"^\s*(message|enum|oneof)\s+(\w+)\s*\{")
_FIELD = re.compile(
    r"^(?P<indent>\s*)(?:(?P<label>optional|repeated|required)\s+)?"
    r"(?P<type>map\s*<[^>]*>|[\w.]+)\s+(?P<name>\w+)\s*=\s*(?P<number>\d+)\s*(?P<options>\[[^\]]*\])?\s*;"
    r"(?P<rest>.*)$"
)


class ProtoBuildError(RuntimeError):
    """The schema could not be converted, compiled or imported."""


def convert(text: str) -> str:
    """Rewrite Baileys' loose proto3 schema as proto2 that protoc accepts and that encodes the same bytes."""
    kinds = _declared_kinds(text)
    out: list[str] = []
    scopes: list[tuple[str, str]] = []  # (kind, name), innermost last
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("syntax"):
            out.append('syntax = "proto2";')
            continue
        scope = _SCOPE.match(line)
        if scope is None and scopes and scopes[-1][0] == "message":
            field = _FIELD.match(line)
            if field is not None:
                path = [name for kind, name in scopes if kind != "oneof"]
                line = _convert_field(field, _kind_of(field["type"], path, kinds))
        if scope is not None:
            scopes.append((scope.group(1), scope.group(2)))
        # Closing braces, possibly on the same line as the opening one (`message Empty {}`).
        for _ in range(line.count("}")):
            if not scopes:
                raise ProtoBuildError(f"unbalanced braces in the schema near: {stripped}")
            scopes.pop()
        out.append(line)
    if scopes:
        raise ProtoBuildError(f"unbalanced braces in the schema: {scopes} still open at the end")
    return "\n".join(out) + "\n"


def _convert_field(field: re.Match[str], kind: str) -> str:
    label, type_name, options = field["label"], field["type"], field["options"]
    if type_name.startswith("map"):
        return field.group(0)
    if label is None:
        label = "optional"
    if label == "repeated" and options is None and kind in ("scalar", "enum"):
        options = "[packed=true]"
    option_text = f" {options}" if options else ""
    declaration = f"{label} {type_name} {field['name']} = {field['number']}{option_text};"
    return f"{field['indent']}{declaration}{field['rest']}"


def _declared_kinds(text: str) -> dict[str, str]:
    """Qualified name (without package) -> "message" or "enum", for every type the schema declares."""
    kinds: dict[str, str] = {}
    path: list[str] = []
    for line in text.splitlines():
        scope = _SCOPE.match(line)
        if scope is not None:
            path.append(scope.group(2))
            if scope.group(1) != "oneof":
                kinds[".".join(name for name in path if name)] = scope.group(1)
            else:
                path[-1] = ""  # a oneof is no namespace
        for _ in range(line.count("}")):
            if path:
                path.pop()
    return kinds


def _kind_of(type_name: str, scope: list[str], kinds: dict[str, str]) -> str:
    """Resolve a type reference the way protoc does (innermost scope outwards; first component decides)."""
    if type_name.startswith("map"):
        return "map"
    if type_name in _SCALARS_PACKABLE:
        return "scalar"
    if type_name in ("string", "bytes"):
        return "bytes"
    reference = type_name.lstrip(".").removeprefix(f"{_PACKAGE}.")
    first = reference.split(".", 1)[0]
    for depth in range(len(scope), -1, -1):
        prefix = ".".join(scope[:depth])
        if (f"{prefix}.{first}" if prefix else first) in kinds:
            resolved = f"{prefix}.{reference}" if prefix else reference
            if resolved in kinds:
                return kinds[resolved]
            break
    raise ProtoBuildError(f"cannot resolve type {type_name!r} in {'.'.join(scope) or 'the top level'}")


def build(source: Path = DEFAULT_SOURCE, out_dir: Path = PACKAGE_DIR, *, force: bool = False) -> Path:
    """Convert, compile and import-check; return the path of the generated module.

    Raises ProtoBuildError with the reason (missing source, protoc failure, import failure).
    """
    if not source.is_file():
        raise ProtoBuildError(
            f"{source} not found: run `npm ci` in tests/interop first, or pass --source PATH/TO/WAProto.proto"
        )
    original = source.read_bytes()
    stamp = hashlib.sha256(original + CONVERTER_VERSION.encode()).hexdigest()
    converted = f"// Generated by connector.engines.web.proto.build from {source.name}; stamp {stamp}\n"
    converted += convert(original.decode("utf-8"))

    out_dir.mkdir(parents=True, exist_ok=True)
    proto_path = out_dir / PROTO_NAME
    module_path = out_dir / f"{MODULE_NAME}.py"
    stub_path = out_dir / f"{MODULE_NAME}.pyi"
    up_to_date = (
        proto_path.is_file()
        and proto_path.read_text("utf-8") == converted
        and module_path.is_file()
        and stub_path.is_file()
    )
    if up_to_date and not force:
        return module_path
    proto_path.write_text(converted, "utf-8")
    _run_protoc(out_dir)
    _check_import(module_path)
    return module_path


def _run_protoc(out_dir: Path) -> None:
    if importlib.util.find_spec("grpc_tools") is None:
        raise ProtoBuildError("grpcio-tools is not installed: pip install -e '.[dev]'")
    command = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"--proto_path={out_dir}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        PROTO_NAME,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ProtoBuildError(f"protoc failed ({result.returncode}):\n{result.stderr.strip()}")
    # Generated code is not ours to type-check under strict rules (google.protobuf ships no stubs), but
    # mypy still reads the .pyi for the types it declares.
    for generated in (out_dir / f"{MODULE_NAME}.py", out_dir / f"{MODULE_NAME}.pyi"):
        generated.write_text(_MYPY_IGNORE + generated.read_text("utf-8"), "utf-8")


def _check_import(module_path: Path) -> None:
    # A fresh interpreter: the generated module must load with the installed protobuf runtime (gencode
    # and runtime versions are checked at import), and this process's descriptor pool stays untouched.
    probe = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location({MODULE_NAME!r}, sys.argv[1])\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "assert module.HandshakeMessage.DESCRIPTOR.full_name == 'proto.HandshakeMessage'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(module_path)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ProtoBuildError(f"the generated {module_path.name} does not import:\n{result.stderr.strip()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connector.engines.web.proto.build", description=__doc__)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="Baileys' WAProto.proto")
    parser.add_argument("--out", type=Path, default=PACKAGE_DIR, help="output directory")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)
    try:
        module_path = build(args.source, args.out, force=args.force)
    except ProtoBuildError as exc:
        print(f"proto build failed: {exc}", file=sys.stderr)  # noqa: T201  (a command-line tool)
        return 1
    print(f"proto build: {module_path}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
