#!/usr/bin/env python3
"""Standard Webhooks' python reference library against smppd's signatures, for
tests/webhook_signing.rs.

    verify_webhook.py CASES_JSON

CASES_JSON holds {"verify": [...], "sign": [...]}; bodies are base64 so that every byte
arrives as it was signed.

    verify: {"name", "secret", "headers": {...}, "body": B64, "json": bool}
        standardwebhooks.Webhook(secret).verify(body, headers), with json_parse when "json"
    sign:   {"name", "secrets": [...], "id", "timestamp", "body": B64}
        each secret's Webhook.sign, joined by a space as during a key rotation

Prints one JSON object per line:

    {"ev": "version", "standardwebhooks": VERSION}
    {"ev": "verified", "name", "ok": true, "parsed": JSON-or-null}
    {"ev": "verified", "name", "ok": false, "error": TEXT}
    {"ev": "signed", "name", "signature": HEADER}
    {"ev": "done"}
"""

import base64
import importlib.metadata
import json
import sys
from datetime import datetime, timezone

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def emit(**line):
    print(json.dumps(line), flush=True)


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)
    emit(ev="version", standardwebhooks=importlib.metadata.version("standardwebhooks"))
    for case in cases["verify"]:
        body = base64.b64decode(case["body"])
        webhook = Webhook(case["secret"])
        try:
            if case["json"]:
                parsed = webhook.verify(body, case["headers"])
            else:
                parsed = webhook.verify(body, case["headers"], json_parse=False)
            emit(ev="verified", name=case["name"], ok=True, parsed=parsed)
        except WebhookVerificationError as e:
            emit(ev="verified", name=case["name"], ok=False, error=str(e))
    for case in cases["sign"]:
        body = base64.b64decode(case["body"]).decode("utf-8")
        at = datetime.fromtimestamp(case["timestamp"], tz=timezone.utc)
        signatures = [Webhook(s).sign(case["id"], at, body) for s in case["secrets"]]
        emit(ev="signed", name=case["name"], signature=" ".join(signatures))
    emit(ev="done")


if __name__ == "__main__":
    main()
