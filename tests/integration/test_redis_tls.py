"""rediss:// against a redis-server that only speaks TLS (self-signed CA made here)."""

from __future__ import annotations

import shutil
import subprocess

import redis
import redis_servers as rs


def _certs(d):  # type: ignore[no-untyped-def]
    openssl = shutil.which("openssl")
    assert openssl, "openssl is needed for the TLS test"
    run = [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
    subprocess.run([*run, "-keyout", d / "ca.key", "-out", d / "ca.crt", "-subj", "/CN=test-ca"],
                   check=True, capture_output=True)
    subprocess.run([openssl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", d / "srv.key",
                    "-out", d / "srv.csr", "-subj", "/CN=127.0.0.1"], check=True,
                   capture_output=True)
    (d / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    subprocess.run([openssl, "x509", "-req", "-in", d / "srv.csr", "-CA", d / "ca.crt",
                    "-CAkey", d / "ca.key", "-CAcreateserial", "-out", d / "srv.crt", "-days",
                    "2", "-extfile", d / "ext"], check=True, capture_output=True)


def test_rediss(cli, tmp_path, redis_workdir):  # type: ignore[no-untyped-def]
    _certs(tmp_path)
    port = rs.free_port()
    srv = rs.start(redis_workdir, "--tls-port", str(port), "--tls-cert-file",
                   str(tmp_path / "srv.crt"), "--tls-key-file", str(tmp_path / "srv.key"),
                   "--tls-ca-cert-file", str(tmp_path / "ca.crt"), "--tls-auth-clients", "no")
    try:
        c = redis.Redis(host="127.0.0.1", port=port, ssl=True,
                        ssl_ca_certs=str(tmp_path / "ca.crt"))
        c.set("PHPREDIS_SESSION:" + "t" * 26, b"", ex=1440)
        ok = cli("scan", f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={tmp_path / 'ca.crt'}",
                 "--json")
        assert ok.code == 0, ok.err
        rep = ok.json()
        assert rep["sessions"] == 1 and rep["target"]["location"] == f"rediss://127.0.0.1:{port}/0"
        assert cli("scan", f"rediss://127.0.0.1:{port}/0?ssl_cert_reqs=none", "--json").code == 0
        # An unknown CA is refused: exit 3, the target could not be read.
        bad = cli("scan", f"rediss://127.0.0.1:{port}/0")
        assert bad.code == 3 and "TLS" in bad.err
        c.close()
    finally:
        srv.stop()
