"""The container and service files: Kubernetes manifests against the Kubernetes schemas (offline, with
kubernetes-validate), the Dockerfile's structure (dockerfile-parse), the compose files, and the systemd
unit (``systemd-analyze verify`` where it exists)."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from dockerfile_parse import DockerfileParser

from nostrweet.config import parse_config
from nostrweet.config_schema import CONFIG_SCHEMA

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
K8S_VERSION = "1.30.0"


def manifests() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def resources() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in manifests():
        for doc in documents(path):
            yield path, doc


def pod_specs() -> Iterator[tuple[str, dict[str, Any]]]:
    for path, doc in resources():
        if doc["kind"] in ("Deployment", "StatefulSet"):
            yield f"{path.relative_to(K8S)}:{doc['metadata']['name']}", doc["spec"]["template"]["spec"]


# -- Kubernetes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", manifests(), ids=lambda p: str(p.relative_to(K8S)))
def test_manifest_is_valid_against_the_kubernetes_schema(path: Path) -> None:
    docs = documents(path)
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)  # raises on any error


def test_the_validator_does_reject_a_broken_manifest() -> None:
    path, doc = next((p, d) for p, d in resources() if d["kind"] == "Deployment")
    doc["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"] = {"no": "such"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    doc = documents(path)[0]
    doc["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@pytest.mark.parametrize(
    "kustomization", sorted(K8S.rglob("kustomization.yaml")), ids=lambda p: p.parent.name
)
def test_kustomization_lists_every_manifest_of_its_folder(kustomization: Path) -> None:
    listed = set(yaml.safe_load(kustomization.read_text())["resources"])
    present = {p.name for p in kustomization.parent.glob("*.yaml") if p.name != "kustomization.yaml"}
    assert listed == present


def test_both_variants_have_everything_issue_10_asks_for() -> None:
    for folder in (K8S, K8S / "postgres"):
        kinds = {
            d["kind"] for p in folder.glob("*.yaml") if p.name != "kustomization.yaml" for d in documents(p)
        }
        assert {"ConfigMap", "Secret", "Service"} <= kinds, folder
        assert kinds & {"Deployment", "StatefulSet"}, folder
    single = {d["kind"] for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml" for d in documents(p)}
    assert "PersistentVolumeClaim" in single
    many = next(
        d for p, d in resources() if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "nostrweet"
    )
    assert many["spec"]["replicas"] >= 2 and many["spec"]["volumeClaimTemplates"]


@pytest.mark.parametrize(("where", "spec"), list(pod_specs()), ids=lambda v: v if isinstance(v, str) else "")
def test_pods_probe_health_and_readiness(where: str, spec: dict[str, Any]) -> None:
    container = spec["containers"][0]
    if container["name"] == "postgres":
        return
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert "--http" in container["args"] and "0.0.0.0:8080" in container["args"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


@pytest.mark.parametrize(("where", "spec"), list(pod_specs()), ids=lambda v: v if isinstance(v, str) else "")
def test_secrets_are_files_never_environment(where: str, spec: dict[str, Any]) -> None:
    for container in spec["containers"]:
        for env in container.get("env", []):
            assert "secretKeyRef" not in env.get("valueFrom", {}), (where, env["name"])
        assert not any("secretRef" in e for e in container.get("envFrom", [])), where
        secret_volumes = {v["name"] for v in spec["volumes"] if "secret" in v}
        mounted = {m["name"] for m in container["volumeMounts"]}
        assert secret_volumes and secret_volumes <= mounted, where
        for env in container.get("env", []):
            if env["name"].endswith("_FILE") and "secrets" in env.get("value", ""):
                assert env["value"].startswith("/run/secrets/nostrweet/"), env


def test_secret_keys_match_the_files_the_pods_read() -> None:
    for folder in (K8S, K8S / "postgres"):
        secret = next(d for d in documents(folder / "secret.yaml"))
        keys = set(secret["stringData"])
        for path in folder.glob("*.yaml"):
            for doc in documents(path):
                if doc.get("kind") not in ("Deployment", "StatefulSet"):
                    continue
                for container in doc["spec"]["template"]["spec"]["containers"]:
                    for env in container.get("env", []):
                        value = env.get("value", "")
                        if value.startswith("/run/secrets/nostrweet/"):
                            assert value.rsplit("/", 1)[1] in keys, (path.name, value)


def test_config_maps_hold_a_config_the_daemon_accepts() -> None:
    single = documents(K8S / "configmap.yaml")[0]["data"]["nostrweet.toml"]
    parsed = parse_config(single, Path("configmap.yaml"))
    assert parsed.get("nostr", "relays")
    many = tomllib.loads(documents(K8S / "postgres" / "configmap.yaml")[0]["data"]["nostrweet.toml"])
    assert many["state"]["url"].startswith("postgresql://") and "@" in many["state"]["url"]
    assert ":" not in many["state"]["url"].split("//", 1)[1].split("@", 1)[0]  # no password in the URL
    if "state" in CONFIG_SCHEMA:  # the [state] table of SPEC §7
        parse_config(documents(K8S / "postgres" / "configmap.yaml")[0]["data"]["nostrweet.toml"], Path("x"))


# -- Docker -------------------------------------------------------------------------------------


def dockerfile() -> DockerfileParser:
    parser = DockerfileParser(fileobj=(ROOT / "Dockerfile").open("rb"))
    return parser


def test_dockerfile_structure() -> None:
    parser = dockerfile()
    instructions = parser.structure
    froms = [i["value"].split()[0] for i in instructions if i["instruction"] == "FROM"]
    assert froms and all(f == "python:3.11-slim" for f in froms)
    final = max(i["startline"] for i in instructions if i["instruction"] == "FROM")
    last_stage = [i for i in instructions if i["startline"] >= final]
    users = [i["value"] for i in last_stage if i["instruction"] == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    volumes = [i["value"] for i in last_stage if i["instruction"] == "VOLUME"]
    assert any("/data" in v for v in volumes)
    health = [i["value"] for i in last_stage if i["instruction"] == "HEALTHCHECK"]
    assert len(health) == 1 and "/healthz" in health[0] and "urllib" in health[0]
    assert "curl" not in health[0] and "wget" not in health[0]  # slim has neither
    cmd = next(i["value"] for i in last_stage if i["instruction"] == "CMD")
    assert "--http" in cmd and "0.0.0.0:8080" in cmd
    env = parser.envs
    assert env["NOSTRWEET_DATA_DIR"] == "/data"
    assert "NOSTRWEET_MNEMONIC" not in env and "TWITTER_BEARER_TOKEN" not in env
    for inst in instructions:
        if inst["instruction"] == "COPY" and "--from" not in inst["value"]:
            for source in inst["value"].split()[:-1]:
                assert (ROOT / source).exists(), source


def test_healthcheck_command_runs_against_a_real_server(tmp_path: Path) -> None:
    """The HEALTHCHECK's Python line: exit 0 on 200, non-zero on 503 and when nothing listens."""
    import http.server
    import threading

    status = {"code": 200}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status["code"] if self.path == "/healthz" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    health = next(i["value"] for i in dockerfile().structure if i["instruction"] == "HEALTHCHECK")
    argv = yaml.safe_load(health.split("CMD", 1)[1].strip())  # the JSON exec form
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    code = argv[-1].replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    run = lambda: subprocess.run(["python3", "-c", code], capture_output=True, timeout=30).returncode  # noqa: E731
    try:
        assert run() == 0
        status["code"] = 503
        assert run() != 0
    finally:
        server.shutdown()
        server.server_close()
    assert run() != 0


