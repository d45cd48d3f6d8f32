"""The Grafana dashboard and the alert rules name only series the application exports: every
query is parsed by a PromQL parser (promql-parser, a port of Prometheus' own) and each metric it
selects must be one of this process's registered series (all domains' metrics modules loaded),
with labels those series carry."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client import REGISTRY

from tests.deploy.test_chart import CHART, OPERATOR_API, _by_kind, render

DASHBOARD = CHART / "dashboards" / "mboa.json"
DEPLOY_DOC = Path(__file__).resolve().parents[2] / "docs/deploy.md"
ALERTS = {
    "MboaErrorBudgetBurnFast",
    "MboaErrorBudgetBurnSlow",
    "MboaLatencyP95High",
    "MboaOperatorErrorRateHigh",
    "MboaOutboxLagHigh",
    "MboaQueueStalled",
    "MboaApiDown",
    "MboaWorkersDown",
    "MboaSchedulerDown",
    "MboaLedgerVerifyFailed",
    "MboaLedgerVerifyNotRunning",
    "MboaAuditChainBroken",
}
# Prometheus' own series of each scrape's health, for the alerts on absent processes.
STACK_SERIES = {"up": {"job", "instance", "namespace"}}
# Labels Prometheus adds to every series it scrapes through the ServiceMonitor: the target's
# (job, instance, namespace, service, pod, container, endpoint) and the ServiceMonitor's
# targetLabels (checked against the chart below).
TARGET_LABELS = {
    "job",
    "instance",
    "namespace",
    "service",
    "pod",
    "container",
    "endpoint",
    "app_kubernetes_io_component",
    "app_kubernetes_io_instance",
}
# Worker gauges sampled from shared state (Redis, the outbox table): every worker reports the
# same value, so summing them over pods multiplies it by the worker count.
SHARED_STATE = {
    "mboa_queue_waiting_jobs",
    "mboa_queue_jobs",
    "mboa_outbox_pending",
    "mboa_outbox_lag_seconds",
}
PROBES = ("/healthz", "/readyz")


def exported() -> set[str]:
    """Every series name the API and worker processes can expose."""
    import mboa.app  # the API's modules and their metrics
    import mboa.worker.run  # the worker's
    from mboa.tasks import load_tasks

    assert mboa.app
    assert mboa.worker.run
    load_tasks()
    names: set[str] = set()
    for family in REGISTRY.collect():
        if not family.name.startswith("mboa_"):
            continue
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_sum", "_count"),
            "gauge": ("",),
        }.get(family.type, ("",))
        names.update(family.name + s for s in suffixes)
    return names


def exported_labels() -> dict[str, set[str]]:
    """The label names of each series whose collector declares them (prometheus_client's
    metrics; custom collectors' series are left out: where feasible)."""
    exported()
    labels: dict[str, set[str]] = {}
    for collector, names in REGISTRY._collector_to_names.items():
        declared = getattr(collector, "_labelnames", None)
        if declared is None:
            continue
        for name in names:
            if name.startswith("mboa_"):
                labels[name] = set(declared) | ({"le"} if name.endswith("_bucket") else set())
    return labels


def selected(expression: str) -> set[str]:
    names: set[str] = set()

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)
        return True

    promql_parser.walk(promql_parser.parse(expression), visit)
    return names


def _children(node: Any) -> list[Any]:
    if isinstance(node, promql_parser.AggregateExpr):
        return [node.expr] + ([node.param] if node.param is not None else [])
    if isinstance(node, promql_parser.BinaryExpr):
        return [node.lhs, node.rhs]
    if isinstance(node, promql_parser.Call):
        return list(node.args)
    if isinstance(node, promql_parser.MatrixSelector):
        return [node.vector_selector]
    if isinstance(
        node, promql_parser.ParenExpr | promql_parser.SubqueryExpr | promql_parser.UnaryExpr
    ):
        return [node.expr]
    return []


def selectors(node: Any) -> Iterator[promql_parser.VectorSelector]:
    if isinstance(node, promql_parser.VectorSelector):
        yield node
    for child in _children(node):
        yield from selectors(child)


