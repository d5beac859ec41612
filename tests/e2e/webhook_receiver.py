"""A real webhook receiver for the end-to-end tests: a separate process that verifies each
delivery's Standard Webhooks signature with the `standardwebhooks` package (not chipclass's code)
and appends what it got to a JSON-lines file.

    python tests/e2e/webhook_receiver.py --port P --secret whsec_... --out deliveries.jsonl [--delay S]
"""

from __future__ import annotations

import argparse
import json
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to hold each delivery before answering")
    args = parser.parse_args()
    verifier = Webhook(args.secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                verifier.verify(body, headers)
                verified = True
            except WebhookVerificationError:
                verified = False
            if args.delay:
                time.sleep(args.delay)
            record = {"received_at": time.time(), "verified": verified, "headers": headers, "body": body}
            with open(args.out, "a", encoding="utf-8") as out:
                out.write(json.dumps(record) + "\n")
            self.send_response(204 if verified else 401)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    HTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
