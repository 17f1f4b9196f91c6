"""docker-compose.yml and the Dockerfile, checked without a Docker engine: Debian's
docker-compose validates and normalises the file; the test reads what it produced."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
STANDARD = {25: 1025, 465: 1465, 587: 1587, 143: 1143, 993: 1993}


def _compose() -> str:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip(
            "docker-compose is not installed (Debian package docker-compose; .ci/run installs it)"
        )
    return binary


def _normalised(binary: str) -> dict[str, Any]:
    text = subprocess.run(
        [binary, "-f", "docker-compose.yml", "config"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # docker-compose is a Python program with PyYAML beside it: parse with its interpreter.
    interpreter = (
        Path(binary).read_text(errors="replace").splitlines()[0].removeprefix("#!").split()
    )
    converted = subprocess.run(
        [
            *interpreter,
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))",
        ],
        input=text,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    loaded: dict[str, Any] = json.loads(converted)
    return loaded


def test_compose_file_is_valid() -> None:
    result = subprocess.run(
        [_compose(), "-f", "docker-compose.yml", "config", "-q"],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def _ports(service: dict[str, Any]) -> dict[int, int]:
    """Published port → container port, from the long or the short syntax."""
    found = {}
    for port in service.get("ports", []):
        if isinstance(port, dict):
            found[int(port["published"])] = int(port["target"])
        else:
            *_, published, target = str(port).removesuffix("/tcp").split(":")
            found[int(published)] = int(target)
    return found


def test_two_nodes_share_one_database_and_a_second_operator_has_its_own() -> None:
    config = _normalised(_compose())
    services = config["services"]
    assert {"postgres-a", "node-a1", "node-a2", "postgres-b", "node-b1"} <= set(services)
    a1, a2, b1 = services["node-a1"], services["node-a2"], services["node-b1"]
    assert STANDARD.items() <= _ports(a1).items()
    for node in (a1, a2, b1):
        assert "/healthz" in " ".join(node["healthcheck"]["test"])
        assert node["environment"]["SALUS_SERVICE_KEY_FILE"].startswith("/run/secrets/")
    assert a1["volumes"] == a2["volumes"] != b1["volumes"]
    assert "postgres-a" in a1["depends_on"] and "postgres-a" in a2["depends_on"]
    assert "postgres-b" in b1["depends_on"] and "postgres-a" not in b1["depends_on"]
    assert set(_ports(a1)).isdisjoint(_ports(a2)) and set(_ports(a1)).isdisjoint(_ports(b1))
    for db in ("postgres-a", "postgres-b"):
        volume = str(services[db]["volumes"][0]).partition(":")[0]
        assert volume in config["volumes"]  # persistent, named
        assert services[db]["environment"]["POSTGRES_PASSWORD_FILE"].startswith("/run/secrets/")
    assert all("file" in secret for secret in config["secrets"].values())
    assert {"postgres-a", "postgres-b", "salus-a", "salus-b"} <= set(config["volumes"])


def test_dockerfile_runs_salus_serve_as_an_unprivileged_user() -> None:
    lines = [line.strip() for line in (REPO / "Dockerfile").read_text().splitlines()]
    froms = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert all(image.startswith("python:3.11-slim") for image in froms)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert 'ENTRYPOINT ["salus"]' in lines
    assert 'CMD ["serve"]' in lines
    assert any("/healthz" in line for line in lines)
