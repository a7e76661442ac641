"""A sixth vendor that exists only for tests: its client and its sandbox app in one module.

"Ringo" takes up to ten contacts per call: ``POST /contacts`` with a bearer token,
``{"list": <remote_ref>, "contacts": [{"ref", "phone", "name"}]}``, and answers one result
per contact: ``{"ref", "id"}`` when taken, ``{"ref", "error"}`` when refused (it dials
North American numbers only). Registered by one line, ``registry.register(...)``.
"""
from __future__ import annotations

import itertools

from vendors.integrations.base import ACCEPTED, REJECTED, DemoSetup, Item, ItemResult, VendorClient
from vendors.sandbox.server import SandboxRequest, SandboxResponse, VendorSim

TOKEN = "ringo-demo-token"


class RingoClient(VendorClient):
    kind = "ringo"
    label = "Ringo Dialler"
    max_batch = 10
    required_credentials = ("token",)
    remote_ref_label = "Ringo call list"
    base_url_help = "https://api.ringo.example (no default)"
    SETTINGS = {"caller_name": "The name Ringo reads out before connecting."}
    demo = DemoSetup("solar", credentials={"token": TOKEN}, remote_ref="demo-list")

    def payload(self, operation: str, item: Item) -> dict:
        return {"ref": str(item.id), "phone": item.lead.phone, "name": item.lead.first_name}

    def send_items(self, operation: str, ready: list[tuple[Item, dict]]) -> list[ItemResult]:
        response = self.send("POST", "/contacts", json_body={"list": self.remote_ref, "contacts": [c for _, c in ready]},
                             headers={"Authorization": f"Bearer {self.credentials.get('token', '')}"})
        answers = {a["ref"]: a for a in (self.json_or_none(response) or {}).get("results", [])}
        results = []
        for item, _ in ready:
            answer = answers.get(str(item.id), {"error": f"no answer (HTTP {response.status_code})"})
            if "id" in answer:
                results.append(ItemResult(item.id, ACCEPTED, remote_ref=answer["id"],
                                          http_status=response.status_code))
            else:
                results.append(ItemResult(item.id, REJECTED, code="invalid", message=answer["error"],
                                          http_status=response.status_code))
        return results


class RingoSim(VendorSim):
    """Ringo's sandbox app: keeps the contacts it took."""

    def reset(self) -> None:
        self.contacts: dict[str, dict] = {}
        self.ids = itertools.count(1)

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return SandboxResponse(401, {"error": "bad token"})
        if (request.method, request.path) != ("POST", "/contacts"):
            return SandboxResponse(404, {"error": "no such call"})
        results = []
        for contact in request.json()["contacts"]:
            if not contact["phone"].startswith("+1"):
                results.append({"ref": contact["ref"], "error": "Ringo dials North American numbers only."})
                continue
            ringo_id = f"rg-{next(self.ids)}"
            self.contacts[ringo_id] = contact
            results.append({"ref": contact["ref"], "id": ringo_id})
        return SandboxResponse(200, {"results": results})

    def state(self) -> dict:
        return {"contacts": len(self.contacts)}
