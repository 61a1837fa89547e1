"""The Nexmark queries of queries/nexmark/ against DuckDB (issue 21's oracle): each query runs in
Sluice by its `-- run:` line on generated events, and DuckDB computes the same result in batch
over the same JSON files; the two agree row for row (an updating result's changelog, applied,
leaves DuckDB's rows). q3, q10, q11, q12, q13 and q16 are checked by brute-force models in
Tests/SluiceCLITests instead (processing time, files, sessions, per-day sets).

Needs duckdb (PyPI) and SLUICE, the sluice binary (.ci/run sets both up)."""

import datetime
import decimal
import json
import os
import re
import shlex
import subprocess
import tempfile

import pytest

duckdb = pytest.importorskip("duckdb")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SLUICE = os.path.abspath(os.environ.get("SLUICE", os.path.join(ROOT, ".build", "debug", "sluice")))
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")

# DuckDB's form of each query, over the views bid, auction and person (times in epoch ms).
ORACLE = {
    "q0": "SELECT auction, bidder, price, dateTime, extra FROM bid",
    "q1": "SELECT auction, bidder, 0.908 * price AS price, dateTime, extra FROM bid",
    "q2": "SELECT auction, price FROM bid WHERE auction % 123 = 0",
    "q4": """
        SELECT category, AVG(final) AS avg_final FROM (
          SELECT a.id, a.category, MAX(b.price) AS final FROM auction a JOIN bid b ON a.id = b.auction
           AND b.dateTime BETWEEN a.dateTime AND a.expires AND b.dateTime <= a.dateTime + 60000
          GROUP BY a.id, a.category) GROUP BY category""",
    "q5": """
        WITH hops AS (SELECT auction, (dateTime // 2000) * 2000 - j * 2000 AS ws FROM bid, range(5) t(j)),
             counts AS (SELECT auction, ws, COUNT(*) AS num FROM hops GROUP BY auction, ws),
             maxes AS (SELECT ws, MAX(num) AS maxn FROM counts GROUP BY ws)
        SELECT c.auction, c.num, c.ws + 9999 AS window_time FROM counts c JOIN maxes m ON c.ws = m.ws AND c.num >= m.maxn""",
    "q6": """
        WITH w AS (SELECT a.id, a.seller, MAX(b.price) AS final FROM auction a JOIN bid b ON a.id = b.auction
                     AND b.dateTime BETWEEN a.dateTime AND a.expires AND b.dateTime <= a.dateTime + 60000
                   GROUP BY a.id, a.seller)
        SELECT seller, AVG(final) OVER (PARTITION BY seller ORDER BY id ROWS BETWEEN 10 PRECEDING AND CURRENT ROW) AS avg_price FROM w""",
    "q7": """
        WITH m AS (SELECT MAX(price) AS maxprice, (dateTime // 10000) * 10000 + 9999 AS wt FROM bid GROUP BY dateTime // 10000)
        SELECT b.auction, b.price, b.bidder, b.dateTime, b.extra FROM bid b JOIN m
          ON b.price = m.maxprice AND m.wt BETWEEN b.dateTime - 1 AND b.dateTime + 9999""",
    "q8": """
        SELECT DISTINCT p.id, p.name, p.ws AS starttime FROM
          (SELECT id, name, (dateTime // 10000) * 10000 AS ws FROM person) p JOIN
          (SELECT DISTINCT seller, (dateTime // 10000) * 10000 AS ws FROM auction) a ON p.id = a.seller AND p.ws = a.ws""",
    "q9": """
        SELECT id, itemName, description, initialBid, reserve, dateTime, expires, seller, category, extra,
               auction, bidder, price, bid_time, bid_extra FROM (
          SELECT a.*, b.auction, b.bidder, b.price, b.dateTime AS bid_time, b.extra AS bid_extra,
                 ROW_NUMBER() OVER (PARTITION BY a.id ORDER BY b.price DESC, b.dateTime ASC) AS rownum
          FROM auction a JOIN bid b ON a.id = b.auction AND b.dateTime BETWEEN a.dateTime AND a.expires
           AND b.dateTime <= a.dateTime + 60000) WHERE rownum <= 1""",
    "q14": """
        SELECT auction, bidder, 0.908 * price AS price,
          CASE WHEN hour(epoch_ms(dateTime)) BETWEEN 8 AND 18 THEN 'dayTime'
               WHEN hour(epoch_ms(dateTime)) <= 6 OR hour(epoch_ms(dateTime)) >= 20 THEN 'nightTime'
               ELSE 'otherTime' END AS bidTimeType,
          dateTime, extra, length(extra) - length(replace(extra, 'c', '')) AS c_counts
        FROM bid WHERE 0.908 * price > 1000000 AND 0.908 * price < 50000000""",
    "q15": """
        SELECT strftime(epoch_ms((dateTime // 86400000) * 86400000), '%Y-%m-%d') AS day, COUNT(*) AS total_bids,
          COUNT(*) FILTER (WHERE price < 10000) AS rank1_bids,
          COUNT(*) FILTER (WHERE price >= 10000 AND price < 1000000) AS rank2_bids,
          COUNT(*) FILTER (WHERE price >= 1000000) AS rank3_bids,
          COUNT(DISTINCT bidder) AS total_bidders,
          COUNT(DISTINCT bidder) FILTER (WHERE price < 10000) AS rank1_bidders,
          COUNT(DISTINCT bidder) FILTER (WHERE price >= 10000 AND price < 1000000) AS rank2_bidders,
          COUNT(DISTINCT bidder) FILTER (WHERE price >= 1000000) AS rank3_bidders,
          COUNT(DISTINCT auction) AS total_auctions,
          COUNT(DISTINCT auction) FILTER (WHERE price < 10000) AS rank1_auctions,
          COUNT(DISTINCT auction) FILTER (WHERE price >= 10000 AND price < 1000000) AS rank2_auctions,
          COUNT(DISTINCT auction) FILTER (WHERE price >= 1000000) AS rank3_auctions
        FROM bid GROUP BY dateTime // 86400000""",
    "q17": """
        SELECT auction, strftime(epoch_ms((dateTime // 86400000) * 86400000), '%Y-%m-%d') AS day, COUNT(*) AS total_bids,
          COUNT(*) FILTER (WHERE price < 10000) AS rank1_bids,
          COUNT(*) FILTER (WHERE price >= 10000 AND price < 1000000) AS rank2_bids,
          COUNT(*) FILTER (WHERE price >= 1000000) AS rank3_bids,
          MIN(price) AS min_price, MAX(price) AS max_price, AVG(price) AS avg_price, SUM(price) AS sum_price
        FROM bid GROUP BY dateTime // 86400000, auction""",
    "q18": """
        SELECT auction, bidder, price, channel, url, dateTime, extra FROM (
          SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder, auction ORDER BY dateTime DESC) AS rn FROM bid) WHERE rn <= 1""",
    "q19": """
        SELECT * FROM (
          SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rank_number FROM bid) WHERE rank_number <= 10""",
    "q20": """
        SELECT b.auction, b.bidder, b.price, b.channel, b.url, b.dateTime AS bid_time, b.extra AS bid_extra,
          a.itemName, a.description, a.initialBid, a.reserve, a.dateTime AS auction_time, a.expires, a.seller, a.category,
          a.extra AS auction_extra
        FROM bid b JOIN auction a ON b.auction = a.id WHERE a.category = 10""",
    "q21": """
        SELECT auction, bidder, price, channel,
          CASE WHEN lower(channel) = 'apple' THEN '0' WHEN lower(channel) = 'google' THEN '1'
               WHEN lower(channel) = 'facebook' THEN '2' WHEN lower(channel) = 'baidu' THEN '3'
               ELSE regexp_extract(url, '(&|^)channel_id=([^&]*)', 2) END AS channel_id
        FROM bid WHERE regexp_matches(url, '(&|^)channel_id=([^&]*)') OR lower(channel) IN ('apple', 'google', 'facebook', 'baidu')""",
    "q22": """
        SELECT auction, bidder, price, channel, split_part(url, '/', 4) AS dir1, split_part(url, '/', 5) AS dir2,
          split_part(url, '/', 6) AS dir3 FROM bid""",
}

