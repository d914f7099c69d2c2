"""Phone numbers: one E.164 form everywhere, and clear errors for numbers that cannot be one."""

from __future__ import annotations

from wagate.domain.errors import InvalidInput


def normalise_phone(raw: str, *, field: str = "phone") -> str:
    """'+34 600 12 34 56' → '+34600123456'. Raises InvalidInput naming the field and the reason.

    A leading '+' and the country code are required: a gateway serving agencies in many countries
    cannot guess a default region. '00' as an international prefix is accepted and rewritten.
    """
    # Imported here: ~10 ms at cold start that only requests carrying a phone number need.
    import phonenumbers

    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text.startswith("+"):
        raise InvalidInput(
            f"{field} must be in international format with a country code, e.g. +34600123456",
            details={"field": field, "value": raw},
        )
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(
            f"{field} is not a phone number: {exc}", details={"field": field, "value": raw}
        ) from exc
    # "Possible" (right country code and length), not "valid": numbering plans change faster than any
    # library's metadata, and WhatsApp itself is the judge of whether a number exists.
    if not phonenumbers.is_possible_number(number):
        raise InvalidInput(
            f"{field} has the wrong length for its country code", details={"field": field, "value": raw}
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