def test_dockerignore_keeps_the_context_small() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()}
    assert {".git", ".venv", "tests", "secrets"} <= ignored
    assert "src" not in ignored and "README.md" not in ignored and "pyproject.toml" not in ignored


def test_docker_build_where_an_engine_is_available(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "info"], capture_output=True, timeout=30).returncode != 0:
        pytest.skip("no Docker engine here: the Dockerfile is checked structurally only")
    pulled = subprocess.run([docker, "pull", "python:3.11-slim"], capture_output=True, timeout=300)
    if pulled.returncode != 0:
        pytest.skip("the Docker engine cannot pull python:3.11-slim (no registry access)")
    built = subprocess.run(
        [docker, "build", "-t", "nostrweet:test", str(ROOT)], capture_output=True, timeout=1200
    )
    assert built.returncode == 0, built.stderr[-3000:]
    inspect = subprocess.run(
        [
            docker,
            "image",
            "inspect",
            "--format",
            "{{.Config.User}} {{json .Config.Healthcheck}}",
            "nostrweet:test",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert inspect.stdout.startswith("10001") and "/healthz" in inspect.stdout


# -- compose ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["compose.yaml", "compose.postgres.yaml"])
def test_compose_file(name: str) -> None:
    compose = yaml.safe_load((ROOT / name).read_text())
    services = compose["services"]
    daemons = {k: v for k, v in services.items() if k.startswith("nostrweet")}
    assert "relay" in services and daemons
    for service in services.values():
        build = service.get("build")
        if build:
            assert (ROOT / build / "Dockerfile").exists()
    for key, service in daemons.items():
        command = service["command"]
        assert command[:3] == ["daemon", "--http", "0.0.0.0:8080"], key
        env = service["environment"]
        assert not {"NOSTRWEET_MNEMONIC", "TWITTER_BEARER_TOKEN"} & set(env), key
        assert env["NOSTRWEET_MNEMONIC_FILE"].startswith("/run/secrets/")
        assert env["NOSTRWEET_BEARER_TOKEN_FILE"].startswith("/run/secrets/")
        assert set(service["secrets"]) <= set(compose["secrets"])
        for config in service.get("configs", []):
            assert (ROOT / compose["configs"][config["source"]]["file"]).exists()
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), "the HTTP port is published on the loopback only"
    if name == "compose.postgres.yaml":
        assert "postgres" in services and len(daemons) == 2
        urls = {d["environment"]["NOSTRWEET_STATE_URL"] for d in daemons.values()}
        assert len(urls) == 1 and urls.pop().startswith("postgresql://nostrweet@postgres")
        ids = [d["command"][d["command"].index("--instance-id") + 1] for d in daemons.values()]
        assert len(set(ids)) == 2
        volumes = [tuple(d["volumes"]) for d in daemons.values()]
        assert len(set(volumes)) == 2, "each instance has its own data directory"


def test_compose_config_file_loads() -> None:
    parse_config((ROOT / "deploy" / "compose" / "nostrweet.toml").read_text(), Path("nostrweet.toml"))


def test_relay_image_config_listens_on_the_container_address() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "relay" / "config.yaml").read_text())
    assert config["gunicorn"]["bind"] == "0.0.0.0:6969"
    assert config["storage"]["sqlalchemy.url"].endswith("/data/nostr.sqlite3")


