"""The pure parts of communities, by table: rank rules, cursors, text limits and filters, topics."""

from __future__ import annotations

import itertools

import pytest
from pydantic import ValidationError

from live.communities.access import Role
from live.communities.rules import check_role_change
from live.communities.schemas import CommunityCreate
from live.communities.text import blocked_word, check_text
from live.errors import ApiError, ErrorCode
from live.http import cursors

O, A, M, U = Role.OWNER, Role.ADMIN, Role.MODERATOR, Role.MEMBER  # noqa: E741 - one letter a role: the table reads
# (actor, target) -> the roles the actor may give that target.
ALLOWED = {
    (O, A): {A, M, U}, (O, M): {A, M, U}, (O, U): {A, M, U},
    (A, M): {M, U}, (A, U): {M, U},
}


@pytest.mark.parametrize(("actor", "target", "wanted"), list(itertools.product(Role, Role, Role)))
def test_role_change_rank_rules(actor: Role, target: Role, wanted: Role) -> None:
    allowed = wanted in ALLOWED.get((actor, target), set())
    if allowed:
        check_role_change(actor, target, wanted)
    else:
        with pytest.raises(ApiError) as err:
            check_role_change(actor, target, wanted)
        assert err.value.code is ErrorCode.FORBIDDEN


def test_rank_order() -> None:
    assert O.outranks(A) and A.outranks(M) and M.outranks(U)
    assert not A.outranks(A) and A.at_least(A) and not U.at_least(M)


@pytest.mark.parametrize("key", [(3, "01abc"), ("2026-01-01T00:00:00+00:00", "u1"), ("x",), ("مرحبا",)])
def test_cursor_round_trip(key: tuple) -> None:
    types = tuple(type(k) for k in key)
    assert cursors.decode(cursors.encode(*key), *types) == list(key)


@pytest.mark.parametrize("bad", ["!!", "e30", "WzFd", "WyJhIiwiYiJd", "W3RydWVd", "WyJhXHUwMDAwIl0", "bnVsbA"])
def test_bad_cursors_are_422(bad: str) -> None:
    with pytest.raises(ApiError) as err:
        cursors.decode(bad, str)
    assert err.value.code is ErrorCode.INVALID_REQUEST and "cursor" in (err.value.fields or {})


def test_no_cursor() -> None:
    assert cursors.decode(None, str) is None and cursors.decode("", str) is None


@pytest.mark.parametrize(
    ("text", "words", "hit"),
    [
        ("buy spam now", ["spam"], "spam"),
        ("SPAM!", ["spam"], "spam"),
        ("spammer", ["spam"], None),
        ("a classy move", ["ass"], None),
        ("هذه كلمة سيئة", ["كلمة"], "كلمة"),
        ("STRASSE", ["straße"], "straße"),  # casefold: ß is ss
        ("nothing here", [], None),
        ("multi word phrase here", ["word phrase"], "word phrase"),
        ("emoji 💩 here", ["💩"], "💩"),
    ],
)
def test_blocked_words(text: str, words: list[str], hit: str | None) -> None:
    assert blocked_word(text, words) == hit


@pytest.mark.parametrize(
    ("text", "limit", "code"),
    [("ok", 5, None), ("12345", 5, None), ("123456", 5, "message_too_long"), ("👩‍👩‍👧", 5, None),
     ("", 5, "invalid_request"), (" \t\n", 5, "invalid_request")],
)
def test_text_limits(text: str, limit: int, code: str | None) -> None:
    if code is None:
        check_text(text, limit)
    else:
        with pytest.raises(ApiError) as err:
            check_text(text, limit)
        assert err.value.code.value == code


@pytest.mark.parametrize(
    ("topics", "stored"),
    [(["#Jazz", "jazz", "JAZZ"], ["jazz"]), (["#a", "b"], ["a", "b"]), (["Ünïcode"], ["ünïcode"]), ([], [])],
)
def test_topics_are_folded_and_deduplicated(topics: list[str], stored: list[str]) -> None:
    assert CommunityCreate(name="n", join_policy="open", topics=topics).topics == stored


@pytest.mark.parametrize("topic", ["", "#", "two words", "a#b", "x" * 51, "tab\there"])
def test_bad_topics(topic: str) -> None:
    with pytest.raises(ValidationError):
        CommunityCreate(name="n", join_policy="open", topics=[topic])
