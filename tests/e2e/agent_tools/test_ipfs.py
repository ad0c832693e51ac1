"""IPFS tools end to end against the devnet's content store (its Kubo RPC API)."""

from __future__ import annotations

import hashlib
import secrets
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from citrate_agent.errors import AgentError, ToolArgumentError
from citrate_store import KuboClient, compute_cid

RunTool = Callable[..., Any]


@pytest.fixture
def kubo(agent_devnet: Any) -> Any:
    """An independent client of the devnet's store (not the agent's)."""
    with KuboClient(f"http://127.0.0.1:{agent_devnet.ipfs_port}") as client:
        yield client


def test_upload_text_and_get_it_back(run_tool: RunTool, kubo: KuboClient) -> None:
    text = f"hello from the agent {secrets.token_hex(8)} — ünïcode ✓\n"
    up = run_tool("upload_ipfs", content=text)
    assert up["cid"].startswith("bafk")  # one raw block, CIDv1
    assert up["size"] == len(text.encode())
    assert up["pinned"] is True
    assert up["uri"] == f"ipfs://{up['cid']}"
    assert up["api_url"].startswith("http://127.0.0.1:")
    assert kubo.cat(up["cid"]) == text.encode()  # independently
    assert kubo.pin_ls()[up["cid"]] == "recursive"

    got = run_tool("get_ipfs", cid=up["cid"])
    assert got == {"cid": up["cid"], "size": len(text.encode()), "text": text}


def test_upload_file_and_get_it_back(run_tool: RunTool, agent_ctx: Any, kubo: KuboClient) -> None:
    ws: Path = agent_ctx.workspace
    data = secrets.token_bytes(300_000)  # binary, several chunks: a dag-pb root
    (ws / "models").mkdir()
    (ws / "models" / "weights.bin").write_bytes(data)
    up = run_tool("upload_ipfs", path="models/weights.bin")
    assert up["path"] == "models/weights.bin"
    assert up["size"] == len(data)
    assert kubo.cat(up["cid"]) == data

    got = run_tool("get_ipfs", cid=up["cid"])
    assert got["saved"] is True and "text" not in got
    assert got["path"] == f"ipfs/{up['cid']}"
    assert (ws / got["path"]).read_bytes() == data
    assert got["sha256"] == "0x" + hashlib.sha256(data).hexdigest()
    assert got["size"] == len(data)

    again = run_tool("get_ipfs", cid=up["cid"], save_as="copy/weights.bin")
    assert (ws / "copy" / "weights.bin").read_bytes() == data
    assert again["path"] == "copy/weights.bin"
    # save_as never overwrites.
    with pytest.raises(ToolArgumentError, match="already exists"):
        run_tool("get_ipfs", cid=up["cid"], save_as="copy/weights.bin")


def test_text_uploaded_elsewhere_is_read(run_tool: RunTool, kubo: KuboClient) -> None:
    cid = kubo.add(b"written by another client\n")
    assert run_tool("get_ipfs", cid=cid)["text"] == "written by another client\n"


def test_pin_and_unpin(run_tool: RunTool, kubo: KuboClient) -> None:
    cid = kubo.add(secrets.token_bytes(64), pin=False)
    assert cid not in kubo.pin_ls()
    assert run_tool("pin_ipfs", cid=cid) == {"cid": cid, "pinned": True}
    assert kubo.pin_ls()[cid] == "recursive"
    listed = run_tool("pin_ipfs")
    assert cid in listed["pins"] and listed["count"] >= 1
    assert run_tool("pin_ipfs", cid=cid, unpin=True) == {"cid": cid, "pinned": False}
    assert cid not in kubo.pin_ls()
    with pytest.raises(AgentError, match="refused to unpin"):
        run_tool("pin_ipfs", cid=cid, unpin=True)


def test_upload_without_pin(run_tool: RunTool, kubo: KuboClient) -> None:
    up = run_tool("upload_ipfs", content=f"unpinned {secrets.token_hex(8)}", pin=False)
    assert up["pinned"] is False
    assert up["cid"] not in kubo.pin_ls()


@pytest.mark.parametrize("cid", ["not-a-cid", "bafy!!!", "/etc/passwd", "Qm"])
def test_malformed_cid(run_tool: RunTool, cid: str) -> None:
    with pytest.raises(ToolArgumentError, match="is not a CID"):
        run_tool("get_ipfs", cid=cid)
    with pytest.raises(ToolArgumentError, match="is not a CID"):
        run_tool("pin_ipfs", cid=cid)


def test_cid_the_store_rejects_or_lacks(run_tool: RunTool) -> None:
    # Well-formed text but not a CID the store can parse, and a valid CID it does not hold.
    with pytest.raises(AgentError, match=r"content store refused.*not a valid CID"):
        run_tool("get_ipfs", cid="bafkreiaaaaaaaaaaaaaaaaaaaa")
    absent = compute_cid(secrets.token_bytes(32))  # valid, never stored
    with pytest.raises(AgentError, match=f"`{absent}` is not in the store"):
        run_tool("get_ipfs", cid=absent)


def test_missing_file(run_tool: RunTool) -> None:
    with pytest.raises(ToolArgumentError, match="is not a file in the workspace"):
        run_tool("upload_ipfs", path="nope.txt")


def test_file_outside_workspace_refused(run_tool: RunTool, agent_ctx: Any, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("private\n")
    with pytest.raises(ToolArgumentError, match="outside the workspace"):
        run_tool("upload_ipfs", path=str(outside))
    with pytest.raises(ToolArgumentError, match="not a workspace path"):
        run_tool("upload_ipfs", path="../outside.txt")
    (agent_ctx.workspace / "link.txt").symlink_to(outside)
    with pytest.raises(ToolArgumentError, match="outside the workspace"):
        run_tool("upload_ipfs", path="link.txt")
    with pytest.raises(ToolArgumentError, match="outside the workspace"):
        run_tool("get_ipfs", cid=compute_cid(b"x"), save_as=str(tmp_path / "x"))


def test_path_and_content_are_exclusive(run_tool: RunTool) -> None:
    with pytest.raises(ToolArgumentError, match="exactly one"):
        run_tool("upload_ipfs")
    with pytest.raises(ToolArgumentError, match="exactly one"):
        run_tool("upload_ipfs", path="a", content="b")
    with pytest.raises(ToolArgumentError, match="needs a `cid`"):
        run_tool("pin_ipfs", unpin=True)


def test_store_down(run_tool: RunTool, agent_ctx: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    agent_ctx.settings.ipfs_url = f"http://127.0.0.1:{port}"
    # The context makes its store client on first use, from the settings.
    for name, args in (
        ("upload_ipfs", {"content": "x"}),
        ("get_ipfs", {"cid": compute_cid(b"x")}),
        ("pin_ipfs", {"cid": compute_cid(b"x")}),
        ("pin_ipfs", {}),
    ):
        with pytest.raises(AgentError) as info:
            run_tool(name, **args)
        assert f"`http://127.0.0.1:{port}` cannot be reached" in info.value.message
        assert "citrate devnet" in str(info.value.hint)
        assert "ipfs_url" in str(info.value.hint)
