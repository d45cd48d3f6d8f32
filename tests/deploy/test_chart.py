"""The Helm chart (deploy/helm/mboa, docs/deploy.md): rendered by Helm's own engine (the Go SDK
through helm-python-sdk, no helm binary, no cluster) for each environment's values, every core
manifest validated against the Kubernetes schemas (kubernetes-validate, strict), and the points
that matter asserted."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml
from helm_python import _native

from mboa.config import Settings

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "mboa"
ENVIRONMENTS = ("dev", "staging", "prod")
KUBERNETES_VERSION = "1.30"  # the oldest EKS version docs/deploy.md supports
OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}
OPERATOR_API = "monitoring.coreos.com/v1"
HOOK_KINDS = {"ConfigMap", "Secret", "ServiceAccount"}


def _values(environment: str, **overrides: Any) -> dict[str, Any]:
    values = yaml.safe_load((CHART / f"values-{environment}.yaml").read_text())
    for dotted, value in overrides.items():
        node = values
        *path, last = dotted.split(".")
        for key in path:
            node = node.setdefault(key, {})
        node[last] = value
    return values


def render(
    environment: str,
    *,
    api_versions: Iterable[str] = (),
    release: str = "mboa",
    **overrides: Any,
) -> list[dict[str, Any]]:
    """The chart's manifests as `helm install` would send them to a Kubernetes 1.30 cluster
    serving `api_versions` besides the built-in ones.

    helm-python-sdk's `Chart.render` passes no API versions, so "auto" could never see the
    Prometheus operator; its native `helm_render` takes them (`.Capabilities.APIVersions`), as
    `helm template --api-versions` does."""
    chart = helm.Chart.load(CHART)
    options = {
        "name": release,
        "namespace": "payments",
        "kube_version": f"v{KUBERNETES_VERSION}.0",
        "api_versions": list(api_versions),
    }
    values = _values(environment, **overrides)
    rendered: dict[str, str] = json.loads(
        _native.call_string("helm_render", chart._raw(), json.dumps(values), json.dumps(options))
    )
    return [
        doc
        for text in rendered.values()
        for doc in yaml.safe_load_all(text)
        if doc  # templates that render nothing
    ]


def _by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _deployment(docs: list[dict[str, Any]], component: str) -> dict[str, Any]:
    return _by_kind(docs, "Deployment")[f"mboa-{component}"]


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def docs(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(request.param)


def test_helm_lint_is_clean() -> None:
    for environment in ENVIRONMENTS:
        report = helm.lint(CHART, _values(environment), strict=True)
        problems = [m for m in report["messages"] if m["severity"] >= 2]
        assert problems == [], (environment, problems)
        assert report["errors"] == []


def test_every_manifest_is_valid_for_kubernetes(docs: list[dict[str, Any]]) -> None:
    validated = 0
    for doc in docs:
        if doc["kind"] in OPERATOR_KINDS:
            continue  # CRDs: no schema in kubernetes-validate; checked in their own test
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        validated += 1
    assert validated >= 12


def test_a_schema_violation_is_caught() -> None:
    # The validator is live: a typo in a Deployment's field fails.
    deployment = dict(_deployment(render("prod"), "api"))
    deployment["spec"] = {**deployment["spec"], "replica": 2}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_a_deployment_per_process_and_exactly_one_scheduler(docs: list[dict[str, Any]]) -> None:
    deployments = _by_kind(docs, "Deployment")
    assert {"mboa-api", "mboa-worker", "mboa-scheduler"} <= set(deployments)
    scheduler = deployments["mboa-scheduler"]["spec"]
    assert scheduler["replicas"] == 1
    assert scheduler["strategy"] == {"type": "Recreate"}
    for name, deployment in deployments.items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        component = name.removeprefix("mboa-")
        assert container["args"][0] == component
        assert container["image"].endswith(":0.1.0")


def test_probes(docs: list[dict[str, Any]]) -> None:
    (api,) = _deployment(docs, "api")["spec"]["template"]["spec"]["containers"]
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["readinessProbe"]["httpGet"]["port"] == "http"
    # One slow probe does not take a pod out; a draining one is out before it stops accepting.
    readiness = api["readinessProbe"]
    assert readiness["failureThreshold"] >= 2
    drain = float(_by_kind(docs, "ConfigMap")["mboa-config"]["data"]["MBOA_API__DRAIN_SECONDS"])
    assert readiness["periodSeconds"] * readiness["failureThreshold"] <= drain
    (worker,) = _deployment(docs, "worker")["spec"]["template"]["spec"]["containers"]
    assert worker["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert worker["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    (scheduler,) = _deployment(docs, "scheduler")["spec"]["template"]["spec"]["containers"]
    assert scheduler["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    (health,) = scheduler["ports"]
    assert health["containerPort"] == Settings().metrics.scheduler_port


def _pod_specs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d["spec"]["template"]["spec"] for d in docs if d["kind"] in {"Deployment", "Job"}]


def test_pods_are_locked_down(docs: list[dict[str, Any]]) -> None:
    pods = _pod_specs(docs)
    assert len(pods) >= 4  # api, worker, scheduler, migration job
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] >= 1000
        assert pod["automountServiceAccountToken"] is False
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert all("emptyDir" in v for v in volumes.values()), "only scratch volumes"
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["runAsNonRoot"] is True
            assert context["capabilities"]["drop"] == ["ALL"]
            assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}
            resources = container["resources"]
            assert set(resources["requests"]) == {"cpu", "memory"}
            assert set(resources["limits"]) == {"cpu", "memory"}


def _hooks(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if "helm.sh/hook" in d["metadata"].get("annotations", {})]


def _env_sources(container: dict[str, Any]) -> tuple[set[str], set[str]]:
    config_maps = {s["configMapRef"]["name"] for s in container["envFrom"]}
    secrets = {e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"]}
    return config_maps, secrets


def test_migrations_run_as_a_hook_before_install_and_upgrade(docs: list[dict[str, Any]]) -> None:
    (job,) = _by_kind(docs, "Job").values()
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["db", "upgrade"]
    # What the hook reads exists before it: hook-made copies with a lower weight, deleted once
    # every hook succeeded (and before the next run's are made).
    weight = int(annotations["helm.sh/hook-weight"])
    copies = {(d["kind"], d["metadata"]["name"]): d for d in _hooks(docs) if d is not job}
    assert {kind for kind, _ in copies} <= HOOK_KINDS
    for copy in copies.values():
        hook = copy["metadata"]["annotations"]
        assert hook["helm.sh/hook"] == annotations["helm.sh/hook"]
        assert int(hook["helm.sh/hook-weight"]) < weight
        assert set(hook["helm.sh/hook-delete-policy"].split(",")) == {
            "before-hook-creation",
            "hook-succeeded",
        }
    config_maps, secrets = _env_sources(container)
    assert config_maps == {"mboa-migrate"}
    assert ("ConfigMap", "mboa-migrate") in copies
    release_config = _by_kind(docs, "ConfigMap")["mboa-config"]
    assert copies[("ConfigMap", "mboa-migrate")]["data"] == release_config["data"]
    for secret in secrets:  # the chart's own Secret is copied; an existing one is not ours
        if ("Secret", secret) not in copies:
            assert secret not in _by_kind(docs, "Secret")
    service_account = job["spec"]["template"]["spec"]["serviceAccountName"]
    assert ("ServiceAccount", service_account) in copies
    assert (
        "eks.amazonaws.com/role-arn"
        not in copies[("ServiceAccount", service_account)]["metadata"]["annotations"]
    )


def test_the_releases_own_config_secret_and_account_are_not_hooks(
    docs: list[dict[str, Any]],
) -> None:
    """`helm rollback` and `helm uninstall` manage only a release's ordinary resources: the
    Deployments' ConfigMap, Secret and ServiceAccount must be those, never hooks."""
    hooks = {(d["kind"], d["metadata"]["name"]) for d in _hooks(docs)}
    deployments = _by_kind(docs, "Deployment")
    assert deployments
    for deployment in deployments.values():
        pod = deployment["spec"]["template"]["spec"]
        assert ("ServiceAccount", pod["serviceAccountName"]) not in hooks
        assert pod["serviceAccountName"] in _by_kind(docs, "ServiceAccount")
        for container in pod["containers"]:
            config_maps, secrets = _env_sources(container)
            assert config_maps == {"mboa-config"}
            assert not {("ConfigMap", n) for n in config_maps} & hooks
            assert not {("Secret", n) for n in secrets} & hooks
    for kind in HOOK_KINDS:
        for name, doc in _by_kind(docs, kind).items():
            if (kind, name) not in hooks:
                assert "helm.sh/hook" not in doc["metadata"].get("annotations", {})
    assert "mboa-config" in _by_kind(docs, "ConfigMap")


