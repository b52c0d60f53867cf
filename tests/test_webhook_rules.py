"""network.core.webhooks without a database: URLs and filters at their boundaries, the retry schedule, what is
signed."""

from __future__ import annotations

from network.core import webhooks as rules


def test_urls():
    ok = lambda url, local=False: rules.url_problem(url, allow_http_localhost=local)  # noqa: E731
    assert ok("https://example.com/hooks") is None
    assert ok("https://example.com:8443/a?b=c") is None
    assert ok("https://" + "a" * (rules.MAX_URL_LENGTH - 8)) is None  # 2,048 characters
    assert ok("https://" + "a" * (rules.MAX_URL_LENGTH - 7)) == "must be 1 to 2048 characters"
    assert ok("") == "must be 1 to 2048 characters"
    assert ok("http://example.com/") == "must be https"
    assert ok("http://example.com/", local=True) == "must be https"  # the allowance is for local hosts only
    for local in ("http://localhost:8000/x", "http://127.0.0.1/x", "http://[::1]:9/x"):
        assert ok(local, local=True) is None
        assert ok(local) == "must be https (plain http to localhost is not allowed on this network)"
    assert ok("http://127.0.0.2/x", local=True) == "must be https"
    assert ok("https://u:p@example.com/") == "must not carry a user name or password"
    assert ok("https://example.com/#frag") == "must not have a fragment"
    assert ok("https://example.com:99999/") == "is not a valid URL"
    assert ok("https://exa mple.com/") == "must be ASCII without spaces or control characters"
    assert ok("https://exämple.com/") == "must be ASCII without spaces or control characters"
    assert ok("https:///path") == "must name a host"


def test_filters():
    assert rules.filter_problem([]) is None
    assert rules.filter_problem(["points.earned", "credit.threshold_crossed"]) is None
    assert rules.filter_problem(["points.earned", "points.earned"]) == "names an event type twice"
    assert rules.filter_problem(["points.Earned"]).startswith("unknown event type 'points.Earned'")
    assert rules.filter_problem(["x"] * (rules.MAX_EVENT_TYPES + 1)) == "must name at most 32 event types"
    assert rules.wants((), "points.earned") and rules.wants(("points.earned",), "points.earned")
    assert not rules.wants(("points.redeemed",), "points.earned")


def test_the_retry_schedule():
    short = rules.RetrySchedule(1, 2, 4, 10)
    assert short.waits() == [1, 2, 4] and short.attempts() == 4  # 1+2+4 = 7; a fourth wait of 4 would end at 11
    assert rules.RetrySchedule(1, 2, 4, 11).waits() == [1, 2, 4, 4]  # ends exactly at the horizon: taken
    assert rules.RetrySchedule(5, 2, 5, 0).attempts() == 1
    default = rules.RetrySchedule(5, 2, 6 * 3600, 3 * 86400)
    assert sum(default.waits()) <= 3 * 86400 < sum(default.waits()) + 6 * 3600


def test_what_is_signed():
    assert rules.webhook_id("shop-1", 42) == "evt_shop-1_42"
    assert rules.signed_content("evt_shop-1_42", 1796000000, b'{"a":1}') == b'evt_shop-1_42.1796000000.{"a":1}'
