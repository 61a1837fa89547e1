"""Side by side: Sluice's random cut forest, rcf3 and rrcf on the same seeded series.

Reads DIR/<shape>.csv (ts, value, anomaly, score: Sluice's scores) and DIR/<shape>.json (the
shingle, trees, sample size, the planted anomalies) as `sluice bench anomalies --scores-dir DIR`
writes them, scores each series with rcf3 (and rrcf with --rrcf) using the same parameters, and
judges every detector the same way (AnomalyShapes.judge in Sources/SluiceCLI/AnomalyShapes.swift):

- only points from `judged_from` on count; a point is flagged above the mean plus 3 standard
  deviations of those points' scores;
- flagged points less than shingle + 3 apart form one alarm;
- an anomaly is found, and an alarm is true, when the alarm overlaps the anomaly's points or
  the shingle + 2 points after them.

Prints a table and, with --json FILE, writes the figures.  rrcf is slow (tens of points a second
with 100 trees), so it runs only when asked.
"""
import argparse
import csv
import json
import os
import sys
import time


def judge(scores, meta):
    start, shingle = meta["judged_from"], meta["shingle"]
    judged = scores[start:]
    mean = sum(judged) / len(judged)
    sd = (sum((x - mean) ** 2 for x in judged) / len(judged)) ** 0.5
    threshold = mean + 3 * sd
    alarms = []
    for i in range(start, len(scores)):
        if scores[i] > threshold:
            if alarms and i - alarms[-1][1] < shingle + 3:
                alarms[-1][1] = i
            else:
                alarms.append([i, i])
    windows = [(s, e + shingle + 1) for s, e in meta["anomalies"]]

    def overlaps(a, w):
        return a[0] <= w[1] and w[0] <= a[1]

    true_alarms = sum(1 for a in alarms if any(overlaps(a, w) for w in windows))
    found = sum(1 for w in windows if any(overlaps(a, w) for a in alarms))
    return {
        "precision": 1.0 if not alarms else true_alarms / len(alarms),
        "recall": found / len(windows),
        "alarms": len(alarms),
        "true_alarms": true_alarms,
        "found": found,
        "anomalies": len(windows),
        "threshold": threshold,
    }


def rcf3_scores(values, meta, seed):
    import rcf3

    forest = rcf3.Forest(input_dim=1, shingle_size=meta["shingle"], num_trees=meta["trees"], capacity=meta["sample_size"],
                         time_decay=1 / (10 * meta["sample_size"]), output_after=1 + meta["sample_size"] // 4, seed=seed)
    t = time.perf_counter()
    scores = [forest.update_and_score([v]) for v in values]
    return scores, time.perf_counter() - t


def rrcf_scores(values, meta, seed):
    """The streaming recipe of rrcf's documentation: a FIFO window of `sample_size` shingles per
    tree, each point scored by its collusive displacement after it is inserted."""
    import numpy as np
    import rrcf

    shingle, trees, size = meta["shingle"], meta["trees"], meta["sample_size"]
    forest = [rrcf.RCTree(random_state=seed * 1000 + i) for i in range(trees)]
    scores = [0.0] * len(values)
    t = time.perf_counter()
    for end in range(shingle, len(values) + 1):
        i = end - shingle
        point = np.array(values[i:end], dtype=float)
        total = 0.0
        for tree in forest:
            if len(tree.leaves) > size:
                tree.forget_point(i - size - 1)
            tree.insert_point(point, index=i)
            total += tree.codisp(i)
        scores[end - 1] = total / trees
    return scores, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--rrcf", action="store_true", help="also score with rrcf (slow)")
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args()
    results = {}
    shapes = sorted(f[:-5] for f in os.listdir(args.dir) if f.endswith(".json"))
    if not shapes:
        sys.exit(f"no <shape>.json in {args.dir}: run sluice bench anomalies --scores-dir {args.dir} first")
    print("mean over forest seeds 1..N of each detector's precision and recall")
    print(f"{'shape':15} {'detector':8} {'precision':>9} {'recall':>7} {'alarms':>6} {'points/s':>9}")
    for shape in shapes:
        meta = json.load(open(os.path.join(args.dir, shape + ".json")))
        rows = list(csv.DictReader(open(os.path.join(args.dir, shape + ".csv"))))
        values = [float(r["value"]) for r in rows]
        seeds = range(1, meta["seeds"] + 1)
        detectors = {"sluice": [([float(r[f"score{k}"]) for r in rows], None) for k in seeds],
                     "rcf3": [rcf3_scores(values, meta, k) for k in seeds]}
        if args.rrcf:
            detectors["rrcf"] = [rrcf_scores(values, meta, k) for k in seeds]
        results[shape] = {}
        for name, runs in detectors.items():
            judged = [judge(scores, meta) for scores, _ in runs]
            r = {"precision": sum(j["precision"] for j in judged) / len(judged),
                 "recall": sum(j["recall"] for j in judged) / len(judged),
                 "alarms": sum(j["alarms"] for j in judged) / len(judged),
                 "runs": judged}
            secs = sum(t for _, t in runs) if runs[0][1] is not None else None
            if secs:
                r["points_per_second"] = len(values) * len(runs) / secs
            results[shape][name] = r
            rate = f"{r['points_per_second']:9.0f}" if secs else f"{'':9}"
            print(f"{shape:15} {name:8} {r['precision']:9.3f} {r['recall']:7.3f} {r['alarms']:6.1f} {rate}")
    if args.json:
        json.dump(results, open(args.json, "w"), indent=2)


if __name__ == "__main__":
    main()
