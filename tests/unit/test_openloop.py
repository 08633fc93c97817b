"""The open-loop client's arithmetic: nearest-rank percentiles, and a report in milliseconds
that counts failures apart from latencies."""
import pytest

from apps.openloop import main, percentile, summary


def test_nearest_rank_percentiles():
    values = [i / 1000 for i in range(1, 1001)]          # 1 ms .. 1000 ms
    assert percentile(values, 0.5) == 0.5
    assert percentile(values, 0.99) == 0.99
    assert percentile(values, 0.999) == 0.999
    assert percentile([0.2], 0.99) == 0.2
    assert percentile([], 0.5) is None


def test_the_report_is_in_milliseconds_and_counts_errors_apart():
    report = summary(100, 1, [0.002, 0.001, 0.004], errors=2)
    assert report == {"rate": 100, "seconds": 1, "sent": 5, "ok": 3, "errors": 2, "mean": 2.33, "p50": 2.0,
                      "p90": 4.0, "p99": 4.0, "p999": 4.0, "max": 4.0}
    assert summary(100, 1, [], errors=3)["p99"] is None


@pytest.mark.parametrize("args, message", [
    (["--url", "http://x/", "--rate", "0"], "--rate must be from 1 to 5000"),
    (["--url", "http://x/", "--rate", "5000", "--seconds", "100"], "rate x seconds at most"),
    (["--url", "http://x/", "--timeout", "0"], "--timeout must be from 0.01 to 60"),
    (["--url", "ftp://x/"], "--url must be an http:// URL"),
])
def test_bad_flags_are_refused_naming_the_flag(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
