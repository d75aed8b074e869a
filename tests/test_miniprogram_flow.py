"""The complete mini-program flow using only what the OpenAPI document describes.

The document is read from /api/v1/openapi.json; every call goes to an operation
named by its operationId (tests/support/openapi_client.py checks requests,
statuses and answers against the document) or follows a documented link. The
WeChat side is the fake over real HTTP. Only the binding code comes from the
web console, which is where a person gets it.
"""

from __future__ import annotations

from openapi_spec_validator import validate

from bot.wechat_fake.miniprogram import mint_login_code
from tests.support.miniprogram import (
    bearer,
    binding_code,
    console_login,
    make_staff,
    zbar,
)
from tests.support.openapi_client import SpecClient

ROUND = {
    "form": "appraisal",
    "title": "2026年度基层领导班子民主测评",
    "subjects": [{"name": "领导班子", "note": "整体"}, {"name": "李明", "note": "党支部书记"}],
    "categories": [{"name": "班子成员", "expected_count": 2, "weight": 0.4},
                   {"name": "职工代表", "expected_count": 3, "weight": 0.6}],
    "results": {"min_turnout": 0.2},
}


def test_member_flow_through_the_documented_api(app, client, fake):
    _, state = fake
    spec = client.get("/api/v1/openapi.json").json
    validate(spec)
    api = SpecClient(client, spec)

    # Staff: bind once in the console (a person does this in a browser), sign in from
    # the mini-program with wx.login's code.
    make_staff(app, "zuzhibu")
    console = app.test_client()
    console_login(console, "zuzhibu")
    login = api.call("auth_wechat_login", json={
        "code": mint_login_code(state, "o_staff_000000000000000000000"),
        "binding_code": binding_code(console)}, expect=200).json
    staff = bearer(login["access_token"])
    assert api.follow("auth_wechat_login", 200, "Me", login, headers=staff,
                      expect=200).json["credential"] == "session"
    forms = api.call("forms_list_presets", headers=staff, expect=200).json
    assert "appraisal" in {f["key"] for f in forms}

    # Build the round, let ballots carry comments, issue mini-program slips.
    created = api.call("rounds_create", json=ROUND, headers=staff, expect=201)
    rnd = created.json
    rid = rnd["id"]
    api.call("miniprogram_write_options", path={"round_id": rid}, headers=staff, expect=200,
             json={"comment": {"enabled": True, "max_length": 300}})
    cats = api.call("miniprogram_list_categories", path={"round_id": rid}, headers=staff,
                    expect=200).json["items"]
    members = next(c for c in cats if c["name"] == "职工代表")
    issued = api.call("miniprogram_issue_slip_codes", path={"round_id": rid}, headers=staff,
                      json={"category_id": members["id"], "count": 2, "format": "json"},
                      expect=201)
    slips = issued.json["slips"]
    import base64

    assert zbar(base64.b64decode(slips[0]["image"])) == \
        [f"{slips[0]['page']}?scene={slips[0]['slip_id']}"]
    api.follow("rounds_create", 201, "Open", created, headers=staff, expect=200)
    listed = api.call("rounds_list_rounds", query={"status": "open", "per_page": 10},
                      headers=staff, expect=200).json
    assert [r["id"] for r in listed["items"]] == [rid] and listed["total"] == 1

    # Member: the mini-program opens with the slip's scene and resolves it (once).
    token_resp = api.follow("miniprogram_issue_slip_codes", 201, "Resolve", issued, expect=200)
    token = token_resp.json["token"]
    api.call("miniprogram_resolve_slip", json={"scene": slips[0]["slip_id"]}, expect=409)
    form = api.follow("miniprogram_resolve_slip", 200, "ReadBallotForm", token_resp,
                      expect=200).json
    assert form["category"] == "职工代表" and form["comment"]["enabled"]
    crits = [c["key"] for c in form["form"]["criteria"]]
    answers = {str(s["id"]): dict.fromkeys(crits, "excellent") for s in form["subjects"]}
    comment = "希望进一步加强基层调研"
    check = api.call("miniprogram_check_content", expect=200, json={
        "content": comment, "code": mint_login_code(state, "o_member_00000000000000000000")})
    receipt = api.call("voting_submit", expect=201, json={
        "token": token, "answers": answers, "comment": comment,
        "content_pass": check.json["content_pass"]})
    api.call("voting_submit", json={"token": token, "answers": answers}, expect=409)
    checked = api.follow("voting_submit", 201, "CheckReceipt", receipt, expect=200).json
    assert checked["found"] and not checked["counted"]

    # Staff: turnout, close, results, comments, exports, publish.
    turnout = api.call("rounds_read_turnout", path={"round_id": rid}, headers=staff,
                       expect=200).json
    assert turnout["actual"] == 1 and turnout["expected"] == 5
    closed = api.call("rounds_close_round", path={"round_id": rid}, headers=staff, expect=200)
    results = api.follow("rounds_close_round", 200, "Results", closed, headers=staff,
                         expect=200).json
    assert results["ballots"] == 1 and results["live"] is False
    counted = api.follow("voting_submit", 201, "CheckReceipt", receipt, expect=200).json
    assert counted["counted"] is True
    notes = api.call("miniprogram_list_comments", path={"round_id": rid}, headers=staff,
                     query={"page": 1, "per_page": 20}, expect=200).json
    assert notes["items"] == [{"text": comment}]
    exports = api.call("miniprogram_list_exports", path={"round_id": rid}, headers=staff,
                       expect=200).json
    assert exports["available"]
    xlsx = next(e for e in exports["items"] if e["format"] == "xlsx")
    assert xlsx["url"].endswith(f"/api/v1/rounds/{rid}/export.xlsx")
    got = api.call("results_export_xlsx", path={"round_id": rid}, headers=staff, expect=200)
    assert got.mimetype == xlsx["content_type"]
    published = api.call("rounds_publish_round", path={"round_id": rid}, headers=staff,
                         expect=200)
    listed = api.follow("rounds_publish_round", 200, "Receipts", published, expect=200).json
    assert receipt.json["receipt"] in listed["receipts"]

    # Errors come in the documented shape too.
    api.call("miniprogram_resolve_slip", json={"scene": slips[1]["slip_id"]}, expect=409)
    api.call("rounds_read", path={"round_id": rid}, expect=401)
    api.call("auth_logout", headers=staff, expect=204)
    api.call("auth_me", headers=staff, expect=401)
    assert len(api.called) >= 25


