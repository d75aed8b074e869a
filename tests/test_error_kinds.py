"""Documented errors raised from several places: a fresh exception per raise."""

from __future__ import annotations

import gc
import weakref

import pytest

from server.core.auth import NEED_LOGIN
from server.core.errors import ApiError, error_for
from server.points.access import NO_BRANCH


class _Big:
    """Something a raising frame holds (weak-referenceable, unlike the frame itself)."""


def _raise_holding(kind: type[ApiError], held: list[weakref.ref]) -> None:
    big = _Big()
    held.append(weakref.ref(big))
    raise kind


def _raise_inside(kind: type[ApiError]) -> ApiError:
    try:
        raise kind
    except ApiError as exc:
        return exc


def test_each_raise_is_a_new_exception_with_the_documented_fields():
    first, second = _raise_inside(NO_BRANCH), _raise_inside(NO_BRANCH)
    assert first is not second
    assert isinstance(first, ApiError) and isinstance(first, NO_BRANCH)
    assert first.to_dict() == second.to_dict() == {
        "code": "no_branch", "message": "该书记账号未关联党支部，请联系管理员",
        "message_en": "this secretary account has no branch", "field": None}
    assert first.status == 403


def test_a_handled_raise_keeps_nothing_of_its_raiser_alive():
    held: list[weakref.ref] = []
    try:
        _raise_holding(NEED_LOGIN, held)
    except ApiError:
        pass
    gc.collect()
    assert held[0]() is None  # a shared instance would keep the frame (and `big`) alive


@pytest.mark.parametrize("exc,code,status", [(RecursionError(), "json_too_deep", 400),
                                             (KeyError("x"), "internal_error", 500)])
def test_error_for_hands_out_fresh_errors(exc, code, status):
    one, two = error_for(exc), error_for(exc)
    assert one is not two and (one.code, one.status) == (two.code, two.status) == (code, status)