def grouping_labels(node: Any) -> Iterator[tuple[set[str], set[str]]]:
    """(labels named by `by`/`without`/`on`/`ignoring`/`group_left`, labels the series under
    that node carry), for every aggregation and vector match."""
    if isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
        yield set(node.modifier.labels), {s.name for s in selectors(node.expr)}
    if isinstance(node, promql_parser.BinaryExpr) and node.modifier is not None:
        modifier = node.modifier
        named = set(modifier.matching.labels if modifier.matching is not None else [])
        named |= set(modifier.group_labels or [])
        yield named, {s.name for s in selectors(node)}
    for child in _children(node):
        yield from grouping_labels(child)


def innermost_aggregations(node: Any, above: str | None = None) -> Iterator[tuple[str | None, str]]:
    """(the aggregation closest above a selector, the selector's series), for each selector."""
    if isinstance(node, promql_parser.VectorSelector):
        yield above, node.name
    if isinstance(node, promql_parser.AggregateExpr):
        above = str(node.op)
    for child in _children(node):
        yield from innermost_aggregations(child, above)


def dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def alert_rules() -> list[dict[str, Any]]:
    (rule,) = _by_kind(render("prod", api_versions=[OPERATOR_API]), "PrometheusRule").values()
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def test_the_parser_is_live() -> None:
    assert selected("sum(rate(mboa_a_total[5m])) / on (q) mboa_b") == {"mboa_a_total", "mboa_b"}
    with pytest.raises(ValueError, match="parenthesis"):
        promql_parser.parse("sum(rate(mboa_a_total[5m])")


def test_every_dashboard_query_names_exported_series() -> None:
    names = exported()
    queries = dashboard_queries()
    assert len(queries) >= 25
    for title, expression in queries:
        used = selected(expression)
        assert used, title
        assert used <= names, (title, used - names)


def test_the_dashboard_covers_each_area() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    rows = {p["title"] for p in dashboard["panels"] if p["type"] == "row"}
    assert rows == {
        "API (RED)",
        "Payments per operator",
        "Operator health",
        "Queues and outbox",
        "Webhooks",
        "Ledger and database",
    }
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


def test_every_alert_names_exported_series_and_has_a_runbook() -> None:
    names = exported() | set(STACK_SERIES)
    rules = alert_rules()
    assert {r["alert"] for r in rules} == ALERTS
    runbooks = DEPLOY_DOC.read_text().lower()
    base = yaml.safe_load((CHART / "values.yaml").read_text())["monitoring"]["runbookBaseUrl"]
    assert base.startswith("https://")
    assert base.endswith("/docs/deploy.md")
    for rule in rules:
        used = selected(rule["expr"])
        assert used, rule["alert"]
        assert used <= names, (rule["alert"], used - names)
        assert rule["labels"]["severity"] in {"critical", "warning"}
        url, anchor = rule["annotations"]["runbook_url"].split("#", 1)
        assert url == base, "an absolute link, from monitoring.runbookBaseUrl"
        assert f"### {anchor}" in runbooks, f"docs/deploy.md has no runbook for {anchor}"


def _check_labels(where: str, expression: str, labels: dict[str, set[str]]) -> int:
    """Every label a query names exists on the series it names; returns the checks made."""
    checked = 0
    tree = promql_parser.parse(expression)
    for selector in selectors(tree):
        known = labels.get(selector.name)
        if known is None:
            continue
        for matcher in selector.matchers.matchers:
            assert matcher.name in known | TARGET_LABELS, (where, selector.name, matcher.name)
            checked += 1
    for named, series in grouping_labels(tree):
        if not series or not series <= labels.keys():
            continue
        carried = set().union(*(labels[s] for s in series)) | TARGET_LABELS
        assert named <= carried, (where, named - carried)
        checked += len(named)
    return checked


def test_queries_name_only_labels_their_series_carry() -> None:
    labels = exported_labels() | STACK_SERIES
    assert labels["mboa_queue_waiting_jobs"] == {"queue"}
    assert labels["mboa_http_request_duration_seconds_bucket"] == {"method", "route", "le"}
    checked = 0
    for title, expression in dashboard_queries():
        checked += _check_labels(title, expression, labels)
    for rule in alert_rules():
        checked += _check_labels(rule["alert"], rule["expr"], labels)
        # `$labels.x` in a summary exists only when the expression keeps x.
        for name in re.findall(r"\$labels\.(\w+)", rule["annotations"]["summary"]):
            kept = [n for n, _ in grouping_labels(promql_parser.parse(rule["expr"]))]
            assert any(name in n for n in kept), (rule["alert"], name)
    assert checked >= 60
    # The check is live: a label the series lacks fails.
    with pytest.raises(AssertionError):
        _check_labels("probe", "sum by (operator) (rate(mboa_provider_calls_total[5m]))", labels)
    with pytest.raises(AssertionError):
        _check_labels("probe", 'mboa_queue_waiting_jobs{provider="mtn"}', labels)


