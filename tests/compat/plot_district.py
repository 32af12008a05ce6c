"""Plot the district benchmark's samples: requests/s and the token's bucket
level over time, one line per client.

Usage: plot_district.py SAMPLES_CSV OUT_PNG HWM THEORETICAL_RPS [TITLE [LINE_LABEL]]
SAMPLES_CSV columns: client, seconds, requests, throttled, level.
"""
import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

path, out, hwm, theoretical = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
title = sys.argv[5] if len(sys.argv) > 5 else "320 schools, one token: easel vs canvasapi scripts"
line_label = sys.argv[6] if len(sys.argv) > 6 else "outflow / cost"
series = defaultdict(list)
with open(path) as f:
    for row in csv.DictReader(f):
        series[row["client"]].append(
            (float(row["seconds"]), int(row["requests"]), int(row["throttled"]), float(row["level"]))
        )

fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
for client, samples in series.items():
    t = [s[0] for s in samples]
    rate = [0.0] + [
        (b[1] - a[1]) / (b[0] - a[0]) if b[0] > a[0] else 0.0 for a, b in zip(samples, samples[1:])
    ]
    top.plot(t, rate, label=client, linewidth=1)
    bottom.plot(t, [s[3] for s in samples], label=client, linewidth=1)
top.axhline(theoretical, color="grey", linestyle="--", linewidth=1, label=line_label)
top.set_ylabel("requests/s at Canvas")
top.legend(loc="upper right", fontsize=8)
top.set_title(title)
bottom.axhline(hwm, color="red", linestyle="--", linewidth=1, label="high-water mark (throttle)")
bottom.set_ylabel("bucket level")
bottom.set_xlabel("seconds since the client started")
bottom.legend(loc="lower right", fontsize=8)
fig.tight_layout()
fig.savefig(out, dpi=110)
