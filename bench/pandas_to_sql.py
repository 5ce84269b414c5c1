"""The original pipeline's load method, for comparison: pandas read_csv + to_sql(method='multi', chunksize=1000).

    /usr/bin/python3 bench/pandas_to_sql.py --db URL --file order_details.csv --schema staging --table order_details

Appends into an existing (truncated) table and prints one JSON line: rows, read/write/total seconds and the
process's peak RSS. Needs Debian's python3-pandas, python3-sqlalchemy and python3-psycopg2.
"""
import argparse
import json
import resource
import time

t_start = time.perf_counter()

import pandas as pd  # noqa: E402
import sqlalchemy  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--db", required=True, help="postgres://user@host:port/db")
    p.add_argument("--file", required=True)
    p.add_argument("--schema", default="staging")
    p.add_argument("--table", default="order_details")
    p.add_argument("--chunksize", type=int, default=1000)
    a = p.parse_args()

    url = a.db.replace("postgres://", "postgresql+psycopg2://", 1)
    engine = sqlalchemy.create_engine(url)
    t0 = time.perf_counter()
    df = pd.read_csv(a.file)
    t1 = time.perf_counter()
    with engine.begin() as conn:
        df.to_sql(a.table, conn, schema=a.schema, if_exists="append", index=False, method="multi", chunksize=a.chunksize)
    t2 = time.perf_counter()
    engine.dispose()
    print(
        json.dumps(
            {
                "rows": int(len(df)),
                "importSeconds": t0 - t_start,
                "readSeconds": t1 - t0,
                "writeSeconds": t2 - t1,
                "loadSeconds": t2 - t0,
                "peakRssKiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "pandas": pd.__version__,
                "sqlalchemy": sqlalchemy.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
