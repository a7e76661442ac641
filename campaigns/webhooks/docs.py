"""The "Webhooks" section of the API docs (appended to the OpenAPI description by
``campaigns.api.schema.document_webhooks``). ``VERIFY_SNIPPET`` is run by the tests as printed."""

VERIFY_SNIPPET = '''\
import hashlib
import hmac
import time

TOLERANCE_SECONDS = 300  # refuse signatures older (or newer) than 5 minutes: replays


def verify(secret: str, raw_body: bytes, signature_header: str) -> bool:
    """raw_body: the request body exactly as received, before any JSON parsing."""
    try:
        parts = dict(item.split("=", 1) for item in signature_header.split(","))
        timestamp, received = int(parts["t"]), parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > TOLERANCE_SECONDS:
        return False
    signed = f"{timestamp}.".encode() + raw_body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received)
'''

WEBHOOKS = f'''

## Webhooks

Instead of polling, a partner may have LeadHub POST an event to a URL of its own (https; ask LeadHub's
staff to set it on your partner account: they give you the signing secret once, and can rotate it).
Each event is a JSON object sent with `Content-Type: application/json` and these headers:

- `LeadHub-Event-Id`: the event's `id` (a UUID). **De-duplicate on it**: an event is sent at least
  once, and the same event keeps its id on every retry and when staff replay it.
- `LeadHub-Event-Type`: the event's `type`.
- `LeadHub-Signature`: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" under your secret>`.

Answer any 2xx within 10 seconds to acknowledge it. Anything else (or no answer) is retried with
exponential backoff and jitter (from 5 s, doubling up to an hour, at least your `Retry-After`
seconds), up to 8 attempts; then the event is given up (staff see it and can replay it). Answering
**410 Gone** stops your webhook: no more events until staff save your URL again.

**Order**: a lead's events are sent one at a time, in the order they happened: the next is sent only
once the previous one was acknowledged (or given up). Events of different leads are not ordered.

Every event:

```json
{{
  "id": "5b0c6f5e-8f1a-4bb7-9d53-2d1b1f0f7a3e",
  "type": "lead.accepted",
  "created_at": "2026-12-02T06:00:00.123456Z",
  "lead": {{"id": 123, "external_id": "crm-42", "campaign": "solar-us", "status": "new"}},
  "data": {{}}
}}
```

`lead` is the lead as LeadHub knows it when the event happened (`external_id` is yours, `""` if you
sent none); events carry nothing else about the person. Types and their `data`:

- `lead.accepted`: a vendor destination took the lead. `data`: `vendor` (its name), `destination_id`,
  `code`, `message` (the vendor's words, often `""`).
- `lead.refused`: a vendor destination refused it for good. `data`: as above, `code` and `message`
  saying why.
- `lead.withdrawn`: the lead was cancelled, its number put on a DNC list, or its personal data erased.
  `data`: `how`: `cancelled`, `dnc` or `erased` (also the lead's `status`). An erased lead's events, this
  one and those before it, no longer carry its `external_id` or vendor messages.
- `lead.outcome`: what a vendor's dialler did with the lead, each time it changes (from the vendors that
  report it, each lead read every 15 minutes by default). `data`: `vendor`, `destination_id`, `completed`
  (true: the vendor will not call the lead again; the lead's status becomes `completed`; null: not
  said), and the vendor's `outcome` (its outcome type), `code` and `message` (its status code and
  description), `""` when not given.

New types and new `data` fields may appear: ignore what you do not know.

**Verifying** (Python; any language with HMAC-SHA256 does the same). Compute the signature over the raw
body, compare in constant time, and refuse timestamps more than 5 minutes away from your clock:

```python
{VERIFY_SNIPPET}```
'''