def test_every_configured_variable_is_a_setting(docs: list[dict[str, Any]]) -> None:
    """Settings ignore unknown variables, so a misspelt key in the chart would silently do
    nothing: each key must name a field."""
    config = _by_kind(docs, "ConfigMap")["mboa-config"]["data"]
    (api,) = _deployment(docs, "api")["spec"]["template"]["spec"]["containers"]
    names = set(config) | {e["name"] for e in api["env"]}
    for name in names:
        assert name.startswith("MBOA_")
        node: Any = Settings
        for part in name.removeprefix("MBOA_").lower().split("__"):
            fields = node.model_fields
            assert part in fields, f"{name}: no setting {part!r}"
            node = fields[part].annotation
    assert config["MBOA_ENV"] in {"production", "development"}


def test_secrets_come_from_an_existing_secret_in_staging_and_prod() -> None:
    for environment, name in (("staging", "mboa-staging"), ("prod", "mboa-prod")):
        docs = render(environment)
        assert _by_kind(docs, "Secret") == {}
        (api,) = _deployment(docs, "api")["spec"]["template"]["spec"]["containers"]
        references = {e["valueFrom"]["secretKeyRef"]["name"] for e in api["env"]}
        assert references == {name}
    dev = render("dev")
    assert set(_by_kind(dev, "Secret")) == {"mboa-secrets", "mboa-migrate"}


