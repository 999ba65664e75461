"""The deployment files: compose against the Compose spec's JSON schema plus structural checks,
the Dockerfile's shape, and config/*.yaml against the deployment config model.

There is no Docker engine here and the docker CLI has no compose plugin, so ``docker compose
config`` runs only where it works; the schema is the copy vendored by check-jsonschema.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from memos.configs.loader import apply_env_overrides
from memos.errors import ConfigError
from memos.mem_scheduler.config import DeploymentConfig, load_deployment_config

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker" / "compose.yaml"
DOCKERFILE = REPO / "docker" / "Dockerfile"
PRODUCTION = REPO / "config" / "production.yaml"
EMBEDDED = REPO / "config" / "embedded.yaml"
SECRETS = {"MEMOS__GRAPH_DB__CONFIG__PASSWORD": "s3cret"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _compose_schema() -> dict[str, Any]:
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads((vendor / "compose-spec.json").read_text())


def test_compose_matches_the_compose_specification(compose) -> None:
    validator = jsonschema.Draft7Validator(_compose_schema())
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_schema_check_catches_a_broken_file(compose) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["redis"]["healthcheck"]["interval"] = ["not", "a", "duration"]
    broken["services"]["worker"]["depends_on"]["redis"]["condition"] = "service_ready"
    validator = jsonschema.Draft7Validator(_compose_schema())
    assert len(list(validator.iter_errors(broken))) >= 2


def test_services_healthchecks_and_dependencies(compose) -> None:
    services = compose["services"]
    expected = {"redis", "neo4j", "vllm", "scheduler", "worker", "api", "flower"}
    assert expected <= set(services)
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, name
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no health check"
        for dep, rule in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            assert rule["condition"] == "service_healthy", (name, dep)
            assert services[dep].get("healthcheck"), f"{dep} ({name} waits on it) has no check"
    assert "--appendonly" in services["redis"]["command"]
    assert services["neo4j"]["image"].startswith("neo4j:5")
    assert services["vllm"]["profiles"] == ["gpu"]
    # Optional under the gpu profile: workers must start without it.
    assert services["worker"]["depends_on"]["vllm"]["required"] is False
    assert "--check" in services["scheduler"]["healthcheck"]["test"]
    assert services["worker"]["deploy"]["replicas"] >= 1
    assert "ports" not in services["worker"], "a fixed host port would block --scale worker=N"
    assert services["api"]["command"][:2] == ["memos", "api"]


def test_compose_env_overrides_exist_in_production_yaml(compose) -> None:
    data = yaml.safe_load(PRODUCTION.read_text())
    for name in ("scheduler", "worker", "api"):
        env = compose["services"][name]["environment"]
        for key in env:
            assert key.startswith("MEMOS__"), key
            node: Any = data
            for part in key[len("MEMOS__") :].lower().split("__"):
                assert isinstance(node, dict) and part in node, f"{key}: no such key"
                node = node[part]
        mounts = compose["services"][name]["volumes"]
        assert any(m.endswith(":/etc/memos/production.yaml:ro") for m in mounts)
        assert "/etc/memos/production.yaml" in compose["services"][name]["command"]
    # The same overrides, with compose's ${VAR} replaced, give a valid deployment.
    env = {k: str(v) for k, v in compose["services"]["worker"]["environment"].items()}
    env["MEMOS__GRAPH_DB__CONFIG__PASSWORD"] = "from-env"
    deployment = DeploymentConfig.model_validate(apply_env_overrides(data, env))
    assert deployment.graph_db is not None
    assert deployment.graph_db.config.password == "from-env"  # type: ignore[attr-defined]


def test_dockerfile_is_multi_stage_non_root_with_healthcheck() -> None:
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)", text, flags=re.M)
    assert stages == ["builder", "runtime"]
    builder, runtime = text.split("AS runtime", 1)
    assert "-c constraints.txt" in builder and "python -m venv /opt/venv" in builder
    assert "COPY --from=builder /opt/venv /opt/venv" in runtime
    users = re.findall(r"^USER\s+(\S+)", runtime, flags=re.M)
    assert users and not users[-1].startswith(("root", "0"))
    assert re.search(r"^HEALTHCHECK .*\n?.*memos\", \"scheduler\", \"--check\"", runtime, re.M)
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored


def test_production_yaml_validates_and_env_overrides_apply() -> None:
    with pytest.raises(ConfigError, match="MEMOS__GRAPH_DB__CONFIG__PASSWORD"):
        load_deployment_config(PRODUCTION, env={})
    env = {
        **SECRETS,
        "MEMOS__SCHEDULER__REDIS_URL": "redis://redis.internal:6380/2",
        "MEMOS__WORKERS__CONCURRENCY": "8",
        "MEMOS__LLM__CONFIG__API_BASE": "http://gpu-box:8000/v1",
    }
    deployment = load_deployment_config(PRODUCTION, env=env)
    assert deployment.mode == "production"
    assert deployment.scheduler.redis_url == "redis://redis.internal:6380/2"
    assert deployment.workers.concurrency == 8
    assert deployment.llm is not None and deployment.llm.backend == "vllm"
    assert deployment.llm.config.api_base == "http://gpu-box:8000/v1"  # type: ignore[attr-defined]
    assert deployment.graph_db is not None and deployment.graph_db.backend == "neo4j"
    assert deployment.scheduler.metrics_port == 9100
    with pytest.raises(ConfigError, match=r"workers\.queues"):
        load_deployment_config(PRODUCTION, env={**SECRETS, "MEMOS__WORKERS__QUEUES": "[nope]"})
    with pytest.raises(ConfigError, match=r"scheduler\.max_atempts"):
        load_deployment_config(PRODUCTION, env={**SECRETS, "MEMOS__SCHEDULER__MAX_ATEMPTS": "3"})


def test_embedded_yaml_validates() -> None:
    deployment = load_deployment_config(EMBEDDED, env={})
    assert deployment.mode == "embedded"
    assert deployment.graph_db is not None and deployment.graph_db.backend == "arcadedb"


def test_cli_reads_scheduler_settings_from_a_deployment_file(tmp_path) -> None:
    from memos.mem_scheduler.config import load_any_config

    config, deployment = load_any_config(PRODUCTION, env=SECRETS)
    assert deployment is not None and config == deployment.scheduler
    plain = tmp_path / "s.yaml"
    plain.write_text("redis_url: redis://x:1/0\nprefix: p\n")
    config, deployment = load_any_config(plain, env={})
    assert deployment is None and config.prefix == "p"


def _compose_plugin() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    done = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
    return done.returncode == 0


@pytest.mark.skipif(not _compose_plugin(), reason="no docker compose plugin on this machine")
def test_docker_compose_config_accepts_the_file() -> None:
    done = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
        env={"NEO4J_PASSWORD": "x", "PATH": "/usr/bin:/usr/local/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
