"""A bounded load test on loopback: 8 clients x 50 requests against the real threaded server;
no error and no lost or crossed answer."""

from __future__ import annotations

import json
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from attnkit.explore import create_app, make_server

INPUTS = [("3. Mai 1979", "de_DE"), ("May 3, 1979", "en_US"), ("24.12.2001", "de_DE"), ("July 4, 1976", "en_US")]
CLIENTS, REQUESTS = 8, 50


def test_eight_clients_fifty_requests_each(registry):
    expected = {
        key: {
            text: registry[key].run.task.translate(registry[key].run.model, [(text, loc)])[0].output
            for text, loc in INPUTS
        }
        for key in registry.keys()
    }
    server = make_server(create_app(registry), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/api/runs/%s/predict"

    def client(c: int) -> list[tuple[str, str, int, dict]]:
        out = []
        for i in range(REQUESTS):
            key = registry.keys()[(c + i) % 2]
            text, loc = INPUTS[(c * 7 + i) % len(INPUTS)]
            body = json.dumps({"input": text, "options": {"locale": loc}, "layers": False}).encode()
            req = urllib.request.Request(url % key, data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=60) as response:
                out.append((key, text, response.status, json.loads(response.read())))
        return out

    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            answers = [a for batch in pool.map(client, range(CLIENTS)) for a in batch]
    finally:
        server.shutdown()
        thread.join(10)
    assert len(answers) == CLIENTS * REQUESTS
    for key, text, status, body in answers:
        assert status == 200 and body["run"] == key and body["input"] == text
        assert body["hypotheses"][0]["output"] == expected[key][text]
