"""The operator CLI, as a real subprocess, on a stopped data directory and on a running one."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from rialto.adapters.nats.local_server import free_port
from rialto.runtime.keyring import SecretBox
from rialto.runtime.node import Node

RIALTO = [sys.executable, "-m", "rialto.cli"]


def rialto(data_dir: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*RIALTO, *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def setup_market(data_dir: Path) -> None:
    rialto(data_dir, "assets", "add", "BTC", "--decimals", "8")
    rialto(data_dir, "assets", "add", "USDT", "--decimals", "6")
    rialto(
        data_dir,
        "markets",
        "add",
        "BTCUSDT",
        "--base",
        "BTC",
        "--quote",
        "USDT",
        "--tick",
        "0.01",
        "--step",
        "0.0001",
        "--min-notional",
        "5",
    )
    rialto(data_dir, "users", "create", "--email", "Alice@Example.com", "--password", "pa55word!")


def test_commands_on_a_stopped_data_directory(tmp_path: Path) -> None:
    setup_market(tmp_path)
    rialto(
        tmp_path,
        "admin",
        "deposit",
        "--email",
        "alice@example.com",
        "--asset",
        "BTC",
        "--amount",
        "1.25",
    )
    out = json.loads(rialto(tmp_path, "balances", "--email", "alice@example.com").stdout)
    btc = {b["asset"]: b for b in out["balances"]}["BTC"]
    assert (btc["free"], btc["locked"]) == ("1.25000000", "0.00000000")
    assert json.loads(rialto(tmp_path, "markets", "halt", "BTCUSDT").stdout)["status"] == "HALT"
    assert (
        json.loads(rialto(tmp_path, "markets", "resume", "BTCUSDT").stdout)["status"] == "TRADING"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [
                "admin",
                "deposit",
                "--email",
                "alice@example.com",
                "--asset",
                "BTC",
                "--amount",
                "0.000000001",
            ],
            "Precision is over the maximum",
        ),
        (
            [
                "admin",
                "deposit",
                "--email",
                "alice@example.com",
                "--asset",
                "BTC",
                "--amount",
                "1e3",
            ],
            "Illegal characters",
        ),
        (
            ["admin", "deposit", "--email", "bob@example.com", "--asset", "BTC", "--amount", "1"],
            "no user",
        ),
        (
            [
                "markets",
                "add",
                "ETHUSDT",
                "--base",
                "ETH",
                "--quote",
                "USDT",
                "--tick",
                "0.01",
                "--step",
                "0.01",
            ],
            "unknown asset ETH",
        ),
        (
            [
                "markets",
                "add",
                "BTCEUR",
                "--base",
                "BTC",
                "--quote",
                "USDT",
                "--tick",
                "0.01",
                "--step",
                "0.000000001",
            ],
            "finer than",
        ),
        (
            ["users", "create", "--email", "alice@example.com", "--password", "another-pw"],
            "already exists",
        ),
        (["markets", "halt", "NOPE"], "unknown market"),
    ],
)
def test_bad_commands_get_one_line_and_change_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    setup_market(tmp_path)
    before = _journal_bytes(tmp_path)
    proc = rialto(tmp_path, *args, ok=False)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rialto: error:"), proc.stderr
    assert message in lines[0]
    assert "Traceback" not in proc.stderr
    assert _journal_bytes(tmp_path) == before


def test_bad_arguments_exit_non_zero_without_traceback(tmp_path: Path) -> None:
    proc = rialto(tmp_path, "assets", "add", "BTC", "--decimals", "many", ok=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "invalid int value" in proc.stderr


def test_commands_reach_a_running_exchange(tmp_path: Path) -> None:
    setup_market(tmp_path)
    server = subprocess.Popen(
        [*RIALTO, "up", "--data-dir", str(tmp_path), "--port", str(free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "admin.sock").exists():
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            assert time.monotonic() < deadline, "rialto up did not start"
            time.sleep(0.05)
        rialto(
            tmp_path,
            "admin",
            "deposit",
            "--email",
            "alice@example.com",
            "--asset",
            "USDT",
            "--amount",
            "100.5",
        )
        out = json.loads(rialto(tmp_path, "balances", "--email", "alice@example.com").stdout)
        usdt = {b["asset"]: b for b in out["balances"]}["USDT"]
        assert usdt["free"] == "100.500000"
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert "stopped cleanly" in output
    # The deposit made through the running exchange survives its restart.
    out = json.loads(rialto(tmp_path, "balances", "--email", "alice@example.com").stdout)
    assert {b["asset"]: b for b in out["balances"]}["USDT"]["free"] == "100.500000"


def _journal_bytes(data_dir: Path) -> int:
    return sum(p.stat().st_size for p in (data_dir / "journal").glob("*.seg"))


def test_api_keys_create_list_revoke(tmp_path: Path) -> None:
    setup_market(tmp_path)
    out = rialto(
        tmp_path,
        "apikeys",
        "create",
        "--email",
        "alice@example.com",
        "--permissions",
        "trade,read",
        "--ip",
        "10.0.0.0/8",
    )
    key = json.loads(out.stdout)
    assert len(key["api_key"]) == 64 and len(key["secret"]) == 64
    assert key["permissions"] == ["read", "trade"] and key["ips"] == ["10.0.0.0/8"]
    # The secret is journaled only sealed, and opens with the data directory's master key.
    journal = b"".join(p.read_bytes() for p in (tmp_path / "journal").iterdir())
    assert key["secret"].encode() not in journal
    listed = json.loads(rialto(tmp_path, "apikeys", "list", "--email", "alice@example.com").stdout)
    assert [k["api_key"] for k in listed["keys"]] == [key["api_key"]]
    assert "secret" not in listed["keys"][0]

    async def sealed() -> str:
        node = await Node.open(tmp_path)
        try:
            return node.exchange.users.keys[key["api_key"]].verifier
        finally:
            await node.close()

    box = SecretBox.for_data_dir(tmp_path)
    assert box.unseal(asyncio.run(sealed()), key["api_key"]) == key["secret"]

    pem = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    (tmp_path / "ed.pem").write_text(pem)
    ed = json.loads(
        rialto(
            tmp_path,
            "apikeys",
            "create",
            "--email",
            "alice@example.com",
            "--permissions",
            "read",
            "--public-key",
            str(tmp_path / "ed.pem"),
        ).stdout
    )
    assert ed["type"] == "ED25519" and "secret" not in ed

    rialto(
        tmp_path, "apikeys", "revoke", "--email", "alice@example.com", "--api-key", key["api_key"]
    )
    listed = json.loads(rialto(tmp_path, "apikeys", "list", "--email", "alice@example.com").stdout)
    assert {k["api_key"]: k["revoked"] for k in listed["keys"]} == {
        key["api_key"]: True,
        ed["api_key"]: False,
    }
    again = rialto(
        tmp_path,
        "apikeys",
        "revoke",
        "--email",
        "alice@example.com",
        "--api-key",
        key["api_key"],
        ok=False,
    )
    assert again.returncode != 0 and "Invalid API-key" in again.stderr
    for bad in (
        ["--permissions", "read,fly"],
        ["--permissions", ""],
        ["--permissions", "read", "--ip", "not-an-ip"],
        ["--permissions", "read", "--public-key", "bm90IGEga2V5"],
    ):
        proc = rialto(tmp_path, "apikeys", "create", "--email", "alice@example.com", *bad, ok=False)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    listed = json.loads(rialto(tmp_path, "apikeys", "list", "--email", "alice@example.com").stdout)
    assert len(listed["keys"]) == 2
