"""A greedy client on the same token: THREADS threads, each sending one
request after another (GET /api/v1/accounts/1) and retrying a throttled one
after BACKOFF seconds, until its stdin closes.

Usage: CANVAS_URL=... CANVAS_TOKEN=... greedy.py THREADS BACKOFF
Prints one JSON line at the end: requests answered, throttled.
"""
import json
import os
import sys
import threading
import time

import requests

threads, backoff = int(sys.argv[1]), float(sys.argv[2])
url = os.environ["CANVAS_URL"].rstrip("/") + "/api/v1/accounts/1"
headers = {"Authorization": "Bearer " + os.environ["CANVAS_TOKEN"]}
stop = threading.Event()
lock = threading.Lock()
counts = {"requests": 0, "throttled": 0}


def hammer():
    session = requests.Session()
    while not stop.is_set():
        r = session.get(url, headers=headers)
        throttled = r.status_code in (403, 429) and "Rate Limit Exceeded" in r.text
        with lock:
            counts["requests"] += 1
            counts["throttled"] += throttled
        if throttled:
            time.sleep(backoff)


workers = [threading.Thread(target=hammer, daemon=True) for _ in range(threads)]
for w in workers:
    w.start()
sys.stdin.read()
stop.set()
for w in workers:
    w.join()
print(json.dumps(counts))
