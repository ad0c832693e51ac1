"""`citrate agent selftest`: every tool against a throwaway devnet, with a pass/fail report.

It starts `citrate devnet` in a temporary directory (its own ports, mining as soon as a
transaction arrives), restores the public development phrase into a throwaway wallet there
(its accounts are funded at genesis; never put value on them elsewhere), and runs each tool the
way a user's request would: value-moving tools are prepared, then approved and executed. Each
step checks the result against the chain, not just that the tool returned. Nothing outside the
temporary directory is read or written, except the local model the `local` extra installs.

The report (`--json`) lists every tool with ok, seconds and a one-line detail, and the totals.
"""

from __future__ import annotations

import functools
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from citrate_agent.actions import PreparedAction, execute
from citrate_agent.errors import AgentError, NotInstalledError
from citrate_agent.session import open_context
from citrate_agent.tools import ToolContext, call_tool, default_registry
from citrate_agent.units import parse_amount
from citrate_crypto import KdfParams, Wallet

DEV_PHRASE = "test test test test test test test test test test test junk"
_LISTENING = re.compile(r"Listening on http://(\S+):(\d+)")
_IPFS = re.compile(r"Content store \(IPFS API\): http://(\S+):(\d+)/api/v0")

COUNTER_SOURCE = """\
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

contract SelftestCounter {
    uint256 public count;
    address public owner;
    event Bumped(uint256 count);

    constructor(uint256 start) { count = start; owner = msg.sender; }

    function bump(uint256 by) external {
        count += by;
        emit Bumped(count);
    }
}
"""


class SelftestError(AgentError):
    """A step's result did not match the chain."""