def test_every_operation_in_the_flow_exists(app, client):
    """The operations the mini-program front-end relies on are all documented."""
    spec = client.get("/api/v1/openapi.json").json
    api = SpecClient(client, spec)
    needed = {
        "auth_wechat_login", "auth_refresh_session", "auth_logout", "auth_me", "auth_unbind",
        "forms_list_presets", "rounds_list_rounds", "rounds_create", "rounds_read",
        "rounds_open_round", "rounds_close_round", "rounds_publish_round", "rounds_issue",
        "rounds_read_turnout", "rounds_read_results", "results_projector",
        "results_export_xlsx", "results_export_pdf", "results_export_csv", "results_receipts",
        "miniprogram_list_categories", "miniprogram_list_exports", "miniprogram_read_options",
        "miniprogram_write_options", "miniprogram_list_comments",
        "miniprogram_issue_slip_codes", "miniprogram_resolve_slip",
        "miniprogram_list_session_codes", "miniprogram_session_code_image",
        "miniprogram_rotate_session_codes", "miniprogram_add_to_pool",
        "miniprogram_claim_token", "miniprogram_session_key", "miniprogram_check_content",
        "voting_read_ballot_form", "voting_submit", "voting_check_receipt",
        "points_read_board", "points_read_member", "points_list_entries", "points_list_periods",
    }
    assert needed <= set(api.ops), sorted(needed - set(api.ops))
