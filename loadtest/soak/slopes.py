"""Prints the least-squares slope of each column of the soak's samples CSV against time, per
hour, with the first and last value; the first minute is warm-up and left out."""
import csv
import sys

rows = list(csv.DictReader(open(sys.argv[1])))
rows = [r for r in rows if float(r["t_s"]) >= 60] or rows
if len(rows) < 2:
    sys.exit("too few samples")
ts = [float(r["t_s"]) for r in rows]
for col in [c for c in rows[0] if c != "t_s"]:
    ys = [float(r[col]) for r in rows]
    mt, my = sum(ts) / len(ts), sum(ys) / len(ys)
    var = sum((t - mt) ** 2 for t in ts)
    slope = sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / var if var else 0.0
    print("%-16s first %-12.6g last %-12.6g mean %-12.6g slope %+.6g per hour" % (col, ys[0], ys[-1], my, slope * 3600))
