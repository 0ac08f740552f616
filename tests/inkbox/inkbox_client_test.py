#!/usr/bin/env python3
"""An Inkbox-shaped client against a real callgate.

The classes below parse replies the way Inkbox's published SDKs do (the
Python SDK's dataclasses in the public inkbox-ai/inkbox repository: required
keys read with d["key"], optional ones with d.get, timestamps with
datetime.fromisoformat, ids with UUID, enums checked against their values).
They are written for this test from those published wire shapes; nothing of
the SDK is vendored. The client sends what the SDK sends (X-API-Key, JSON
bodies, the /api/v1 and /api/v1/phone bases) and walks identities,
signing-key status, the incoming-call action, contact rules and calls.

    inkbox_client_test.py CALLGATE_BINARY
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

ADMIN_KEY = "cg_inkbox_client_admin_key_0123456789"


# --- Inkbox's wire shapes, parsed as its SDK parses them ---------------------

class InkboxAPIError(Exception):
    def __init__(self, status_code: int, detail: Any):
        super().__init__(f"{status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


class DuplicateContactRuleError(InkboxAPIError):
    @property
    def existing_rule_id(self) -> uuid.UUID:
        return uuid.UUID(self.detail["existing_rule_id"])


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _req_dt(value: str) -> datetime:
    parsed = _dt(value)
    assert parsed is not None, "a required timestamp is null"
    return parsed


@dataclass
class IdentityPhoneNumber:
    id: uuid.UUID
    number: str
    type: str
    status: str
    incoming_call_action: str | None
    client_websocket_url: str | None
    incoming_call_webhook_url: str | None
    filter_mode: str
    agent_identity_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "IdentityPhoneNumber":
        assert d.get("filter_mode", "blacklist") in ("blacklist", "whitelist")
        agent = d.get("agent_identity_id")
        return cls(
            id=uuid.UUID(d["id"]),
            number=d["number"],
            type=d["type"],
            status=d["status"],
            incoming_call_action=d["incoming_call_action"],
            client_websocket_url=d.get("client_websocket_url"),
            incoming_call_webhook_url=d.get("incoming_call_webhook_url"),
            filter_mode=d.get("filter_mode", "blacklist"),
            agent_identity_id=uuid.UUID(agent) if agent else None,
            created_at=_req_dt(d["created_at"]),
            updated_at=_req_dt(d["updated_at"]),
        )


@dataclass
class AgentIdentity:
    id: uuid.UUID
    organization_id: str
    agent_handle: str
    status: str
    email_address: str | None
    display_name: str | None
    description: str | None
    phone_filter_mode: str
    signing_key_configured: bool
    phone_number: IdentityPhoneNumber | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AgentIdentity":
        phone = d.get("phone_number")
        assert phone is None or isinstance(phone, dict), "phone_number must be an object or null"
        return cls(
            id=uuid.UUID(d["id"]),
            organization_id=d["organization_id"],
            agent_handle=d["agent_handle"],
            status=d["status"],
            email_address=d.get("email_address"),
            display_name=d.get("display_name"),
            description=d.get("description"),
            phone_filter_mode=d.get("phone_filter_mode", "blacklist"),
            signing_key_configured=bool(d.get("signing_key_configured", False)),
            phone_number=IdentityPhoneNumber.from_dict(phone) if phone else None,
            created_at=_req_dt(d["created_at"]),
            updated_at=_req_dt(d["updated_at"]),
        )


@dataclass
class SigningKeyStatus:
    configured: bool
    created_at: datetime | None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SigningKeyStatus":
        return cls(configured=bool(d["configured"]), created_at=_dt(d.get("created_at")))


@dataclass
class IncomingCallAction:
    agent_identity_id: uuid.UUID
    incoming_call_action: str
    client_websocket_url: str | None
    incoming_call_webhook_url: str | None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "IncomingCallAction":
        assert d["incoming_call_action"] in ("auto_accept", "auto_reject", "webhook")
        return cls(
            agent_identity_id=uuid.UUID(d["agent_identity_id"]),
            incoming_call_action=d["incoming_call_action"],
            client_websocket_url=d.get("client_websocket_url"),
            incoming_call_webhook_url=d.get("incoming_call_webhook_url"),
        )


@dataclass
class PhoneIdentityContactRule:
    id: uuid.UUID
    agent_identity_id: uuid.UUID
    action: str
    match_type: str
    match_target: str
    status: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PhoneIdentityContactRule":
        assert d["action"] in ("allow", "block")
        # The SDK's PhoneRuleMatchType knows exact_number only.
        assert d["match_type"] == "exact_number", d["match_type"]
        assert d.get("status", "active") == "active"
        return cls(
            id=uuid.UUID(d["id"]),
            agent_identity_id=uuid.UUID(d["agent_identity_id"]),
            action=d["action"],
            match_type=d["match_type"],
            match_target=d["match_target"],
            status=d.get("status", "active"),
            created_at=_req_dt(d["created_at"]),
            updated_at=_req_dt(d["updated_at"]),
        )


@dataclass
class PhoneCall:
    id: uuid.UUID
    local_phone_number: str | None
    remote_phone_number: str
    direction: str
    status: str
    client_websocket_url: str | None
    use_inkbox_tts: bool | None
    use_inkbox_stt: bool | None
    hangup_reason: str | None
    started_at: datetime | None
    ended_at: datetime | None
    created_at: datetime
    updated_at: datetime
    is_blocked: bool
    origin: str
    mode: str
    reason: str | None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PhoneCall":
        assert d.get("origin") in (None, "dedicated_number", "shared_imessage_number", "dedicated_imessage_number")
        return cls(
            id=uuid.UUID(d["id"]),
            local_phone_number=d.get("local_phone_number"),
            remote_phone_number=d["remote_phone_number"],
            direction=d["direction"],
            status=d["status"],
            client_websocket_url=d.get("client_websocket_url"),
            use_inkbox_tts=d.get("use_inkbox_tts"),
            use_inkbox_stt=d.get("use_inkbox_stt"),
            hangup_reason=d.get("hangup_reason"),
            started_at=_dt(d.get("started_at")),
            ended_at=_dt(d.get("ended_at")),
            created_at=_req_dt(d["created_at"]),
            updated_at=_req_dt(d["updated_at"]),
            is_blocked=bool(d.get("is_blocked", False)),
            origin=d.get("origin") or "dedicated_number",
            mode=d.get("mode") or "client_websocket",
            reason=d.get("reason"),
        )


class Transport:
    """What the SDK's HttpTransport does: X-API-Key, JSON, errors from `detail`."""

    def __init__(self, api_key: str, base_url: str):
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")

    def request(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        url = self.base_url + path
        cleaned = {k: v for k, v in (params or {}).items() if v is not None}
        if cleaned:
            url += "?" + urllib.parse.urlencode(cleaned)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("X-API-Key", self.api_key)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                raw = resp.read()
                return None if resp.status == 204 or not raw else json.loads(raw)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                detail = json.loads(raw).get("detail", raw.decode())
            except Exception:
                detail = raw.decode(errors="replace")
            if e.code == 409 and isinstance(detail, dict) and "existing_rule_id" in detail:
                raise DuplicateContactRuleError(e.code, detail) from None
            raise InkboxAPIError(e.code, detail) from None


class Inkbox:
    """The resources this test drives, addressed as Inkbox's SDK addresses them."""

    def __init__(self, api_key: str, base_url: str):
        self.api = Transport(api_key, base_url + "/api/v1")
        self.phone = Transport(api_key, base_url + "/api/v1/phone")

    # identities (api-root transport)
    def list_identities(self) -> list[AgentIdentity]:
        data = self.api.request("GET", "/identities")
        assert isinstance(data, list), "Inkbox lists identities as a bare array"
        return [AgentIdentity.from_dict(d) for d in data]

    def get_identity(self, handle: str) -> AgentIdentity:
        return AgentIdentity.from_dict(self.api.request("GET", f"/identities/{handle}"))

    def create_identity(self, **body: Any) -> AgentIdentity:
        return AgentIdentity.from_dict(self.api.request("POST", "/identities", body))

    def update_identity(self, handle: str, **body: Any) -> AgentIdentity:
        return AgentIdentity.from_dict(self.api.request("PATCH", f"/identities/{handle}", body))

    def signing_key_status(self, handle: str) -> SigningKeyStatus:
        return SigningKeyStatus.from_dict(self.api.request("GET", f"/identities/{handle}/signing-key"))

    def rotate_signing_key(self, handle: str) -> str:
        return self.api.request("POST", f"/identities/{handle}/signing-key", {})["signing_key"]

    # incoming-call action (phone transport)
    def set_incoming_call_action(self, **body: Any) -> IncomingCallAction:
        return IncomingCallAction.from_dict(self.phone.request("PUT", "/incoming-call-action", body))

    # contact rules (api-root transport, full paths)
    def create_rule(self, handle: str, **body: Any) -> PhoneIdentityContactRule:
        return PhoneIdentityContactRule.from_dict(
            self.api.request("POST", f"/identities/{handle}/phone-contact-rules", body))

    def list_rules(self, handle: str, **params: Any) -> list[PhoneIdentityContactRule]:
        data = self.api.request("GET", f"/identities/{handle}/phone-contact-rules", params=params)
        items = data["items"] if isinstance(data, dict) and "items" in data else data
        return [PhoneIdentityContactRule.from_dict(r) for r in items]

    def get_rule(self, handle: str, rule_id: uuid.UUID) -> PhoneIdentityContactRule:
        return PhoneIdentityContactRule.from_dict(
            self.api.request("GET", f"/identities/{handle}/phone-contact-rules/{rule_id}"))

    def update_rule(self, handle: str, rule_id: uuid.UUID, action: str) -> PhoneIdentityContactRule:
        return PhoneIdentityContactRule.from_dict(
            self.api.request("PATCH", f"/identities/{handle}/phone-contact-rules/{rule_id}", {"action": action}))

    def delete_rule(self, handle: str, rule_id: uuid.UUID) -> None:
        self.api.request("DELETE", f"/identities/{handle}/phone-contact-rules/{rule_id}")

    def list_all_rules(self, **params: Any) -> list[PhoneIdentityContactRule]:
        data = self.api.request("GET", "/phone/contact-rules", params=params)
        items = data["items"] if isinstance(data, dict) and "items" in data else data
        return [PhoneIdentityContactRule.from_dict(r) for r in items]

    # calls (phone transport)
    def list_calls(self, **params: Any) -> list[PhoneCall]:
        data = self.phone.request("GET", "/calls", params=params)
        assert isinstance(data, list), "Inkbox lists calls as a bare array"
        return [PhoneCall.from_dict(d) for d in data]

    def get_call(self, call_id: uuid.UUID) -> PhoneCall:
        return PhoneCall.from_dict(self.phone.request("GET", f"/calls/{call_id}"))


# --- the walk ----------------------------------------------------------------

def expect_error(fn, status: int, detail: Any = None) -> InkboxAPIError:
    try:
        fn()
    except InkboxAPIError as e:
        assert e.status_code == status, f"expected {status}, got {e.status_code}: {e.detail}"
        if detail is not None:
            assert e.detail == detail, f"expected detail {detail!r}, got {e.detail!r}"
        return e
    raise AssertionError(f"expected HTTP {status}")


def start_callgate(binary: str, work: str) -> tuple[subprocess.Popen, str, str, str]:
    data = os.path.join(work, "data")
    env = dict(os.environ, CALLGATE_ADMIN_KEY=ADMIN_KEY)
    log = open(os.path.join(work, "log"), "w")
    proc = subprocess.Popen([binary, "serve", "--data-dir", data, "--api-listen", "127.0.0.1:0",
                             "--edge-listen", "127.0.0.1:0", "--shutdown-delay", "0"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    listen = os.path.join(data, "listen.json")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("callgate exited: " + open(os.path.join(work, "log")).read())
        if os.path.exists(listen) and os.path.getsize(listen) > 0:
            try:
                addresses = json.load(open(listen))
                token = open(os.path.join(data, "edge.token")).read().split()[0]
                return proc, "http://" + addresses["api"], "http://" + addresses["edge"], token
            except (ValueError, KeyError, IndexError):
                pass
        time.sleep(0.01)  # polling for the file, bounded by the deadline
    raise RuntimeError("callgate did not write listen.json in 30 s")


def decide(edge: str, token: str, local: str, remote: str) -> dict[str, Any]:
    req = urllib.request.Request(edge + "/v1/calls/decide", method="POST",
                                 data=json.dumps({"local_phone_number": local, "remote_phone_number": remote}).encode())
    req.add_header("X-Edge-Token", token)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def walk(api: str, edge: str, token: str) -> None:
    admin = Inkbox(ADMIN_KEY, api)

    # Identities: created with callgate's body, read back in Inkbox's shape.
    bot = admin.create_identity(agent_handle="sales-bot", display_name="Sales", phone_number="+15550100")
    assert bot.agent_handle == "sales-bot" and bot.status == "active"
    assert bot.phone_number is not None and bot.phone_number.number == "+15550100"
    assert bot.phone_number.agent_identity_id == bot.id
    assert bot.phone_number.incoming_call_action is None
    assert not bot.signing_key_configured
    uuid.UUID(bot.organization_id)
    expect_error(lambda: admin.create_identity(agent_handle="x", phone_number={"type": "local"}), 422,
                 "phone_number must be an E.164 number string; callgate does not provision numbers")
    plain = admin.create_identity(agent_handle="no-number")
    assert plain.phone_number is None and plain.organization_id == bot.organization_id
    listed = admin.list_identities()
    assert [i.agent_handle for i in listed] == ["no-number", "sales-bot"], listed

    # The action shows in the phone-number object.
    admin.set_incoming_call_action(agent_identity_id=str(bot.id), incoming_call_action="auto_accept",
                                   client_websocket_url="wss://agent.example.com/ws")
    bot = admin.get_identity("sales-bot")
    assert bot.phone_number.incoming_call_action == "auto_accept"
    assert bot.phone_number.client_websocket_url == "wss://agent.example.com/ws"
    number_id = bot.phone_number.id

    # PATCH: rename, description, filter mode; the number keeps its id.
    renamed = admin.update_identity("sales-bot", agent_handle="sales", description="Answers sales calls")
    assert renamed.id == bot.id and renamed.agent_handle == "sales" and renamed.description == "Answers sales calls"
    assert renamed.phone_number.id == number_id
    expect_error(lambda: admin.get_identity("sales-bot"), 404, "Agent identity not found")
    expect_error(lambda: admin.update_identity("sales", agent_handle="no-number"), 409, "agent_handle already exists")
    expect_error(lambda: admin.update_identity("no-number", phone_filter_mode="whitelist"), 422,
                 "phone_filter_mode requires a phone number")

    # Signing-key status: not configured, then configured (the key itself never shown again).
    status = admin.signing_key_status("sales")
    assert not status.configured and status.created_at is None
    assert admin.rotate_signing_key("sales").startswith("whsec_")
    status = admin.signing_key_status("sales")
    assert status.configured and status.created_at is not None
    assert admin.get_identity("sales").signing_key_configured

    # Contact rules: create, duplicate, list (exact_number only under /api/v1), get, update, delete.
    blocked = admin.create_rule("sales", action="block", match_target="+15550199")
    assert blocked.agent_identity_id == bot.id and blocked.match_type == "exact_number"
    dup = expect_error(lambda: admin.create_rule("sales", action="allow", match_target="+15550199"), 409)
    assert isinstance(dup, DuplicateContactRuleError) and dup.existing_rule_id == blocked.id
    expect_error(lambda: admin.create_rule("no-number", action="block", match_target="+15550199"), 422,
                 "Identity has no phone number")
    # A prefix rule, made on the native path, is not shown to Inkbox's SDKs.
    native = Transport(ADMIN_KEY, api)
    native.request("POST", "/identities/sales/phone-contact-rules",
                   {"action": "block", "match_type": "prefix", "match_target": "+1900"})
    assert [r.id for r in admin.list_rules("sales")] == [blocked.id]
    assert [r.id for r in admin.list_all_rules(agent_identity_id=str(bot.id))] == [blocked.id]
    assert admin.get_rule("sales", blocked.id).match_target == "+15550199"
    allowed = admin.create_rule("sales", action="allow", match_target="+15550123")
    assert admin.update_rule("sales", allowed.id, "block").action == "block"
    admin.delete_rule("sales", allowed.id)
    expect_error(lambda: admin.get_rule("sales", allowed.id), 404, "Contact rule not found")

    # Scoped keys: contact-rule updates are admin-only.
    scoped_key = native.request("POST", "/api-keys", {"label": "agent", "scoped_identity_id": str(bot.id)})["api_key"]
    agent = Inkbox(scoped_key, api)
    expect_error(lambda: agent.update_rule("sales", blocked.id, "allow"), 403, "Admin API key required")
    assert agent.get_identity("sales").id == bot.id

    # Calls: one answered, one blocked by the rule (the very next decision sees it).
    answered = decide(edge, token, "+15550100", "+15550111")
    assert answered["action"] == "answer", answered
    rejected = decide(edge, token, "+15550100", "+15550199")
    assert rejected["action"] == "reject" and rejected["reason"] == "contact_blocked", rejected

    calls = admin.list_calls()
    assert {str(c.id) for c in calls} == {answered["call_id"], rejected["call_id"]}
    assert calls[0].created_at >= calls[1].created_at, "newest first"
    by_id = {str(c.id): c for c in calls}
    assert by_id[rejected["call_id"]].is_blocked and not by_id[answered["call_id"]].is_blocked
    for c in calls:
        assert c.direction == "inbound" and c.origin == "dedicated_number" and c.mode == "client_websocket"
        assert c.reason is None and c.use_inkbox_tts is None and c.local_phone_number == "+15550100"
    assert [str(c.id) for c in admin.list_calls(is_blocked="true")] == [rejected["call_id"]]
    assert admin.get_call(uuid.UUID(rejected["call_id"])).is_blocked
    # A scoped key never sees a blocked call.
    assert [str(c.id) for c in agent.list_calls()] == [answered["call_id"]]
    expect_error(lambda: agent.get_call(uuid.UUID(rejected["call_id"])), 404, "Call not found")


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    work = tempfile.mkdtemp(prefix="inkbox-client-")
    proc = None
    try:
        proc, api, edge, token = start_callgate(sys.argv[1], work)
        walk(api, edge, token)
        print("inkbox client walk: passed")
        return 0
    except (AssertionError, InkboxAPIError, RuntimeError) as e:
        log_path = os.path.join(work, "log")
        if os.path.exists(log_path):
            sys.stderr.write(open(log_path).read()[-4000:])
        raise
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