# q19's ties: two bids of one auction at one price rank in arrival order in Sluice and in any order
# in DuckDB; the generated prices (log-uniform over six decades) leave none in these events.
EVENTS = "5000"


@pytest.fixture(scope="module")
def events():
    d = tempfile.mkdtemp(prefix="sluice-nexmark-duckdb-")
    subprocess.run([SLUICE, "gen", "nexmark", "--events", EVENTS, "--rate", "500", "--dir", d + "/nexmark"], check=True,
                   capture_output=True)
    con = duckdb.connect()
    cols = {
        "bid": "auction: 'BIGINT', bidder: 'BIGINT', price: 'BIGINT', channel: 'VARCHAR', url: 'VARCHAR', dateTime: 'BIGINT', extra: 'VARCHAR'",
        "auction": "id: 'BIGINT', itemName: 'VARCHAR', description: 'VARCHAR', initialBid: 'BIGINT', reserve: 'BIGINT', dateTime: 'BIGINT', "
                   "expires: 'BIGINT', seller: 'BIGINT', category: 'BIGINT', extra: 'VARCHAR'",
        "person": "id: 'BIGINT', name: 'VARCHAR', emailAddress: 'VARCHAR', creditCard: 'VARCHAR', city: 'VARCHAR', state: 'VARCHAR', "
                  "dateTime: 'BIGINT', extra: 'VARCHAR'",
    }
    for name, c in cols.items():
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_json('{d}/nexmark/{name}.jsonl', format = 'newline_delimited', columns = {{{c}}})")
    return d, con


