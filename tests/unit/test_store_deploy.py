"""The scaled deployment as shipped: Kubernetes manifests valid against the API's own schemas
(offline, kubernetes-validate), the compose file's services, the nginx site they share."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
# The oldest Kubernetes still commonly run; its schemas hold for the newer ones too.
KUBERNETES_VERSION = "1.29.0"


def documents() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(K8S.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc is not None
    ]


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in documents() if d["kind"] == kind]


@pytest.mark.parametrize(
    "document", documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}"
)
def test_every_manifest_is_valid_for_the_kubernetes_api(document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_validation_is_strict_enough_to_catch_a_misspelt_field() -> None:
    deployment = of_kind("Deployment")[0]
    misspelt = {**deployment, "spec": {**deployment["spec"], "replica": 3}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(misspelt, KUBERNETES_VERSION, strict=True)


def web() -> dict[str, Any]:
    return next(d for d in of_kind("Deployment") if d["metadata"]["name"] == "backprop-lab")


def test_the_app_has_health_probes_resources_and_its_store() -> None:
    deployment = web()
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    env = {e["name"]: e for e in container["env"]}
    assert env["BACKPROP_STORE_URL"]["value"].startswith("redis://:$(REDIS_PASSWORD)@")
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "backprop-redis"
    # The variable a value refers to must come first, or Kubernetes leaves it unexpanded.
    names = [e["name"] for e in container["env"]]
    assert names.index("REDIS_PASSWORD") < names.index("BACKPROP_STORE_URL")
    assert deployment["spec"]["replicas"] >= 2


def test_service_ingress_and_disruption_budget_select_the_app() -> None:
    pods = web()["spec"]["template"]["metadata"]["labels"]
    service = next(s for s in of_kind("Service") if s["metadata"]["name"] == "backprop-lab")
    assert service["spec"]["selector"].items() <= pods.items()
    ingress = of_kind("Ingress")[0]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 600
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "backprop-lab"
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    budget = of_kind("PodDisruptionBudget")[0]
    assert budget["spec"]["selector"]["matchLabels"].items() <= pods.items()
    assert budget["spec"]["minAvailable"] < web()["spec"]["replicas"]


def test_redis_is_deployed_with_a_password_behind_the_name_the_app_uses() -> None:
    redis = next(d for d in of_kind("Deployment") if d["metadata"]["name"] == "backprop-redis")
    container = redis["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:2] == ["--requirepass", "$(REDIS_PASSWORD)"]
    service = next(s for s in of_kind("Service") if s["metadata"]["name"] == "backprop-redis")
    assert (
        service["spec"]["selector"].items()
        <= redis["spec"]["template"]["metadata"]["labels"].items()
    )
    assert service["spec"]["ports"][0]["port"] == 6379


def test_the_compose_file_starts_nginx_redis_and_three_replicas_on_one_store() -> None:
    compose = yaml.safe_load((ROOT / "compose.scale.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"app1", "app2", "app3", "redis", "nginx"}
    for name in ("app1", "app2", "app3"):
        url = services[name]["environment"]["BACKPROP_STORE_URL"]
        assert re.fullmatch(r"redis://:\$\{BACKPROP_REDIS_PASSWORD:\?[^}]*\}@redis:6379/0", url)
    assert "--requirepass" in services["redis"]["command"]
    mount = services["nginx"]["volumes"][0].split(":")
    assert (ROOT / mount[0]).is_file() and mount[1] == "/etc/nginx/conf.d/default.conf"
    site = (ROOT / mount[0]).read_text()
    upstreams = re.findall(r"^\s*server (\S+) max_fails", site, re.MULTILINE)
    assert upstreams == ["app1:8000", "app2:8000", "app3:8000"]
    assert "hash $backprop_affinity consistent;" in site
