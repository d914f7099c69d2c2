"""Phone numbers: one E.164 form everywhere, and clear errors for numbers that cannot be one."""

from __future__ import annotations

import re

from wagate.domain.errors import InvalidInput

# What a person writes for a number: an optional '+', then ASCII digits and the usual separators. Nothing
# else is read: libphonenumber would turn letters into keypad digits ('+1555abc0001' → +15552220001) and
# drop extensions, and a gateway must never guess a recipient.
_WRITTEN_NUMBER = re.compile(r"\+?[0-9][0-9 .()\-]*")


def normalise_phone(raw: str, *, field: str = "phone") -> str:
    """'+34 600 12 34 56' → '+34600123456'. Raises InvalidInput naming the field and the reason.

    A leading '+' and the country code are required: a gateway serving agencies in many countries
    cannot guess a default region. '00' as an international prefix is accepted and rewritten. Anything
    but digits, a leading '+', spaces, dashes, dots and parentheses is refused, never converted.
    """
    text = raw.strip()
    if not _WRITTEN_NUMBER.fullmatch(text):
        raise InvalidInput(
            f"{field} may contain only digits after an optional '+', and spaces, dashes, dots or "
            "parentheses between them (letters are not read as keypad digits)",
            details={"field": field, "value": raw},
        )
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text.startswith("+"):
        raise InvalidInput(
            f"{field} must be in international format with a country code, e.g. +34600123456",
            details={"field": field, "value": raw},
        )
    # Imported here: ~10 ms at cold start that only requests carrying a phone number need.
    import phonenumbers

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
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    # Belt and braces: libphonenumber may drop a national trunk prefix ('+44 (0)20…' → +4420…), but the
    # number sent to must never hold a digit that was not written, in the order it was written.
    written = iter(re.sub(r"[^0-9]", "", text))
    if not all(digit in written for digit in e164[1:]):
        raise InvalidInput(
            f"{field} could not be read without changing its digits; write it as +<country><number>",
            details={"field": field, "value": raw},
        )
    return e164
