"""HAProxy's per-server records as the canary reads them: request log lines and the switched-away counters."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from gameday.targets.local.requestlog import RequestLog, parse, served, switched_away

OK = ('127.0.0.1:52226 [29/Nov/2026:17:09:45.600] svc-lb svc/replica-0 0/0/0/2/2 200 1912 - - ---- 2/1/0/0/0 0/0 '
      '"GET /api/products HTTP/1.1"')
SLOW = ('127.0.0.1:52227 [29/Nov/2026:17:09:45.700] svc-lb svc/replica-1 0/0/1/151/153 200 1912 - - ---- 2/1/0/0/0 '
        '0/0 "GET /api/products HTTP/1.1"')
BROKEN = ('127.0.0.1:52228 [29/Nov/2026:17:09:45.800] svc-lb svc/replica-1 0/0/0/-1/12 502 204 - - SH-- 2/1/0/0/0 0/0 '
          '"POST /api/orders HTTP/1.1"')
NOSRV = ('127.0.0.1:53782 [29/Nov/2026:17:09:11.883] svc-lb svc/<NOSRV> 0/-1/-1/-1/0 503 217 - - SC-- 2/1/0/0/0 0/0 '
         '"GET /api/products HTTP/1.1"')
ABORTED = ('127.0.0.1:53790 [29/Nov/2026:17:09:12.000] svc-lb svc/replica-0 0/0/0/-1/2001 -1 0 - - CD-- 2/1/0/0/0 '
           '0/0 "GET /api/products HTTP/1.1"')
REDISPATCHED = ('127.0.0.1:58562 [29/Nov/2026:17:17:37.498] svc-lb svc/replica-1 0/0/0/47/47 201 160 - - ---- '
                '5/4/0/0/+1 0/0 "POST /api/orders HTTP/1.1"')
OTHER_FRONTEND = ('127.0.0.1:42694 [29/Nov/2026:17:09:46.006] prometheus prometheus/<PROMEX> 0/0/0/0/0 200 62866 - - '
                  'LR-- 1/1/0/0/0 0/0 "GET /metrics HTTP/1.1"')
NOTICE = "[WARNING]  (10101) : Server svc/replica-0 is DOWN, reason: Layer4 connection problem"


def test_parse_takes_server_time_status_and_total_time() -> None:
    r = parse(OK)
    assert r is not None
    assert (r.frontend, r.server, r.status, r.total_ms, r.failed) == ("svc-lb", "replica-0", 200, 2.0, False)
    assert r.at == datetime(2026, 11, 29, 17, 9, 45, 600000).timestamp()
    assert parse(NOTICE) is None


def test_failures_are_5xx_and_no_answer() -> None:
    assert parse(BROKEN).failed and parse(BROKEN).status == 502  # type: ignore[union-attr]
    assert parse(ABORTED).failed and parse(ABORTED).status == -1  # type: ignore[union-attr]
    assert parse(NOSRV).server == "<NOSRV>"  # type: ignore[union-attr]
    assert parse(REDISPATCHED).server == "replica-1"  # type: ignore[union-attr]


def test_served_counts_one_side_and_times_only_its_successes() -> None:
    requests = [parse(line) for line in (OK, SLOW, BROKEN, NOSRV, ABORTED, REDISPATCHED)]
    canary = served([r for r in requests if r], ["replica-1"])
    assert (canary.requests, canary.failures) == (3, 1)
    assert canary.latencies_ms == (153.0, 47.0)
    assert canary.first_at == parse(SLOW).at  # type: ignore[union-attr]
    primary = served([r for r in requests if r], ["replica-0", "replica-2"], switched_away=4)
    assert (primary.requests, primary.failures, primary.latencies_ms) == (6, 5, (2.0,))  # NOSRV belongs to no side


def test_request_log_reads_only_what_was_appended_for_its_frontend(tmp_path: Path) -> None:
    path = tmp_path / "load-balancer.log"
    path.write_text(OK + "\n")
    log = RequestLog(path, "svc-lb")  # starts at the end: earlier lines belong to nobody's window
    assert log.read_new() == []
    with path.open("a") as fh:
        fh.write(NOTICE + "\n" + OTHER_FRONTEND + "\n" + SLOW + "\n" + BROKEN[:40])  # a half-written line
    assert [r.server for r in log.read_new()] == ["replica-1"]
    with path.open("a") as fh:
        fh.write(BROKEN[40:] + "\n")
    assert [r.status for r in log.read_new()] == [502]
    path.write_text(OK + "\n")  # replaced (a new stack): read from its start
    assert [r.server for r in log.read_new()] == ["replica-0"]


def test_missing_log_reads_nothing(tmp_path: Path) -> None:
    assert RequestLog(tmp_path / "none.log", "svc-lb").read_new() == []


def test_switched_away_reads_wredis_per_server_of_the_backend() -> None:
    csv_text = ("# pxname,svname,stot,wretr,wredis,status\n"
                "svc-lb,FRONTEND,10,,,OPEN\n"
                "svc,replica-0,1043,0,933,UP\n"
                "svc,replica-1,12350,0,0,UP\n"
                "svc,BACKEND,24815,0,933,UP\n"
                "other,replica-0,5,0,7,UP\n")
    assert switched_away(csv_text, "svc") == {"replica-0": 933, "replica-1": 0}
