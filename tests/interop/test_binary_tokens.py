"""tokens.py is exactly what gen_tokens.py makes from the pinned Baileys: the token tables' provenance."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.engines.web.binary import gen_tokens

pytestmark = pytest.mark.interop


def test_tokens_module_is_generated_from_the_pinned_baileys(interop_dir: Path) -> None:
    fresh = gen_tokens.render(gen_tokens.read_baileys_tables(interop_dir))
    assert gen_tokens.TOKENS_PY.read_text(encoding="utf-8") == fresh, (
        "tokens.py is stale: run `python -m connector.engines.web.binary.gen_tokens`"
    )
