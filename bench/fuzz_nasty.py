"""Hand-crafted nasty requests against every operation of a running platform (see
``bench/fuzz_server.py``): malformed JSON, wrong JSON types, huge numbers, NaN/Infinity, null bytes,
very long strings, wrong content types, empty bodies, odd query and paging parameters, timestamps
in year 0001/9999. Prints every 5xx (and any non-JSON error) and a count per status.

    .venv/bin/python bench/fuzz_nasty.py BASE USER_TOKEN CP_TOKEN CO_TOKEN
"""

import collections
import json
import re
import sys
import uuid

import requests

BODIES = {
    "malformed": b'{"name": ',
    "list": b"[1, 2]",
    "string": b'"text"',
    "number": b"42",
    "null": b"null",
    "empty": b"",
    "empty-object": b"{}",
    "nan": b'{"capacity": NaN, "value": NaN, "nodeId": NaN, "name": NaN}',
    "infinity": b'{"capacity": Infinity, "nodeId": -Infinity, "fallbackImportKw": Infinity}',
    "huge": json.dumps({"nodeId": 10**40, "groupId": 10**40, "forecastId": 10**30, "capacity": 1e308}).encode(),
    "nul-bytes": json.dumps({"name": "a\x00b", "message": "x\x00", "url": "https://a\x00.com"}).encode(),
    "long": json.dumps({"name": "x" * 100_000, "message": "y" * 100_000}).encode(),
    "deep": b"[" * 5000 + b"]" * 5000,
    "surrogate": b'{"name": "\\ud800"}',
    "bad-utf8": b'{"name": "\xff\xfe"}',
}
TIME_FIELDS = ["startTime", "endTime", "periodStart", "created", "at", "from", "to", "since", "until"]


def timestamp_bodies():
    for when in [
        "0001-01-01 00:00:00Z",
        "9999-12-31 23:59:59Z",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-12:00",
    ]:
        yield (
            f"time {when}",
            json.dumps(
                {
                    "group_id": "fuzz-group",
                    "type": "CONSUMPTION",
                    "forecasted_blocks": [
                        {"capacity": 1, "phase": "ALL", "unit": "KW", "start_time": when, "end_time": when}
                    ],
                    "forecastedBlocks": [
                        {"capacity": 1, "phase": "ALL", "unit": "KW", "startTime": when, "endTime": when}
                    ],
                    "offline_mode_at": when,
                    "audience": "CapacityProvider",
                    "periodStart": when,
                    "nodeId": 123,
                    "sourceId": "charger/1",
                    "created": when,
                    "i": {"watts": 1},
                }
            ).encode(),
        )
        yield (
            f"time-list {when}",
            json.dumps([{"nodeId": 123, "sourceId": "a", "created": when, "i": {"w": 1}}]).encode(),
        )


QUERIES = [
    "max=-1",
    "offset=abc",
    "max=abc&offset=-5",
    "max=99999999999999999999",
    "offset=99999999999999999999",
    "unknown=1",
    "enabled=maybe",
    "nodeId=abc&microgridId=mg-1",
    "nodeId=99999999999999999999999",
    "groupId=-1&nodeId=123",
    "at=0001-01-01 00:00:00Z&nodeId=123",
    "at=9999-12-31 23:59:59Z&nodeId=123",
    "from=0001-01-01 00:00:00Z&to=9999-12-31 23:59:59Z&nodeId=123",
    "from=9999-12-31 23:59:59Z&to=0001-01-01 00:00:00Z&nodeId=123",
    "since=0001-01-01T00:00:00Z&until=9999-12-31T23:59:59Z",
    "since=abc&partner=abc&group=abc",
    "partner=99999999999999999999&group=-1",
    "id=abc",
    "id=99999999999999999999",
    "name=%00",
    "x=" + "z" * 5000,
]


def main() -> int:
    base, user_token, cp_token, co_token = sys.argv[1:5]
    schema = requests.get(
        base + "/api/schema/", headers={"Authorization": f"Token {user_token}", "Accept": "application/json"}
    ).json()
    statuses: collections.Counter = collections.Counter()
    bad = []

    def send(method, url, token, body=None, content_type="application/json"):
        headers = {"Authorization": f"Token {token}", "X-Request-ID": str(uuid.uuid4())}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            response = requests.request(method, url, data=body, headers=headers, timeout=60)
        except requests.RequestException as exc:
            bad.append((method, url, repr(exc)[:200]))
            return
        statuses[response.status_code] += 1
        is_json = response.headers.get("Content-Type", "").startswith("application/json")
        if response.status_code >= 500 or (response.status_code >= 400 and not is_json):
            label = body[:60] if isinstance(body, bytes) else body
            bad.append((method, url, response.status_code, label, response.text[:200]))

    for path, operations in schema["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        for method in operations:
            if method not in ("get", "post", "put", "delete", "patch"):
                continue
            tokens = [cp_token, co_token] if path.startswith("/oscp") else [user_token]
            for token in tokens:
                url = base + concrete
                if method in ("post", "put", "patch"):
                    for _name, body in [*BODIES.items(), *timestamp_bodies()]:
                        send(method.upper(), url, token, body)
                    for content_type in ["text/plain", "application/xml", "multipart/form-data", None]:
                        send(method.upper(), url, token, b'{"name": "x"}', content_type)
                    send(method.upper(), url, token, b"a=1&b=%00", "application/x-www-form-urlencoded")
                    send(method.upper(), url, token, b"\xff" * 10, "application/json; charset=latin-1")
                for query in QUERIES:
                    send(method.upper(), f"{url}?{query}", token, None, None)
                for odd_id in ["0", "-1", "99999999999999999999", "abc", "%00"]:
                    if "{" in path:
                        send(method.upper(), base + re.sub(r"\{[^}]+\}", odd_id, path), token, b"{}")
    print("statuses:", dict(sorted(statuses.items())))
    for item in bad:
        print("BAD", *item)
    print(f"{sum(statuses.values())} requests, {len(bad)} bad")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