def _secret_keys(docs: list[dict[str, Any]]) -> dict[str, bool]:
    (api,) = _deployment(docs, "api")["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["valueFrom"]["secretKeyRef"]["optional"] for e in api["env"]}


def test_mail_and_file_storage_are_wired_in_staging_and_prod() -> None:
    for environment in ("staging", "prod"):
        docs = render(environment)
        config = _by_kind(docs, "ConfigMap")["mboa-config"]["data"]
        assert config["MBOA_STORAGE__BACKEND"] == "s3"
        assert config["MBOA_STORAGE__S3_BUCKET"]
        assert config["MBOA_STORAGE__S3_REGION"]
        assert config["MBOA_MAIL__HOST"]
        assert config["MBOA_MAIL__PORT"] == "587"
        assert config["MBOA_MAIL__USERNAME"]
        keys = _secret_keys(docs)
        assert keys["MBOA_MAIL__PASSWORD"] is False  # required: no SMTP login without it
        assert keys["MBOA_SENTRY_DSN"] is True
        # The pods' role reads and writes the bucket (IRSA): no keys in the Secret.
        assert "MBOA_STORAGE__S3_ACCESS_KEY_ID" not in keys
        account = _by_kind(docs, "ServiceAccount")["mboa"]
        assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    with_keys = render("prod", **{"storage.s3.credentials": "secret"})
    keys = _secret_keys(with_keys)
    assert keys["MBOA_STORAGE__S3_ACCESS_KEY_ID"] is False
    assert keys["MBOA_STORAGE__S3_SECRET_ACCESS_KEY"] is False


def test_production_refuses_pod_local_files_and_no_smtp_server() -> None:
    with pytest.raises(helm.HelmError, match=r"needs storage.backend=s3"):
        render("prod", **{"storage.backend": "filesystem"})
    with pytest.raises(helm.HelmError, match=r"needs storage.backend=s3"):
        render("staging", **{"config.MBOA_STORAGE__BACKEND": "filesystem"})
    with pytest.raises(helm.HelmError, match=r"needs mail.host"):
        render("prod", **{"mail.host": ""})
    with pytest.raises(helm.HelmError, match=r"storage.s3.bucket is required"):
        render("prod", **{"storage.s3.bucket": ""})
    # A sandbox may keep files in its pods.
    config = _by_kind(render("dev"), "ConfigMap")["mboa-config"]["data"]
    assert config["MBOA_STORAGE__BACKEND"] == "filesystem"


def test_the_chart_made_secret_needs_the_mail_password_when_a_login_is_set() -> None:
    with pytest.raises(helm.HelmError, match=r"secrets.values.MBOA_MAIL__PASSWORD is required"):
        render("dev", **{"mail.host": "smtp.example.com", "mail.username": "mboa"})
    docs = render(
        "dev",
        **{
            "mail.host": "smtp.example.com",
            "mail.username": "mboa",
            "secrets.values.MBOA_MAIL__PASSWORD": "dev-smtp-password",
        },
    )
    assert _by_kind(docs, "Secret")["mboa-secrets"]["stringData"]["MBOA_MAIL__PASSWORD"]


def test_ingress_terminates_tls_for_its_host(docs: list[dict[str, Any]]) -> None:
    (ingress,) = _by_kind(docs, "Ingress").values()
    (tls,) = ingress["spec"]["tls"]
    (rule,) = ingress["spec"]["rules"]
    assert tls["hosts"] == [rule["host"]]
    assert tls["secretName"]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] in _by_kind(docs, "Service")


