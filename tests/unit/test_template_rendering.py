"""Template syntax and rendering: whatever the body and values, only InvalidInput; escapes round-trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wagate.domain.errors import InvalidInput
from wagate.domain.templates import Template, Variable, check, escape, parse, placeholders

names = st.from_regex(r"[a-zA-Z_ñá][a-zA-Z0-9_ñá]{0,10}", fullmatch=True)
# Text rich in braces, so the parser's edges get exercised, not just plain prose.
texts = st.text(alphabet=st.sampled_from("{}ab _1ñ\n€"), max_size=40) | st.text(max_size=40)
values = st.dictionaries(names, st.text(max_size=20), max_size=4)


@given(body=texts, given_values=values)
def test_rendering_raises_nothing_but_invalid_input(body: str, given_values: dict[str, str]) -> None:
    try:
        check(body, [])
        Template(name="t", language="es", body=body).render(given_values)
    except InvalidInput as exc:
        assert exc.message  # and every one says what is wrong


@given(text=texts.filter(lambda t: t.strip()))
def test_escaped_text_renders_back_to_itself(text: str) -> None:
    assert placeholders(parse(escape(text))) == []
    assert Template(name="t", language="es", body=escape(text)).render({}) == text


@given(
    pieces=st.lists(st.tuples(texts, names), min_size=1, max_size=5),
    value=st.text(alphabet=st.sampled_from("{}x "), min_size=1, max_size=10).filter(str.strip),
)
def test_placeholders_take_values_verbatim(pieces: list[tuple[str, str]], value: str) -> None:
    """Values are inserted as given: braces in a value are never read as placeholders."""
    body = "".join(escape(literal) + "{" + name + "}" for literal, name in pieces)
    used = list(dict.fromkeys(name for _, name in pieces))
    assert placeholders(parse(body)) == used
    rendered = Template(name="t", language="es", body=body).render(dict.fromkeys(used, value))
    assert rendered == "".join(literal + value for literal, _ in pieces)


@given(body=texts)
def test_a_body_either_parses_or_names_the_character(body: str) -> None:
    try:
        parse(body)
    except InvalidInput as exc:
        assert 1 <= exc.details["character"] <= len(body)
        assert body[exc.details["character"] - 1] in "{}"


@pytest.mark.parametrize(
    ("body", "variables", "rendered"),
    [
        ("{{", {}, "{"),
        ("}}", {}, "}"),
        ("{{{a}}}", {"a": "A"}, "{A}"),
        ("a{{b}}c", {}, "a{b}c"),
        ("{a}{a}", {"a": "A"}, "AA"),
        ("{dirección}", {"dirección": "D"}, "D"),
    ],
)
def test_escapes(body: str, variables: dict[str, str], rendered: str) -> None:
    assert Template(name="t", language="es", body=body).render(variables) == rendered


def test_missing_unknown_and_defaults_are_all_named() -> None:
    template = Template(
        name="t", language="es", body="{a} {b} {c}", variables=[Variable(name="c", default="C")]
    )
    with pytest.raises(InvalidInput) as caught:
        template.render({"x": "1", "y": "2"})
    assert caught.value.details["missing"] == ["a", "b"]
    assert caught.value.details["unknown"] == ["x", "y"]
    assert "missing variables: a, b; unknown variables: x, y" in caught.value.message
    assert template.render({"a": "A", "b": "B"}) == "A B C"


def test_empty_and_too_long_texts_are_refused() -> None:
    template = Template(name="t", language="es", body="{a}")
    with pytest.raises(InvalidInput, match="empty"):
        template.render({"a": "  "})
    with pytest.raises(InvalidInput, match="4097 characters"):
        template.render({"a": "x" * 4097})
