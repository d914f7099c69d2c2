"""Phone numbers are read as written: digits and separators only, never letters turned into digits."""

from __future__ import annotations

import pytest

from wagate.domain.errors import InvalidInput
from wagate.domain.phones import normalise_phone


@pytest.mark.parametrize(
    ("written", "e164"),
    [
        ("+34 600 12 34 56", "+34600123456"),
        ("+1 (555) 222-0001", "+15552220001"),
        ("+1.555.222.0001", "+15552220001"),
        ("0044 20 7946 0958", "+442079460958"),
        ("+44 (0)20 7946 0958", "+442079460958"),  # the trunk 0 dropped, no digit added or moved
        ("  +34600123456 ", "+34600123456"),
    ],
)
def test_written_numbers_become_e164(written: str, e164: str) -> None:
    assert normalise_phone(written) == e164


@pytest.mark.parametrize(
    "written",
    [
        "+1555abc0001",  # libphonenumber would dial +15552220001
        "+1-800-FLOWERS",
        "+1555２２２0001",  # full-width digits
        "+٣٤٦٠٠١٢٣٤٥٦",  # Arabic-Indic digits
        "+34 600 123 456 ext. 7",
        "+34 600\x00123456",
        "+34 600\x1b123456",
        "+34/600/123/456",
        "tel:+34600123456",
        "++34600123456",
        "+",
        "",
    ],
)
def test_anything_else_is_refused_naming_the_field(written: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        normalise_phone(written, field="to")
    assert refused.value.details == {"field": "to", "value": written}
    assert refused.value.message.startswith("to ")