def test_shared_state_is_never_summed_over_workers() -> None:
    """Each worker samples the same queues and outbox: `sum` over pods counts them N times
    (and the HPA would scale on N times the backlog); `max`/`min` read it once."""
    queries = dashboard_queries() + [(r["alert"], r["expr"]) for r in alert_rules()]
    seen = 0
    for where, expression in queries:
        for aggregation, series in innermost_aggregations(promql_parser.parse(expression)):
            if series in SHARED_STATE:
                assert aggregation in {"max", "min"}, (where, series, aggregation)
                seen += 1
    assert seen >= 6
    waiting = [e for t, e in dashboard_queries() if t == "Waiting jobs per queue"]
    assert waiting == ["max by (queue) (mboa_queue_waiting_jobs)"]


# A run's result, set by the one worker that ran the task, beside its last-run time.
RUN_RESULTS = {
    "mboa_ledger_verify_violations": "mboa_ledger_verify_last_run_timestamp_seconds",
    "mboa_audit_chain_ok": "mboa_audit_verify_last_run_timestamp_seconds",
}


def _latest_run_only(node: Any, result: str, last_run: str) -> bool:
    """Whether `result` is read as `result and on (instance) topk(1, last_run > 0)`."""
    if (
        isinstance(node, promql_parser.BinaryExpr)
        and str(node.op) == "and"
        and node.modifier is not None
        and node.modifier.matching is not None
        and list(node.modifier.matching.labels) == ["instance"]
        and {s.name for s in selectors(node.lhs)} == {result}
        and isinstance(node.rhs, promql_parser.AggregateExpr)
        and str(node.rhs.op) == "topk"
        and {s.name for s in selectors(node.rhs.expr)} == {last_run}
        and "> 0" in node.rhs.expr.prettify()
    ):
        return True
    return any(_latest_run_only(child, result, last_run) for child in _children(node))


def test_a_runs_result_is_read_from_the_process_that_ran_it_last() -> None:
    """ledger.verify and audit.verify run on one worker at a time: every other process that
    loads the tasks (other workers, the scheduler) exports the gauges' initial 0 or an older
    run's result. Read only the process with the latest run, or MboaAuditChainBroken fires
    forever beside a healthy chain."""
    queries = dashboard_queries() + [(r["alert"], r["expr"]) for r in alert_rules()]
    seen = 0
    for where, expression in queries:
        tree = promql_parser.parse(expression)
        for result, last_run in RUN_RESULTS.items():
            if result in selected(expression):
                assert _latest_run_only(tree, result, last_run), where
                seen += 1
    assert seen >= 3
    assert not _latest_run_only(
        promql_parser.parse("min(mboa_audit_chain_ok) == 0"),
        "mboa_audit_chain_ok",
        RUN_RESULTS["mboa_audit_chain_ok"],
    )


def _requests_selectors(expression: str) -> list[promql_parser.VectorSelector]:
    return [
        s
        for s in selectors(promql_parser.parse(expression))
        if s.name.startswith("mboa_http_request")
    ]


def _excludes_probes(selector: promql_parser.VectorSelector) -> bool:
    for matcher in selector.matchers.matchers:
        if (
            matcher.name == "route"
            and matcher.op == promql_parser.MatchOp.NotRe
            and all(re.fullmatch(matcher.value, probe) for probe in PROBES)
        ):
            return True
    return False


def test_health_probes_do_not_count_against_the_error_budget() -> None:
    """kubelet's probes are requests too (every 2 s per pod), and /readyz answers 503 while a
    pod drains on purpose: the SLO and latency queries leave both routes out."""
    queries = [(t, e) for t, e in dashboard_queries() if "mboa_http_request" in e]
    queries += [(r["alert"], r["expr"]) for r in alert_rules() if "mboa_http_request" in r["expr"]]
    assert len(queries) >= 7
    for where, expression in queries:
        for selector in _requests_selectors(expression):
            assert _excludes_probes(selector), (where, selector.name)
    assert not _excludes_probes(_requests_selectors('mboa_http_requests_total{route!~"/x"}')[0])


