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

Prints a table (with each detector's best F1 over thresholds of mean + 1.0 .. 9.9 standard
deviations beside the fixed rule's figures) and, with --json FILE, writes the figures. `rcf3disp`
is rcf3's displacement score: the same forest scored by displacement instead of inverse depth. `rcf_peers.py throughput [SLUICE]` times
`sluice bench rcf` (release build) and rcf3 on data of the same shape in the same run.  rrcf is slow (tens of points a second
with 100 trees), so it runs only when asked.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import time


def judge(scores, meta, threshold=None):
    start, shingle = meta["judged_from"], meta["shingle"]
    judged = scores[start:]
    if threshold is None:
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


def best_f1(scores, meta):
    """The judge with the threshold at mean + k standard deviations for the k in 1.0, 1.1, ..
    9.9 that gives the best F1: how well a detector ranks, whatever its scores' scale."""
    best = 0.0
    start = meta["judged_from"]
    judged = scores[start:]
    mean = sum(judged) / len(judged)
    sd = (sum((x - mean) ** 2 for x in judged) / len(judged)) ** 0.5
    for k10 in range(10, 100):
        j = judge(scores, meta, threshold=mean + k10 / 10 * sd)
        p, r = j["precision"], j["recall"]
        if p + r > 0:
            best = max(best, 2 * p * r / (p + r))
    return best


def rcf3_scores(values, meta, seed):
    import rcf3

    forest = rcf3.Forest(input_dim=1, shingle_size=meta["shingle"], num_trees=meta["trees"], capacity=meta["sample_size"],
                         time_decay=1 / (10 * meta["sample_size"]), output_after=1 + meta["sample_size"] // 4, seed=seed)
    t = time.perf_counter()
    scores = [forest.update_and_score([v]) for v in values]
    return scores, time.perf_counter() - t


def rcf3_displacement_scores(values, meta, seed):
    """rcf3's displacement score (plain displacement, its other score) of each point before the
    point joins the forest, with the same parameters as rcf3_scores: the displacement-family score
    of the same implementation, beside its default (expected inverse depth)."""
    import rcf3

    forest = rcf3.Forest(input_dim=1, shingle_size=meta["shingle"], num_trees=meta["trees"], capacity=meta["sample_size"],
                         time_decay=1 / (10 * meta["sample_size"]), output_after=1 + meta["sample_size"] // 4, seed=seed)
    scores = []
    t = time.perf_counter()
    for v in values:
        scores.append(forest.displacement_score([v]) if forest.is_ready() else 0.0)
        forest.update([v])
    return scores, time.perf_counter() - t


def ranks(xs):
    """Ranks 1..n of xs, ties sharing their mean rank."""
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    r = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return r


def spearman(a, b):
    """Spearman's rank correlation of two equally long lists."""
    ra, rb = ranks(a), ranks(b)
    n = len(a)
    ma, mb = sum(ra) / n, sum(rb) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = sum((x - ma) ** 2 for x in ra) ** 0.5
    vb = sum((y - mb) ** 2 for y in rb) ** 0.5
    return cov / (va * vb) if va > 0 and vb > 0 else 0.0


def ordinary(meta, n):
    """The judged points outside every anomaly (and the shingle + 2 points after it)."""
    inside = set()
    for s, e in meta["anomalies"]:
        inside.update(range(s, e + meta["shingle"] + 2))
    return [i for i in range(meta["judged_from"], n) if i not in inside]


def scale(ours, theirs, meta):
    """How Sluice's scores sit on rcf3's scale: the mean score of ordinary points, each
    detector's mean over its seeds, and Spearman's rank correlation of the judged points' scores
    (each detector's scores averaged over its seeds first); beside it, rcf3 against itself (seed
    1 against seed 2), what one forest's randomness alone leaves of the correlation."""
    n = len(ours[0])
    calm = ordinary(meta, n)
    judged = range(meta["judged_from"], n)
    mean_of = lambda runs: [sum(r[i] for r in runs) / len(runs) for i in range(n)]
    o, t = mean_of(ours), mean_of(theirs)
    return {"sluice_mean": sum(o[i] for i in calm) / len(calm), "rcf3_mean": sum(t[i] for i in calm) / len(calm),
            "spearman": spearman([o[i] for i in judged], [t[i] for i in judged]),
            "rcf3_self": spearman([theirs[0][i] for i in judged], [theirs[1][i] for i in judged]) if len(theirs) > 1 else None}


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


def throughput(sluice, records=20000):
    """Scoring throughput, records/s, 100 trees, sample 256, for 1, 2 and 4 columns: `sluice bench
    rcf --score S` for both scores (seeded Gaussian data with an outlier every 1,000 records) and
    rcf3 on data of the same shape, in the same run, one after the other."""
    import random
    import re

    ours = {}
    for score in ("depth", "displacement"):
        out = subprocess.run([sluice, "bench", "rcf", "--records", str(records), "--score", score],
                             capture_output=True, text=True, check=True).stdout
        ours[score] = {int(m.group(1)): float(m.group(2)) for m in re.finditer(r"columns=(\d+)\s+(\d+) records/s", out)}
    import rcf3

    print(f"{'columns':>7} {'depth rec/s':>12} {'displ. rec/s':>13} {'rcf3 rec/s':>11} {'depth/rcf3':>10} {'displ./rcf3':>11}")
    for d in (1, 2, 4):
        rng = random.Random(11)
        data = [[rng.gauss(0, 1) + (8 if i % 1000 == 999 else 0) for _ in range(d)] for i in range(records)]
        forest = rcf3.Forest(input_dim=d, num_trees=100, capacity=256, time_decay=1 / 2560, output_after=65, seed=42)
        t = time.perf_counter()
        for p in data:
            forest.update_and_score(p)
        theirs = records / (time.perf_counter() - t)
        dep, dis = ours["depth"][d], ours["displacement"][d]
        print(f"{d:7d} {dep:12.0f} {dis:13.0f} {theirs:11.0f} {dep / theirs:10.2f} {dis / theirs:11.2f}")


# The planted anomalies of samples/README.md, from samples/planted.json (as AnomalyAccuracyTests reads
# them): saved query, key column, key, from, to (UTC, 2024-01-01).
PLANTED = [(p["query"], p["column"], p["key"], p["from"], p["to"])
           for p in json.load(open(os.path.join(os.path.dirname(__file__), "..", "..", "samples", "planted.json")))]


def sample_features(sluice, query, workdir):
    """Runs the forest of queries/QUERY.sql as its `-- run:` line says, with `SELECT *` in place of
    the alert's columns and a file sink in place of the alert: every scored row with the forest's
    input columns and its score, in the order the forest scored them. Returns (rows, columns)."""
    import re

    text = open(os.path.join("queries", query + ".sql")).read()
    run = re.search(r"-- run: sluice run \S+ (.*)", text).group(1).split()
    m = re.search(r"CREATE ALERT \w+ SEVERITY '\w+' AS\n(.*?)\nFIRE WHEN", text, re.S)
    body = re.sub(r"^\s*SELECT .*?\bFROM (RANDOM_CUT_FOREST\w*)", r"SELECT * FROM \1", m.group(1), count=1, flags=re.S)
    columns = [c.strip() for c in re.search(r"COLUMNS \(([^)]*)\)", body).group(1).split(",")]
    out = os.path.join(workdir, query + ".jsonl")
    sql = os.path.join(workdir, query + ".sql")
    with open(sql, "w") as f:
        f.write(text[:m.start()] + f"CREATE SINK scored WITH (type = 'file', path = '{out}', format = 'json');\n"
                f"INSERT INTO scored\n{body};\n")
    subprocess.run([sluice, "run", sql, "--data-dir", os.path.join(workdir, query + "-data")] + run,
                   capture_output=True, text=True, check=True)
    return [json.loads(line) for line in open(out)], columns


def judge_sample(rows, scores, query, key_column, window_ms, output_after):
    """Rows (one per key and window) flagged above the mean + 3 standard deviations of the scores
    of rows past the forest's warm-up; a key's flagged rows one window apart or closer are one
    alarm; an alarm is true, and finds an anomaly, when its key is the anomaly's and it starts in
    the anomaly or the minute after it (as AnomalyAccuracyTests counts the alerts' firings)."""
    from datetime import datetime, timezone

    def millis(t):
        return int(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000)

    judged = scores[output_after:]
    mean = sum(judged) / len(judged)
    sd = (sum((x - mean) ** 2 for x in judged) / len(judged)) ** 0.5
    threshold = mean + 3 * sd
    last = {}
    alarms = []
    for i in range(output_after, len(rows)):
        if scores[i] <= threshold:
            continue
        key, at = rows[i][key_column], millis(rows[i]["window_end"])
        if key in last and at - last[key][1] <= window_ms:
            last[key][1] = at
        else:
            last[key] = [at, at, key]
            alarms.append(last[key])
    planted = [(k, millis(f"2024-01-01T{a}Z"), millis(f"2024-01-01T{b}Z") + 60_000) for q, c, k, a, b in PLANTED if q == query]
    hits = lambda a, p: a[2] == p[0] and p[1] <= a[0] <= p[2]
    true_alarms = sum(1 for a in alarms if any(hits(a, p) for p in planted))
    found = sum(1 for p in planted if any(hits(a, p) for a in alarms))
    return {"alarms": len(alarms), "true_alarms": true_alarms, "found": found, "anomalies": len(planted)}


def samples(sluice, seeds=3):
    """The four anomaly-alert saved queries' forests beside rcf3 on the same rows: each scores the
    forest's input columns of every row, in the order Sluice scored them, with the same
    parameters (100 trees, sample 256, shingle 1, the default time decay and warm-up); every
    detector judged by judge_sample. Sluice runs with its query's seed; rcf3 with seeds 1..N."""
    import tempfile

    import rcf3

    workdir = tempfile.mkdtemp(prefix="sluice-rcf-samples-")
    windows = {"click_anomalies": 30_000, "sensor_anomalies": 60_000, "payment_anomalies": 30_000, "log_anomalies": 10_000}
    totals = {"sluice": [0, 0, 0, 0], "rcf3": [0, 0, 0, 0]}
    results = {}
    print(f"{'query':18} {'detector':8} {'alarms':>6} {'true':>5} {'found':>9}")
    for query in sorted(windows):
        rows, columns = sample_features(sluice, query, workdir)
        key = next(c for q, c, *_ in PLANTED if q == query)
        output_after = 1 + 256 // 4
        ours = judge_sample(rows, [r["anomaly_score"] for r in rows], query, key, windows[query], output_after)
        theirs = []
        for seed in range(1, seeds + 1):
            forest = rcf3.Forest(input_dim=len(columns), shingle_size=1, num_trees=100, capacity=256,
                                 time_decay=1 / 2560, output_after=output_after, seed=seed)
            scores = [forest.update_and_score([float(r[c]) for c in columns]) for r in rows]
            theirs.append(judge_sample(rows, scores, query, key, windows[query], output_after))
        mean = {k: sum(t[k] for t in theirs) / len(theirs) for k in theirs[0]}
        results[query] = {"sluice": ours, "rcf3": mean}
        for name, r in (("sluice", ours), ("rcf3", mean)):
            print(f"{query:18} {name:8} {r['alarms']:6.1f} {r['true_alarms']:5.1f} {r['found']:5.1f} of {r['anomalies']}")
            for i, k in enumerate(("alarms", "true_alarms", "found", "anomalies")):
                totals[name][i] += r[k]
    for name, (alarms, true_alarms, found, anomalies) in totals.items():
        p = 1.0 if alarms == 0 else true_alarms / alarms
        print(f"{'all four':18} {name:8} precision {p:.3f} recall {found / anomalies:.3f}")
        results[name] = {"precision": p, "recall": found / anomalies}
    return results


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "throughput":
        throughput(sys.argv[2] if len(sys.argv) > 2 else ".build/release/sluice")
        return
    if len(sys.argv) > 1 and sys.argv[1] == "samples":
        samples(sys.argv[2] if len(sys.argv) > 2 else ".build/debug/sluice")
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--rrcf", action="store_true", help="also score with rrcf (slow)")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--rrcf-seeds", type=int, default=1, help="forest seeds for rrcf (default 1: it is slow)")
    args = ap.parse_args()
    results = {}
    shapes = sorted(f[:-5] for f in os.listdir(args.dir) if f.endswith(".json"))
    if not shapes:
        sys.exit(f"no <shape>.json in {args.dir}: run sluice bench anomalies --scores-dir {args.dir} first")
    print("mean over forest seeds 1..N of each detector's precision and recall")
    print(f"{'shape':15} {'detector':8} {'precision':>9} {'recall':>7} {'alarms':>6} {'best F1':>7} {'points/s':>9}")
    for shape in shapes:
        meta = json.load(open(os.path.join(args.dir, shape + ".json")))
        rows = list(csv.DictReader(open(os.path.join(args.dir, shape + ".csv"))))
        values = [float(r["value"]) for r in rows]
        seeds = range(1, meta["seeds"] + 1)
        detectors = {"sluice": [([float(r[f"score{k}"]) for r in rows], None) for k in seeds],
                     "rcf3": [rcf3_scores(values, meta, k) for k in seeds],
                     "rcf3disp": [rcf3_displacement_scores(values, meta, k) for k in seeds]}
        if "flat" in rows[0]:
            detectors["flatline"] = [([float(r["flat"]) for r in rows], None)]
        if args.rrcf:
            detectors["rrcf"] = [rrcf_scores(values, meta, k) for k in seeds[:args.rrcf_seeds]]
        results[shape] = {}
        for name, runs in detectors.items():
            judged = [judge(scores, meta) for scores, _ in runs]
            r = {"precision": sum(j["precision"] for j in judged) / len(judged),
                 "recall": sum(j["recall"] for j in judged) / len(judged),
                 "alarms": sum(j["alarms"] for j in judged) / len(judged),
                 "best_f1": sum(best_f1(scores, meta) for scores, _ in runs) / len(runs),
                 "runs": judged}
            secs = sum(t for _, t in runs) if runs[0][1] is not None else None
            if secs:
                r["points_per_second"] = len(values) * len(runs) / secs
            results[shape][name] = r
            rate = f"{r['points_per_second']:9.0f}" if secs else f"{'':9}"
            print(f"{shape:15} {name:8} {r['precision']:9.3f} {r['recall']:7.3f} {r['alarms']:6.1f} {r['best_f1']:7.3f} {rate}")
        sc = scale([sc for sc, _ in detectors["sluice"]], [sc for sc, _ in detectors["rcf3"]], meta)
        results[shape]["scale"] = sc
        self_rho = f", rcf3 seed 1 vs 2 {sc['rcf3_self']:.3f}" if sc["rcf3_self"] is not None else ""
        print(f"{shape:15} scale    ordinary points' mean score: sluice ({meta.get('score', 'displacement')}) {sc['sluice_mean']:.3f}, "
              f"rcf3 {sc['rcf3_mean']:.3f} (ratio {sc['sluice_mean'] / sc['rcf3_mean']:.3f}); Spearman {sc['spearman']:.3f}{self_rho}")
    if args.json:
        json.dump(results, open(args.json, "w"), indent=2)


if __name__ == "__main__":
    main()