@dataclass
class DevnetProcess:
    """A `citrate devnet` child process."""

    proc: subprocess.Popen[str]
    rpc_url: str
    ipfs_url: str
    output: list[str]
    pump: threading.Thread | None = None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.pump is not None:
            self.pump.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_devnet(data_dir: Path, timeout: float = 90.0) -> DevnetProcess:
    """Start `citrate devnet` on free loopback ports; return once it listens."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "citrate_crypto",
            "devnet",
            "--data-dir",
            str(data_dir),
            "--port",
            "0",
            "--ipfs-port",
            "0",
            "--block-time",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    output: list[str] = []
    found: dict[str, str] = {}
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            if m := _IPFS.search(line):
                found["ipfs"] = f"http://{m.group(1)}:{m.group(2)}"
            if m := _LISTENING.search(line):
                found["rpc"] = f"http://{m.group(1)}:{m.group(2)}"
                ready.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.1):
        if proc.poll() is not None or time.monotonic() > deadline:
            DevnetProcess(proc, "", "", output, reader).stop()
            raise AgentError(
                "the throwaway devnet did not start:\n" + "".join(output[-20:]),
                hint="run `citrate devnet` by hand to see why",
            )
    return DevnetProcess(proc, found["rpc"], found.get("ipfs", ""), output, reader)


@dataclass
class Step:
    tool: str
    run: Callable[[Selftest], str]


class Selftest:
    """The scenario: each step calls one tool and checks its effect; state flows between."""

    def __init__(self, ctx: ToolContext, buyer: ToolContext, password: str) -> None:
        self.ctx = ctx
        self.buyer = buyer
        self.password = password
        self.registry = default_registry()
        self.state: dict[str, Any] = {}

    def call(self, tool: str, ctx: ToolContext | None = None, **args: Any) -> Any:
        return call_tool(self.registry, ctx or self.ctx, tool, args)

    def approve(self, outcome: Any, ctx: ToolContext | None = None) -> dict[str, Any]:
        if not isinstance(outcome, PreparedAction):
            raise SelftestError(f"expected an action to approve, got {type(outcome).__name__}")
        return execute(ctx or self.ctx, outcome.id, password=self.password)

    def rpc(self, method: str, *params: Any) -> Any:
        return self.ctx.chain.request(method, list(params))


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise SelftestError(message)


# ------------------------------------------------------------------------------------ steps


def _node_status(t: Selftest) -> str:
    r = t.call("node_status")
    _expect(r["chain_id"] == int(t.rpc("eth_chainId"), 16), "chain id differs from eth_chainId")
    return f"chain {r['chain_id']}, head {r.get('block_number')}"


def _block_info(t: Selftest) -> str:
    r = t.call("block_info", block=0)
    genesis = t.rpc("eth_getBlockByNumber", "0x0", False)
    _expect(r["hash"] == genesis["hash"], "genesis hash differs from eth_getBlockByNumber")
    return f"genesis {r['hash'][:18]}…"


def _dag_status(t: Selftest) -> str:
    r = t.call("dag_status")
    _expect(int(r.get("k", r.get("ghostdag_k", 0))) == 18, "GhostDAG k is not 18")
    return "k = 18"


def _account_info(t: Selftest) -> str:
    r = t.call("account_info", address=t.state.get("registry") or t.ctx.require_address())
    _expect("is_contract" in r, "no is_contract field")
    return f"{r['address'][:10]}… contract={r['is_contract']}"


def _balance(t: Selftest) -> str:
    r = t.call("balance")
    real = int(t.rpc("eth_getBalance", t.ctx.require_address(), "latest"), 16)
    _expect(int(r["balance_wei"]) == real, "balance differs from eth_getBalance")
    return f"{r['balance_salt']} SALT"


def _send_transaction(t: Selftest) -> str:
    to = t.buyer.require_address()
    before = int(t.rpc("eth_getBalance", to, "latest"), 16)
    result = t.approve(t.call("send_transaction", to=to, amount="1.5"))
    after = int(t.rpc("eth_getBalance", to, "latest"), 16)
    _expect(after - before == parse_amount("1.5"), "recipient did not gain exactly 1.5 SALT")
    t.state["tx"] = result["tx_hash"]
    return f"1.5 SALT sent in {result['tx_hash'][:18]}…"


def _transaction_info(t: Selftest) -> str:
    r = t.call("transaction_info", hash=t.state["tx"])
    _expect(r["status"] == "success", f"status {r['status']}")
    return "success"


def _transaction_history(t: Selftest) -> str:
    r = t.call("transaction_history")
    hashes = [x["hash"] for x in r["transactions"]]
    _expect(t.state["tx"] in hashes, "the sent transaction is not in the history")
    return f"{len(hashes)} transactions"


def _deploy_contract(t: Selftest) -> str:
    result = t.approve(t.call("deploy_contract", source=COUNTER_SOURCE, constructor_args=[41]))
    address = result.get("contract_address") or result.get("address")
    _expect(bool(address) and t.rpc("eth_getCode", address, "latest") != "0x", "no code deployed")
    t.state["counter"] = address
    return f"deployed at {address}"


def _call_contract(t: Selftest) -> str:
    r = t.call("call_contract", address=t.state["counter"], function="count")
    value = r.get("result", r.get("outputs"))
    _expect(str(value).strip("[]'\" ") == "41", f"count() returned {value}")
    return "count() = 41"


def _write_contract(t: Selftest) -> str:
    t.approve(t.call("write_contract", address=t.state["counter"], function="bump", args=[1]))
    r = t.call("call_contract", address=t.state["counter"], function="count")
    value = r.get("result", r.get("outputs"))
    _expect(str(value).strip("[]'\" ") == "42", f"count() is {value} after bump(1)")
    return "bump(1) → 42"


def _upload_ipfs(t: Selftest) -> str:
    r = t.call("upload_ipfs", content="citrate selftest\n")
    t.state["cid"] = r["cid"]
    return str(r["cid"])


def _get_ipfs(t: Selftest) -> str:
    r = t.call("get_ipfs", cid=t.state["cid"])
    _expect(r.get("text") == "citrate selftest\n", "content differs from what was uploaded")
    return "content matches"


def _pin_ipfs(t: Selftest) -> str:
    t.call("pin_ipfs", cid=t.state["cid"])
    listed = t.call("pin_ipfs")
    _expect(t.state["cid"] in str(listed), "the CID is not in the pin list")
    return "pinned"


def _deploy_model(t: Selftest) -> str:
    from citrate_agent import inference

    weights = t.ctx.workspace / "selftest-model.gguf"
    if inference.default_model_installed():
        shutil.copyfile(inference.default_model_path(), weights)
    else:  # registering needs only a GGUF file; running it needs the local extra
        weights.write_bytes(b"GGUF" + secrets.token_bytes(4096))
    name = f"selftest-{secrets.token_hex(3)}"
    result = t.approve(
        t.call(
            "deploy_model",
            path=weights.name,
            name=name,
            version="1.0.0",
            description="selftest model",
            tags=["selftest"],
        )
    )
    t.state["model"], t.state["model_name"] = result["model_id"], name
    t.state["weights"] = weights
    return f"{name} registered as {result['model_id'][:18]}…"


def _list_models(t: Selftest) -> str:
    r = t.call("list_models")
    names = [m.get("name") for m in r["chain_models"] + r["local_models"]]
    _expect(t.state["model_name"] in names, "the registered model is not listed")
    return f"{len(names)} models"


def _get_model_info(t: Selftest) -> str:
    r = t.call("get_model_info", model=t.state["model"])
    _expect(r.get("name") == t.state["model_name"], "wrong model")
    return str(r["name"])


def _run_inference(t: Selftest) -> str:
    r = t.call("run_inference", model=t.state["model_name"], prompt="The sky is", max_tokens=8)
    _expect(bool(r.get("output")), "no output")
    return f"{r.get('tokens')} tokens: {r['output'][:40]!r}"


def _list_on_marketplace(t: Selftest) -> None:
    listing = {
        "modelId": t.state["model"],
        "basePrice": "0.5 SALT",
        "discountPrice": "0.4 SALT",
        "minimumBulkSize": 10,
        "category": 0,
        "metadataURI": "ipfs://" + t.state["cid"],
    }
    t.approve(
        t.call("write_contract", contract="ModelMarketplace", function="listModel", args=[listing])
    )


def _search_marketplace(t: Selftest) -> str:
    _list_on_marketplace(t)
    r = t.call("search_marketplace", query="selftest")
    found = [x for x in r["results"] if t.state["model"] in str(x)]
    _expect(bool(found), "the listed model was not found")
    return f"{len(r['results'])} results"


def _get_listing(t: Selftest) -> str:
    r = t.call("get_listing", model=t.state["model"])
    _expect("0.5" in str(r), "the listing price is not 0.5 SALT")
    return "price 0.5 SALT"


def _browse_category(t: Selftest) -> str:
    r = t.call("browse_category", category="language")
    _expect(t.state["model"] in str(r), "the model is not in its category")
    return "found in language"


def _purchase_access(t: Selftest) -> str:
    buyer = t.buyer.require_address()
    t.approve(t.call("purchase_access", t.buyer, model=t.state["model"], quantity=1), t.buyer)
    r = t.call(
        "call_contract",
        contract="ModelMarketplace",
        function="purchasedUnits",
        args=[t.state["model"], buyer],
    )
    units = r.get("result", r.get("outputs"))
    _expect(str(units).strip("[]'\" ") == "1", f"purchasedUnits is {units}, not 1")
    return "1 unit bought by account 1"


def _purchase_inference(t: Selftest) -> str:
    name = f"paid-{secrets.token_hex(3)}"
    result = t.approve(
        t.call(
            "deploy_model",
            path=t.state["weights"].name,
            name=name,
            version="1.0.0",
            inference_price="0.01",
        )
    )
    # A priced model is used by its owner and the addresses it grants access to.
    t.approve(
        t.call(
            "write_contract",
            contract="ModelRegistry",
            function="grantAccess",
            args=[result["model_id"], t.buyer.require_address()],
        )
    )
    r = t.approve(
        t.call("purchase_inference", t.buyer, model=result["model_id"], prompt="Hi", max_tokens=4),
        t.buyer,
    )
    return f"paid 0.01 SALT, {str(r.get('output', ''))[:30]!r}"


def _execute_command(t: Selftest) -> str:
    (t.ctx.workspace / "hello.txt").write_text("hello\n")
    r = t.call("execute_command", argv=["cat", "hello.txt"])
    _expect(r["exit_code"] == 0 and r["stdout"] == "hello\n", "cat did not print the file")
    return "cat hello.txt"


def _generate_image(t: Selftest) -> str:
    try:
        r = t.call("generate_image", prompt="a lemon", size="256x256")
    except NotInstalledError as exc:
        return f"reports honestly: {exc.message}"
    _expect(Path(r["path"]).is_file(), "no image file")
    return f"wrote {r['path']}"


STEPS = [
    Step("node_status", _node_status),
    Step("block_info", _block_info),
    Step("dag_status", _dag_status),
    Step("account_info", _account_info),
    Step("balance", _balance),
    Step("send_transaction", _send_transaction),
    Step("transaction_info", _transaction_info),
    Step("transaction_history", _transaction_history),
    Step("deploy_contract", _deploy_contract),
    Step("call_contract", _call_contract),
    Step("write_contract", _write_contract),
    Step("upload_ipfs", _upload_ipfs),
    Step("get_ipfs", _get_ipfs),
    Step("pin_ipfs", _pin_ipfs),
    Step("deploy_model", _deploy_model),
    Step("list_models", _list_models),
    Step("get_model_info", _get_model_info),
    Step("run_inference", _run_inference),
    Step("search_marketplace", _search_marketplace),
    Step("get_listing", _get_listing),
    Step("browse_category", _browse_category),
    Step("purchase_access", _purchase_access),
    Step("purchase_inference", _purchase_inference),
    Step("execute_command", _execute_command),
    Step("generate_image", _generate_image),
]


def run_selftest(
    *,
    keep: Path | None = None,
    log: Callable[[dict[str, Any]], None] | None = None,
    harness: type[Selftest] = Selftest,
) -> dict[str, Any]:
    """Run every tool against a throwaway devnet; return the report.

    `harness` decides how each tool is called (the default calls it directly; the tests pass
    one that goes through the orchestrator).
    """
    root = Path(tempfile.mkdtemp(prefix="citrate-selftest-")) if keep is None else keep
    root.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    devnet = start_devnet(root / "devnet")
    entries: list[dict[str, Any]] = []
    try:
        password = "Selftest-" + secrets.token_urlsafe(12) + "-9!"
        wallet_dir = root / "home" / "wallet"
        Wallet(wallet_dir, kdf=KdfParams.owasp_minimum()).recover(DEV_PHRASE, password, accounts=2)
        context = functools.partial(
            open_context,
            data_dir=root / "home",
            rpc_url=devnet.rpc_url,
            ipfs_url=devnet.ipfs_url,
            wallet_dir=wallet_dir,
            kdf=KdfParams.owasp_minimum(),
            workspace=root / "workspace",
            require_wallet=True,
        )
        accounts = [a.address for a in Wallet(wallet_dir).accounts()]
        ctx = context(session_id="selftest")
        buyer = context(address=accounts[1], session_id="selftest-buyer")
        test = harness(ctx, buyer, password)
        for step in STEPS:
            began = time.perf_counter()
            try:
                detail, ok = step.run(test), True
            except Exception as exc:
                detail, ok = f"{type(exc).__name__}: {exc}", False
            entry = {
                "tool": step.tool,
                "ok": ok,
                "seconds": round(time.perf_counter() - began, 3),
                "detail": detail,
            }
            entries.append(entry)
            if log is not None:
                log(entry)
        ctx.close()
        buyer.close()
    finally:
        devnet.stop()
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)
    covered = {e["tool"] for e in entries}
    for name in default_registry().names():
        if name not in covered:
            entries.append({"tool": name, "ok": False, "seconds": 0.0, "detail": "not exercised"})
    passed = sum(e["ok"] for e in entries)
    return {
        "started_at": started,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "devnet": devnet.rpc_url,
        "total": len(entries),
        "passed": passed,
        "failed": [e["tool"] for e in entries if not e["ok"]],
        "tools": entries,
    }


__all__ = ["STEPS", "run_selftest", "start_devnet"]