def _adapter_rule() -> dict[str, Any]:
    text = DEPLOY_DOC.read_text()
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "externalRules" in b]
    (rule,) = yaml.safe_load(textwrap.dedent(block))["externalRules"]
    return dict(rule)


def test_the_documented_adapter_rule_feeds_the_worker_hpa() -> None:
    """docs/deploy.md §6's prometheus-adapter rule: named as the HPA's metric, scoped by the
    HPA's namespace and selector (the release), one worker's sample per queue, summed over
    queues."""
    rule = _adapter_rule()
    docs = render("prod", api_versions=[OPERATOR_API], release="payments-eu")
    hpa = _by_kind(docs, "HorizontalPodAutoscaler")["payments-eu-mboa-worker"]
    (metric,) = hpa["spec"]["metrics"]
    name = metric["external"]["metric"]["name"]
    selector = metric["external"]["metric"]["selector"]["matchLabels"]
    assert rule["name"]["as"] == name
    assert selected(rule["seriesQuery"]) == {name}
    assert rule["resources"]["overrides"]["namespace"] == {"resource": "namespace"}
    matchers = ",".join(['namespace="payments"'] + [f'{k}="{v}"' for k, v in selector.items()])
    query = (
        rule["metricsQuery"]
        .replace("<<.Series>>", name)
        .replace("<<.LabelMatchers>>", matchers)
        .replace("<<.GroupBy>>", ",".join(selector))
    )
    tree = promql_parser.parse(query)
    assert isinstance(tree, promql_parser.AggregateExpr)
    assert str(tree.op) == "sum"  # over the queues
    assert not {"queue"} & set(tree.modifier.labels)
    assert list(innermost_aggregations(tree)) == [("max", name)]  # one sample per queue
    (series,) = selectors(tree)
    assert {m.name: m.value for m in series.matchers.matchers} == {
        "namespace": "payments",
        **selector,
    }
    assert "mboa" not in query.replace(name, "").replace("payments-eu", ""), "no fixed release"


def test_the_slo_alert_uses_the_configured_target() -> None:
    (fast,) = [r for r in alert_rules() if r["alert"] == "MboaErrorBudgetBurnFast"]
    assert "(14.4 * (1 - 0.999))" in fast["expr"]


def test_the_chart_provisions_the_dashboard() -> None:
    config_maps = _by_kind(render("prod"), "ConfigMap")
    dashboards = config_maps["mboa-dashboards"]
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboards["data"]["mboa.json"]) == json.loads(DASHBOARD.read_text())


def test_absence_alerts_name_the_scrape_jobs_the_chart_makes() -> None:
    """With every worker gone, queue depth and the outbox vanish and their alerts go silent:
    the absence alerts must select the jobs this release's ServiceMonitor creates (a job is
    the scraped Service's name) in its namespace, or they fire forever or never."""
    docs = render("prod", api_versions=[OPERATOR_API], release="payments-eu")
    (rule,) = _by_kind(docs, "PrometheusRule").values()
    rules = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    services = _by_kind(docs, "Service")
    (monitor,) = _by_kind(docs, "ServiceMonitor").values()
    scraped = monitor["spec"]["selector"]["matchLabels"].items()
    expected = {
        "MboaApiDown": ("up", {"job": "payments-eu-mboa-api-metrics"}),
        "MboaWorkersDown": ("up", {"job": "payments-eu-mboa-worker-metrics"}),
        "MboaSchedulerDown": ("up", {"job": "payments-eu-mboa-scheduler-metrics"}),
    }
    for alert, (series, labels) in expected.items():
        tree = promql_parser.parse(rules[alert]["expr"])
        assert isinstance(tree, promql_parser.Call)
        assert tree.func.name == "absent"
        (selector,) = selectors(tree)
        assert selector.name == series
        matchers = {m.name: m.value for m in selector.matchers.matchers}
        assert matchers == {**labels, "namespace": "payments"}
        service = services[labels["job"]]
        assert scraped <= service["metadata"]["labels"].items(), "a job the ServiceMonitor makes"


def test_prometheus_rule_shape() -> None:
    (rule,) = _by_kind(render("prod", api_versions=[OPERATOR_API]), "PrometheusRule").values()
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    for group in rule["spec"]["groups"]:
        assert set(group) == {"name", "rules"}
        for item in group["rules"]:
            assert set(item) <= {"alert", "expr", "for", "labels", "annotations"}
    assert yaml.safe_dump(rule)  # plain data, nothing left of the templates