def test_autoscaling_api_on_cpu_and_workers_on_queue_depth() -> None:
    hpas = _by_kind(render("prod"), "HorizontalPodAutoscaler")
    (api_metric,) = hpas["mboa-api"]["spec"]["metrics"]
    assert api_metric["resource"]["name"] == "cpu"
    (worker_metric,) = hpas["mboa-worker"]["spec"]["metrics"]
    assert worker_metric["type"] == "External"
    assert worker_metric["external"]["metric"]["name"] == "mboa_queue_waiting_jobs"
    # An autoscaled Deployment leaves replicas to its HPA (a rollout would reset them).
    assert "replicas" not in _deployment(render("prod"), "api")["spec"]
    assert _by_kind(render("dev"), "HorizontalPodAutoscaler") == {}


def test_disruption_budgets(docs: list[dict[str, Any]]) -> None:
    budgets = _by_kind(docs, "PodDisruptionBudget")
    assert set(budgets) == {"mboa-api", "mboa-worker"}
    prod = _by_kind(render("prod"), "PodDisruptionBudget")
    assert prod["mboa-api"]["spec"]["minAvailable"] == 2


def test_graceful_shutdown_fits_the_termination_grace_period(docs: list[dict[str, Any]]) -> None:
    pod = _deployment(docs, "api")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    config = _by_kind(docs, "ConfigMap")["mboa-config"]["data"]
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    drain = float(config["MBOA_API__DRAIN_SECONDS"])
    graceful = float(config["MBOA_API__GRACEFUL_SHUTDOWN_SECONDS"])
    assert pre_stop > 0
    assert drain > 0
    assert pod["terminationGracePeriodSeconds"] > pre_stop + drain + graceful
    worker = _deployment(docs, "worker")["spec"]["template"]["spec"]
    assert worker["terminationGracePeriodSeconds"] > float(
        config["MBOA_WORKER__SHUTDOWN_GRACE_SECONDS"]
    )