def canonical(row):
    """A row as a sorted tuple of (column, value): times as epoch milliseconds, whole numbers as
    ints. Sluice's numbers are read as decimals: compared with DuckDB's DECIMAL results exactly,
    and with its DOUBLE results (floats) with a relative tolerance."""
    out = []
    for k in sorted(row):
        v = row[k]
        if isinstance(v, str) and ISO.match(v):
            v = int(round(datetime.datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp() * 1000))
        if isinstance(v, decimal.Decimal) and v == v.to_integral_value():
            v = int(v)
        if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
            v = int(v)
        out.append((k, v))
    return tuple(out)


def sort_key(row):
    # Whole numbers exactly, others by twelve leading digits, as text: a double and the whole
    # number it nearly equals (24105733.999999996 and 24105734) sort alike.
    def text(v):
        if isinstance(v, int) and not isinstance(v, bool):
            return str(v)
        return f"{float(v):.12g}" if isinstance(v, (float, decimal.Decimal)) else v
    return repr(tuple((k, text(v)) for k, v in row))


def same(a, b):
    if len(a) != len(b):
        return False
    for (ka, va), (kb, vb) in zip(a, b):
        if ka != kb:
            return False
        if isinstance(va, decimal.Decimal) and isinstance(vb, decimal.Decimal):
            if va != vb:  # a DECIMAL result on both sides: exact
                return False
        elif any(isinstance(v, (float, decimal.Decimal)) for v in (va, vb)):
            numbers = (int, float, decimal.Decimal)
            if not isinstance(va, numbers) or not isinstance(vb, numbers) or abs(float(va) - float(vb)) > 1e-9 * max(1.0, abs(float(vb))):
                return False
        elif va != vb:
            return False
    return True


def sluice_rows(d, name):
    sql = open(os.path.join(ROOT, "queries", "nexmark", name + ".sql")).read()
    run = next(l for l in sql.splitlines() if l.startswith("-- run: sluice "))
    args = [os.path.join(ROOT, a) if a.startswith("queries/") else a for a in shlex.split(run[len("-- run: sluice "):])]
    r = subprocess.run([SLUICE] + args, cwd=d, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(l, parse_float=decimal.Decimal) for l in open(os.path.join(d, "out", "nexmark", name + ".jsonl")) if l.strip()]
    if rows and "op" in rows[0]:
        # An updating result: its changelog applied (every -U and -D takes back a row that is there).
        held = {}
        for r in rows:
            op = r.pop("op")
            key = canonical(r)
            if op in ("+I", "+U"):
                held[key] = held.get(key, 0) + 1
            else:
                assert held.get(key, 0) > 0, f"{name}: {op} takes back a row that is not there: {r}"
                held[key] -= 1
        return sorted((k for k, n in held.items() for _ in range(n)), key=sort_key)
    return sorted((canonical(r) for r in rows), key=sort_key)


@pytest.mark.parametrize("name", sorted(ORACLE, key=lambda n: int(n[1:])))
def test_sluice_agrees_with_duckdb(events, name):
    d, con = events
    cur = con.execute(ORACLE[name])
    names = [c[0] for c in cur.description]
    want = sorted((canonical(dict(zip(names, r))) for r in cur.fetchall()), key=sort_key)
    got = sluice_rows(d, name)
    assert len(want) > 0, f"{name}: DuckDB finds no rows in the generated events"
    assert len(got) == len(want), f"{name}: Sluice {len(got)} rows, DuckDB {len(want)}"
    for g, w in zip(got, want):
        assert same(g, w), f"{name}: {g}\n  vs DuckDB's\n  {w}"