# -- systemd ------------------------------------------------------------------------------------

UNIT = ROOT / "deploy" / "systemd" / "nostrweet.service"


def unit_values() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


def test_unit_is_notify_watchdog_and_hardened() -> None:
    v = unit_values()
    assert v["Type"] == ["notify"] and int(v["WatchdogSec"][0]) > 60
    assert (
        v["DynamicUser"] == ["yes"]
        and v["ProtectSystem"] == ["strict"]
        and v["StateDirectory"] == ["nostrweet"]
    )
    assert v["NoNewPrivileges"] == ["yes"] and v["CapabilityBoundingSet"] == [""]
    exec_start = v["ExecStart"][0]
    assert "--mnemonic-file ${CREDENTIALS_DIRECTORY}/mnemonic" in exec_start
    assert "--bearer-token-file ${CREDENTIALS_DIRECTORY}/bearer-token" in exec_start
    assert "--data-dir ${STATE_DIRECTORY}" in exec_start
    assert not any("MNEMONIC=" in e or "BEARER_TOKEN=" in e for e in v.get("Environment", []))
    assert int(v["TimeoutStopSec"][0]) > 10  # the daemon's grace


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here: the unit is checked structurally only")
    venv_bin = Path(shutil.which("nostrweet") or ROOT / ".venv" / "bin" / "nostrweet")
    unit = tmp_path / "nostrweet.service"
    unit.write_text(UNIT.read_text().replace("/opt/nostrweet/bin/nostrweet", str(venv_bin)))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=120)
    problems = [line for line in (result.stdout + result.stderr).splitlines() if "nostrweet.service" in line]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr
    broken = tmp_path / "broken" / "nostrweet.service"
    broken.parent.mkdir()
    broken.write_text(unit.read_text().replace("Type=notify", "Type=notify\nWatchdogSecs=1"))
    result = subprocess.run([analyze, "verify", str(broken)], capture_output=True, text=True, timeout=120)
    assert "WatchdogSecs" in result.stdout + result.stderr  # the check does see mistakes
