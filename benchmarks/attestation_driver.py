"""Times one attestation verifier per new connection, on command; run by ``benchmarks/run.py``.

Runs either under this repository (``ours``) or under a virtualenv holding Evervault's Rust
bindings (``bindings``, ``evervault-attestation-bindings``). The bindings read the wall
clock, so ``run.py`` starts that process under ``faketime`` at the document's instant; this
SDK's verifier takes the instant as an argument.

Both sides do what a session does for each new TLS connection to an enclave, on the same
real AWS Nitro documents:

* ``ga``: a document fetched separately (``/.well-known/attestation``) plus the TLS
  certificate it is bound to;
* ``beta``: a TLS certificate carrying its document in a SubjectAltName.

For this SDK, ``*_first`` is the first connection of a session (nothing cached) and
``*_connection`` every later one (the session's verified-document cache is warm).

One JSON command per line on stdin, one JSON reply per line on stdout:
``{"op": "init", "impl", "vectors", "cases"?}``, ``{"op": "sample", "case", "batch"}``, ``{"op": "quit"}``.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

CASES = {"ga": "ga-zero-pcrs", "beta": "beta-nondebug-pem-all-pcrs"}


def _load(vectors: Path) -> dict[str, dict[str, Any]]:
    manifest = json.loads((vectors / "manifest.json").read_text())
    by_id = {case["id"]: case for case in manifest["cases"]}
    loaded = {}
    for name, case_id in CASES.items():
        case = by_id[case_id]
        files = case["files"]
        document = None
        if "doc" in files:
            raw = (vectors / files["doc"]).read_bytes()
            document = base64.b64decode(raw) if case.get("doc_encoding") == "base64" else raw
        loaded[name] = {
            "certificate": (vectors / files["cert"]).read_bytes(),
            "document": document,
            "pcrs": case["pcrs"],
            "at": case["verify_at"],
        }
    return loaded


def our_cases(vectors: dict[str, dict[str, Any]]) -> dict[str, Callable[[], object]]:
    from evervault.domain.attestation import VerifiedDocuments, pcr_policy_from, verify
    from evervault.domain.attestation.certificates import load_certificate
    from evervault.domain.attestation.san import document_from_certificate

    cases: dict[str, Callable[[], object]] = {}
    for name, vector in vectors.items():
        policy = pcr_policy_from(vector["pcrs"])
        at = datetime.fromtimestamp(vector["at"], timezone.utc)
        session_cache = VerifiedDocuments()

        def connection(
            vector: dict[str, Any] = vector,
            policy: Any = policy,
            at: datetime = at,
            cache: Any = session_cache,
        ) -> object:
            certificate = load_certificate(vector["certificate"])
            document = vector["document"] or document_from_certificate(certificate)
            return verify(document, certificate, at=at, policy=policy, cache=cache)

        def first(connection: Callable[..., object] = connection) -> object:
            return connection(cache=VerifiedDocuments())

        connection()  # a session's first connection fills its cache
        cases[f"{name}_connection"] = connection
        cases[f"{name}_first"] = first
    return cases


def binding_cases(vectors: dict[str, dict[str, Any]]) -> dict[str, Callable[[], object]]:
    import evervault_attestation_bindings as bindings

    def expected(pcrs: dict[str, str]) -> list[Any]:
        return [bindings.PCRs(pcrs.get("pcr_0"), pcrs.get("pcr_1"), pcrs.get("pcr_2"), pcrs.get("pcr_8"))]

    ga, beta = vectors["ga"], vectors["beta"]
    ga_pcrs, beta_pcrs = expected(ga["pcrs"]), expected(beta["pcrs"])
    beta_der = _der(beta["certificate"])
    return {
        "ga_connection": lambda: bindings.attest_enclave(ga["certificate"], ga_pcrs, ga["document"]),
        "beta_connection": lambda: bindings.attest_connection(beta_der, beta_pcrs),
    }


def _der(certificate: bytes) -> bytes:
    """The bindings take DER; the beta vector is PEM."""
    if not certificate.lstrip().startswith(b"-----BEGIN"):
        return certificate
    body = b"".join(line for line in certificate.splitlines() if line and not line.startswith(b"-----"))
    return base64.b64decode(body)


class Driver:
    def __init__(self) -> None:
        self.cases: dict[str, Callable[[], object]] = {}

    def init(self, command: dict[str, Any]) -> dict[str, Any]:
        vectors = _load(Path(command["vectors"]))
        build = our_cases if command["impl"] == "ours" else binding_cases
        wanted = command.get("cases")  # the bindings run at one faked instant: one document each
        self.cases = {name: call for name, call in build(vectors).items() if wanted is None or name in wanted}
        verdicts = {name: bool(call()) for name, call in self.cases.items()}  # all must verify
        if not all(verdicts.values()):
            raise SystemExit(f"a verification failed: {verdicts}")
        return {"cases": sorted(self.cases), "python": sys.version.split()[0]}

    def sample(self, command: dict[str, Any]) -> dict[str, Any]:
        call, batch = self.cases[command["case"]], int(command["batch"])
        start = time.perf_counter()
        for _ in range(batch):
            call()
        return {"seconds": (time.perf_counter() - start) / batch}


def main() -> None:
    driver = Driver()
    handlers = {"init": driver.init, "sample": driver.sample}
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "quit":
            break
        print(json.dumps(handlers[command["op"]](command)), flush=True)


if __name__ == "__main__":
    main()
