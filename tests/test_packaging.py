"""Each workspace member installs with plain pip in a clean virtual environment."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_pip_install_in_a_clean_venv(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    # citrate-native is not on an index yet, so it is named beside citrate-crypto; pip builds
    # both from source (maturin compiles the Rust core) in build isolation.
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         str(ROOT / "native"), str(ROOT / "packages" / "citrate-crypto"),
         str(ROOT / "packages" / "citrate-contracts"), str(ROOT / "packages" / "citrate-store"),
         str(ROOT / "packages" / "citrate-node"), str(ROOT / "packages" / "citrate-agent"),
         str(ROOT / "packages" / "citrate-compute")],
        check=True, timeout=1800,
    )  # fmt: skip
    derived = subprocess.run(
        [str(env_dir / "bin" / "citrate"), "wallet", "derive", "--count", "2"],
        input="test test test test test test test test test test test junk\n",
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert derived.stdout.split() == [
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    ]
    devnet = subprocess.run(
        [str(env_dir / "bin" / "citrate"), "devnet", "--help"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert "--block-time" in devnet.stdout and "--producers" in devnet.stdout
    assert "--ipfs-port" in devnet.stdout
    # The system contracts' ABIs, bytecode and the compiler driver ship inside the wheel.
    shipped = subprocess.run(
        [str(python), "-c",
         "from citrate_contracts.artifacts import load_artifact, artifact_names\n"
         "from citrate_contracts.system import SYSTEM_CONTRACTS\n"
         "import citrate_contracts.compiler as c\n"
         "assert set(SYSTEM_CONTRACTS) <= set(artifact_names())\n"
         "arts = [load_artifact(n) for n in SYSTEM_CONTRACTS]\n"
         "assert all(a.abi and a.bytecode.startswith('0x60') for a in arts)\n"
         "assert c._DRIVER.is_file()\n"
         "print(len(artifact_names()))"],
        capture_output=True, text=True, check=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert int(shipped.stdout) >= 9
    # The agent installs without its `local` extra (no llama.cpp): every tool is there, and the
    # local model says it is missing instead of pretending.
    tools = subprocess.run(
        [str(env_dir / "bin" / "citrate"), "agent", "tools", "--json"],
        capture_output=True, text=True, check=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert len(json.loads(tools.stdout)) == 25
    local = subprocess.run(
        [str(env_dir / "bin" / "citrate"), "agent", "tool", "run_inference", "--args",
         '{"model": "gemma3-270m", "prompt": "hi"}', "--data-dir", str(tmp_path / "home"),
         "--rpc-url", "http://127.0.0.1:9"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert local.returncode == 1
    assert json.loads(local.stdout)["error"]["type"] == "not_installed"
    # The compute package installs without its extras (no llama.cpp, torch or Ray): it lends
    # the CPU when there is no NVIDIA driver, and the runtime names the extra to install.
    devices = subprocess.run(
        [str(env_dir / "bin" / "citrate"), "compute", "devices", "--json"],
        capture_output=True, text=True, check=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert [d["kind"] for d in json.loads(devices.stdout)["devices"]] == ["cpu"]
    missing = subprocess.run(
        [str(python), "-c",
         "from citrate_compute.errors import RuntimeUnavailable\n"
         "from citrate_compute.runtime import LocalRuntime\n"
         "try:\n"
         "    LocalRuntime().chat([{'role': 'user', 'content': 'hi'}])\n"
         "except RuntimeUnavailable as e:\n"
         "    print(e)\n"],
        capture_output=True, text=True, check=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert "citrate-compute[local]" in missing.stdout
    assert sys.prefix != str(env_dir)