def test_network_policies_deny_by_default(docs: list[dict[str, Any]]) -> None:
    policies = _by_kind(docs, "NetworkPolicy")
    deny = policies["mboa-default-deny"]["spec"]
    assert deny["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny
    assert "egress" not in deny
    assert deny["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "mboa",
        "app.kubernetes.io/instance": "mboa",
    }
    api = policies["mboa-api"]["spec"]
    http_rule = api["ingress"][0]
    assert http_rule["ports"] == [{"protocol": "TCP", "port": 8000}]
    assert http_rule["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "ingress-nginx"
    }
    internet = api["egress"][0]["to"][0]["ipBlock"]
    assert "10.0.0.0/8" in internet["except"]
    # The processes that send e-mail reach the SMTP server's port (587 here).
    for name in ("mboa-api", "mboa-worker"):
        ports = {p["port"] for p in policies[name]["spec"]["egress"][0]["ports"]}
        assert ports == {443, 80, 587}, name


def test_simulator_only_in_sandbox_environments() -> None:
    dev = render("dev")
    assert "mboa-simulator" in _by_kind(dev, "Deployment")
    assert "mboa-simulator" in _by_kind(dev, "NetworkPolicy")
    assert "mboa-simulator" not in _by_kind(render("prod"), "Deployment")
    with pytest.raises(helm.HelmError, match=r"sandbox environments"):
        render("prod", **{"simulator.enabled": True})


def test_the_sandbox_follows_its_release_name_and_public_url() -> None:
    """The adapters reach this release's simulators whatever the release is called, and the
    MTN simulator accepts the callback URLs the application builds from publicUrl."""
    docs = render("dev", release="sandbox")
    config = _by_kind(docs, "ConfigMap")["sandbox-mboa-config"]["data"]
    (service,) = [
        s for s in _by_kind(docs, "Service").values() if "simulator" in s["metadata"]["name"]
    ]
    ports = {p["port"] for p in service["spec"]["ports"]}
    name = service["metadata"]["name"]
    assert config["MBOA_PROVIDERS__MTN_MOMO__BASE_URL"] == f"http://{name}:8101"
    assert config["MBOA_PROVIDERS__ORANGE_MONEY__BASE_URL"] == f"http://{name}:8102"
    assert config["MBOA_PROVIDERS__ORANGE_MONEY__WEBPAY__BASE_URL"] == f"http://{name}:8102"
    assert ports == {8101, 8102}
    assert config["MBOA_PROVIDERS__SIMULATOR__MTN_CALLBACK_HOST"] == "api.dev.mboa.example"
    assert config["MBOA_API__PUBLIC_URL"] == "https://api.dev.mboa.example"
    # The callbacks go to publicUrl (https, port 443): through the ingress controller or the
    # load balancer's public address; straight to the API's pods too.
    egress = _by_kind(docs, "NetworkPolicy")["sandbox-mboa-simulator"]["spec"]["egress"]
    to_api, to_public_url = egress
    assert to_api["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "api"
    assert {p["port"] for p in to_public_url["ports"]} == {443, 80}
    ingress_namespace, internet = to_public_url["to"]
    assert ingress_namespace["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "ingress-nginx"
    }
    assert internet["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert "10.0.0.0/8" in internet["ipBlock"]["except"]


def test_prometheus_operator_objects_when_asked_or_present() -> None:
    # "auto" without the operator's API: nothing to apply that would fail.
    for environment in ENVIRONMENTS:
        assert not [d for d in render(environment) if d["kind"] in OPERATOR_KINDS], environment
    # "auto" where the cluster serves it (staging and prod leave the default, never force it).
    for environment in ("staging", "prod"):
        assert "prometheusOperator" not in _values(environment).get("monitoring", {})
    docs = render("prod", api_versions=[OPERATOR_API])
    assert {d["kind"] for d in docs} >= OPERATOR_KINDS
    # Forced for `helm template` without a cluster; forced off even where it is served.
    assert {d["kind"] for d in render("dev", **{"monitoring.prometheusOperator": True})} >= (
        OPERATOR_KINDS
    )
    off = render("prod", api_versions=[OPERATOR_API], **{"monitoring.prometheusOperator": "false"})
    assert not [d for d in off if d["kind"] in OPERATOR_KINDS]
    (monitor,) = _by_kind(docs, "ServiceMonitor").values()
    assert monitor["apiVersion"] == OPERATOR_API
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    (endpoint,) = monitor["spec"]["endpoints"]
    selector = monitor["spec"]["selector"]["matchLabels"].items()
    services = _by_kind(docs, "Service")
    scraped = {n for n, s in services.items() if selector <= s["metadata"]["labels"].items()}
    assert scraped == {"mboa-api-metrics", "mboa-worker-metrics", "mboa-scheduler-metrics"}
    policies = _by_kind(docs, "NetworkPolicy")
    for name in scraped:
        (port,) = services[name]["spec"]["ports"]
        assert port["name"] == endpoint["port"]
        component = name.removeprefix("mboa-").removesuffix("-metrics")
        (container,) = _deployment(docs, component)["spec"]["template"]["spec"]["containers"]
        (target,) = [p for p in container["ports"] if p["name"] == port["targetPort"]]
        assert port["port"] == target["containerPort"]
        # Prometheus' namespace may reach that port (by number or by name).
        admitted = [
            rule
            for rule in policies[f"mboa-{component}"]["spec"]["ingress"]
            if {p["port"] for p in rule["ports"]} & {target["containerPort"], target["name"]}
        ]
        assert [r["from"][0]["namespaceSelector"] for r in admitted] == [
            {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
        ], component
        # targetLabels copy these Service labels onto every series.
        for label in monitor["spec"]["targetLabels"]:
            assert label in services[name]["metadata"]["labels"]


# The Prometheus operator's CRDs (monitoring.coreos.com/v1) as far as this chart uses them:
# their required fields, the types and the duration format, and no field they do not define
# (closed objects, as kubernetes-validate's strict mode checks the core kinds).
_DURATION = {
    "type": "string",
    "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$",
}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "minLength": 1}, "labels": _STRING_MAP},
}
OPERATOR_SCHEMAS: dict[str, dict[str, Any]] = {
    "ServiceMonitor": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": OPERATOR_API},
            "kind": {"const": "ServiceMonitor"},
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["endpoints", "selector"],
                "additionalProperties": False,
                "properties": {
                    "selector": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"matchLabels": _STRING_MAP},
                    },
                    "endpoints": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "port": {"type": "string"},
                                "path": {"type": "string"},
                                "interval": _DURATION,
                                "scrapeTimeout": _DURATION,
                            },
                        },
                    },
                    "jobLabel": {"type": "string"},
                    "targetLabels": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
    "PrometheusRule": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": OPERATOR_API},
            "kind": {"const": "PrometheusRule"},
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "groups": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name"],
                            "additionalProperties": False,
                            "properties": {
                                "name": {"type": "string", "minLength": 1},
                                "interval": _DURATION,
                                "rules": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["expr"],
                                        "additionalProperties": False,
                                        "properties": {
                                            "alert": {"type": "string"},
                                            "record": {"type": "string"},
                                            "expr": {"type": ["string", "integer"]},
                                            "for": _DURATION,
                                            "keep_firing_for": _DURATION,
                                            "labels": _STRING_MAP,
                                            "annotations": _STRING_MAP,
                                        },
                                    },
                                },
                            },
                        },
                    }
                },
            },
        },
    },
}


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_operator_objects_match_their_crds(environment: str) -> None:
    docs = [
        d for d in render(environment, api_versions=[OPERATOR_API]) if d["kind"] in OPERATOR_KINDS
    ]
    assert {d["kind"] for d in docs} == OPERATOR_KINDS
    for doc in docs:
        jsonschema.validate(doc, OPERATOR_SCHEMAS[doc["kind"]])
    # The schema is live: a misspelt field and a malformed duration fail.
    (rule,) = [d for d in docs if d["kind"] == "PrometheusRule"]
    broken = json.loads(json.dumps(rule))
    broken["spec"]["groups"][0]["rules"][0]["for"] = "2 minutes"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, OPERATOR_SCHEMAS["PrometheusRule"])
    (monitor,) = [d for d in docs if d["kind"] == "ServiceMonitor"]
    broken = json.loads(json.dumps(monitor))
    broken["spec"]["endpoint"] = broken["spec"].pop("endpoints")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, OPERATOR_SCHEMAS["ServiceMonitor"])


def test_the_chart_asks_for_the_kubernetes_version_it_is_tested_against() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["kubeVersion"] == f">={KUBERNETES_VERSION}.0-0"


def test_the_worker_hpa_selects_a_label_the_series_carry() -> None:
    """The HPA's selector reaches prometheus-adapter as label matchers: it must name a label
    that this release's series carry (a ServiceMonitor target label), with the release's
    name, or the metric is empty and the HPA never scales."""
    docs = render("prod", api_versions=[OPERATOR_API], release="payments-eu")
    hpa = _by_kind(docs, "HorizontalPodAutoscaler")["payments-eu-mboa-worker"]
    (metric,) = hpa["spec"]["metrics"]
    selector = metric["external"]["metric"]["selector"]["matchLabels"]
    (monitor,) = _by_kind(docs, "ServiceMonitor").values()
    service = _by_kind(docs, "Service")["payments-eu-mboa-worker-metrics"]
    carried = {
        label.replace(".", "_").replace("/", "_").replace("-", "_"): service["metadata"]["labels"][
            label
        ]
        for label in monitor["spec"]["targetLabels"]
    }
    assert selector == {"app_kubernetes_io_instance": "payments-eu"}
    assert selector.items() <= carried.items()
