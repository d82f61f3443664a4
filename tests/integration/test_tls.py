"""rediss:// against a real TLS Redis: certificates are verified unless explicitly turned off."""

import logging
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.factories import make_settings
from threadr.checks import check_redis
from threadr.config import Settings
from threadr.errors import ConfigError
from threadr.storage.client import create_redis
from threadr.storage.gateway import Gateway
from threadr.storage.lane import Lane, command
from threadr.storage.watch import RedisWatch

from .processes import free_port

EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)  # noqa: S603,S607


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """A TLS-only redis-server whose certificate (for "localhost") a private CA signed."""
    if not shutil.which("openssl") or not shutil.which("redis-server"):
        pytest.skip("needs the openssl and redis-server commands")
    d = tmp_path_factory.mktemp("tls")
    _openssl(
        "req",
        "-x509",
        *EC,
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Threadr Test CA",
        cwd=d,
    )
    _openssl(
        "req", *EC, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=d
    )
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost\n")
    _openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        cwd=d,
    )
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603 - a fixed command line of our own
        [  # noqa: S607 - redis-server from PATH, as make test installs it
            "redis-server",
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--tls-cert-file",
            "server.pem",
            "--tls-key-file",
            "server.key",
            "--tls-ca-cert-file",
            "ca.pem",
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        cwd=d,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert proc.stdout is not None
        seen, deadline = b"", time.monotonic() + 20
        while b"Ready to accept connections" not in seen:
            assert proc.poll() is None, seen.decode()
            assert time.monotonic() < deadline, seen.decode()
            if select.select([proc.stdout], [], [], 1)[0]:
                seen += os.read(proc.stdout.fileno(), 65536)
        yield port, d / "ca.pem"
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


async def _reachable(settings: Settings) -> bool:
    redis = create_redis(settings)
    watch = RedisWatch(Gateway.for_settings(settings, redis))
    try:
        return await watch.check()
    finally:
        assert redis is not None
        await watch.stop()
        await redis.aclose()


async def test_an_unknown_ca_is_refused(tls_redis: tuple[int, Path]) -> None:
    port, _ = tls_redis
    assert not await _reachable(make_settings(REDIS_URL=f"rediss://localhost:{port}/0"))


async def test_the_configured_ca_bundle_is_trusted(tls_redis: tuple[int, Path]) -> None:
    port, ca = tls_redis
    settings = make_settings(REDIS_URL=f"rediss://localhost:{port}/0", REDIS_SSL_CA_CERTS=str(ca))
    assert await _reachable(settings)


async def test_the_host_name_is_checked(tls_redis: tuple[int, Path]) -> None:
    port, ca = tls_redis  # the certificate names "localhost", not 127.0.0.1
    settings = make_settings(REDIS_URL=f"rediss://127.0.0.1:{port}/0", REDIS_SSL_CA_CERTS=str(ca))
    assert not await _reachable(settings)


async def test_insecure_mode_connects_and_says_so_loudly(
    tls_redis: tuple[int, Path], caplog: pytest.LogCaptureFixture
) -> None:
    port, _ = tls_redis
    settings = make_settings(REDIS_URL=f"rediss://localhost:{port}/0", REDIS_TLS_INSECURE="true")
    with caplog.at_level(logging.WARNING):
        assert await _reachable(settings)
    assert "NOT verified" in caplog.text


async def test_a_url_option_cannot_switch_verification_off_unannounced(
    tls_redis: tuple[int, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """redis-py applies `?ssl_cert_reqs=none` over the client's own options: refused at start-up
    unless REDIS_TLS_INSECURE says so, and then check-config warns about it."""
    port, _ = tls_redis
    url = f"rediss://localhost:{port}/0?ssl_cert_reqs=none"
    with pytest.raises(ConfigError, match="ssl_cert_reqs=none"):
        make_settings(REDIS_URL=url)
    settings = make_settings(REDIS_URL=url, REDIS_TLS_INSECURE="true")
    assert await _reachable(settings)  # the private CA is not trusted: only unverified works
    assert await check_redis(settings)
    out = capsys.readouterr().out
    assert "[WARNING] REDIS_TLS_INSECURE=true and ssl_cert_reqs=none in REDIS_URL" in out


async def test_check_config_explains_the_certificate_problem(
    tls_redis: tuple[int, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    port, _ = tls_redis
    assert not await check_redis(make_settings(REDIS_URL=f"rediss://localhost:{port}/0"))
    assert "REDIS_SSL_CA_CERTS" in capsys.readouterr().out


async def test_the_cache_hit_lane_verifies_certificates_too(tls_redis: tuple[int, Path]) -> None:
    port, ca = tls_redis
    for settings, answers in [
        (make_settings(REDIS_URL=f"rediss://localhost:{port}/0"), False),
        (make_settings(REDIS_URL=f"rediss://localhost:{port}/0", REDIS_SSL_CA_CERTS=str(ca)), True),
    ]:
        redis = create_redis(settings)
        assert redis is not None
        lane = Lane(redis, 1)
        try:
            if answers:
                assert await lane.execute(command(b"PING")) == b"PONG"
            else:
                with pytest.raises(RedisConnectionError, match="certificate verify failed"):
                    await lane.execute(command(b"PING"))
        finally:
            await lane.aclose()
            await redis.aclose()
