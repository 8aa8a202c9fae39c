"""inspect hides credentials by default: by the key's name or the value's shape."""

from __future__ import annotations

import pytest

from sessdiag.render.redact import REDACTED, is_credential_name, redact_inspect

JWT = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"


@pytest.mark.parametrize("name", ["password", "accessToken", "api_key", "apiKey",
                                  "client_secret", "db.password", "_token", "X-CSRF-Token",
                                  "privateKey", "Authorization", "refresh_token"])
def test_credential_names(name):
    assert is_credential_name(name)


@pytest.mark.parametrize("name", ["username", "SessionData", "ExpireTime", "lastAccessedTime",
                                  "cart", "monkey", "keyboardLayout", "tokenizerLang"])
def test_ordinary_names(name):
    assert not is_credential_name(name)


def _entry(key, typed):
    return {"key": {"type": "string", "value": key}, "value": typed}


def test_values_are_redacted_by_name_shape_and_nesting():
    report = {"schema": "sessdiag.inspect/1", "entries": [
        _entry("username", {"type": "string", "value": "alice"}),
        _entry("accessToken", {"type": "string", "value": "opaque-0123456789"}),
        _entry("note", {"type": "string", "value": JWT}),
        _entry("user", {"type": "main.User", "value": {
            "Name": {"type": "string", "value": "alice"},
            "Password": {"type": "string", "value": "hunter2"}}}),
        _entry("ids", {"type": "[]int", "value": [1, 2]}),
    ]}
    out = redact_inspect(report)
    vals = [e["value"] for e in out["entries"]]
    assert vals[0] == {"type": "string", "value": "alice"}
    assert vals[1] == {"type": "string", "value": REDACTED, "redacted": True, "length": 17}
    assert vals[2]["value"] == REDACTED  # JWT-shaped whatever its name
    assert vals[3]["value"]["Name"]["value"] == "alice"
    assert vals[3]["value"]["Password"]["value"] == REDACTED
    assert vals[4] == {"type": "[]int", "value": [1, 2]}
    assert out["redacted"] == 3 and "--show-secrets" in out["warnings"][-1]
    assert "hunter2" not in repr(out) and JWT not in repr(out)
    assert report["entries"][1]["value"]["value"] == "opaque-0123456789"  # input untouched
