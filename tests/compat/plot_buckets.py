"""Plot the unknown-bucket benchmark: easel's requests at Canvas as a share
of each bucket's outflow, and the bucket's level, over bucket seconds.

Usage: plot_buckets.py SAMPLES_CSV OUT_PNG
SAMPLES_CSV columns: bucket, seconds, percent, level, hwm (seconds and
percent in bucket time: percent is the requests/s over the last sample as a
share of outflow / cost).
"""
import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

path, out = sys.argv[1], sys.argv[2]
series = defaultdict(list)
hwms = {}
with open(path) as f:
    for row in csv.DictReader(f):
        series[row["bucket"]].append(
            (float(row["seconds"]), float(row["percent"]), float(row["level"]))
        )
        hwms[row["bucket"]] = float(row["hwm"])

fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
for bucket, samples in series.items():
    t = [s[0] for s in samples]
    # A moving mean over 5 samples (10 bucket seconds): at 5 requests/s one
    # sample holds about 10 requests, too few to read alone.
    pct = [s[1] for s in samples]
    smooth = [sum(pct[max(0, i - 4) : i + 1]) / len(pct[max(0, i - 4) : i + 1]) for i in range(len(pct))]
    top.plot(t, smooth, label=bucket, linewidth=1)
    bottom.plot(t, [s[2] for s in samples], label=bucket, linewidth=1)
top.axhline(100, color="grey", linestyle="--", linewidth=1, label="outflow / cost")
top.axhline(90, color="grey", linestyle=":", linewidth=1, label="90%")
top.axvline(60, color="black", linestyle=":", linewidth=1)
top.set_ylim(0, 200)  # the empty bucket's opening burst goes far above
top.set_ylabel("requests/s, % of outflow / cost (10 s mean)")
top.legend(loc="lower right", fontsize=8)
top.set_title("A bucket easel does not know (it assumes hwm 700, outflow 10/s)")
for hwm in set(hwms.values()):
    bottom.axhline(hwm, color="red", linestyle="--", linewidth=1, label=f"high-water mark {hwm:.0f}")
bottom.set_ylabel("bucket level")
bottom.set_xlabel("bucket seconds since easel started")
bottom.legend(loc="lower right", fontsize=8)
fig.tight_layout()
fig.savefig(out, dpi=110)
