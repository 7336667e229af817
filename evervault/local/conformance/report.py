"""Check outcomes, the table for people and the JSON for CI.

Each observation is ``pass``, ``fail`` or ``finding`` (a known defect of published SDKs,
reported but not failing the run); a check with no observation is ``skip``. A cell shows
the worst outcome of its check on that curve: fail, then finding, then pass.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


class Status(enum.Enum):
    PASS = "pass"  # noqa: S105 - a status, not a password
    FAIL = "fail"
    FINDING = "finding"
    SKIP = "skip"


# Every check, in report order: id -> what it verifies.
CHECKS: dict[str, str] = {
    "protocol": "adapter starts, configures and answers every request",
    "encrypt.grammar": "every ev-string parses strictly (segments, unpadded canonical base64, sizes)",
    "encrypt.version": "version tag is the current one for the curve and role (RFVC/S0lS, Tk9D/QkTC)",
    "encrypt.datatype": "datatype segment matches the value (string/number/boolean)",
    "encrypt.round-trip": "decrypts with the app's private key to the same type and value",
    "encrypt.metadata": "role values carry metadata: dr = role, eo 0-127, et = now",
    "encrypt.shape": "containers keep their keys, lengths and non-encryptable values",
    "encrypt.nonce-unique": "no (ephemeral key, IV) pair is ever used twice",
    "file.envelope": "%EVENC envelope: version for the curve, 55-byte header, valid CRC-32",
    "file.round-trip": "files decrypt to the same bytes (0 B to 3 MiB)",
    "api.key-fetch": "GET cages/key with Api-Key, accepted",
    "api.decrypt": "decrypt via POST decrypt (Basic) returns the original values and file",
    "api.client-side-token": "POST client-side-tokens (Basic) gives a token that decrypts its payload",
    "api.run-token": "POST v2/functions/{name}/run-token (Api-Key) gives a token that runs the payload",
    "api.run": "POST functions/{name}/runs (Basic) runs a Function on the decrypted payload",
    "probe.role-key-reuse": "known defect: a role and a no-role encrypt in one key window share a key",
    "probe.key-race": "known defect: concurrent encrypts while the ephemeral key is generated",
    "probe.rotation-race": "known defect: concurrent encrypts when the key rotates (--rotation-wait)",
    "probe.big-integers": "integers beyond +-2^53 round-trip exactly",
    "probe.whitespace": "strings with leading/trailing whitespace round-trip exactly",
    "probe.token-expiry": "client-side token with an explicit expiry 5 minutes ahead",
}


@dataclass(frozen=True)
class Observation:
    check: str
    curve: str
    status: Status
    detail: str | None = None


@dataclass
class SdkReport:
    """Everything observed for one SDK (as its adapter names itself) over the curves run."""

    command: str
    curves: list[str]
    sdk: str = "unknown"
    version: str = "unknown"
    language: str = "unknown"
    observations: list[Observation] = field(default_factory=list)

    def add(self, check: str, curve: str, status: Status, detail: str | None = None) -> None:
        if check not in CHECKS:
            raise KeyError(f"unknown check {check!r}")
        self.observations.append(Observation(check, curve, status, detail))

    def cell(self, check: str, curve: str) -> tuple[Status, int, int]:
        """The cell's status, with how many observations passed out of how many."""
        seen = [o for o in self.observations if o.check == check and o.curve == curve]
        passed = sum(o.status is Status.PASS for o in seen)
        statuses = {o.status for o in seen}
        for status in (Status.FAIL, Status.FINDING, Status.PASS):
            if status in statuses:
                return status, passed, len(seen)
        return Status.SKIP, 0, 0

    @property
    def failed(self) -> bool:
        return any(o.status is Status.FAIL for o in self.observations)

    def notes(self, status: Status) -> list[tuple[Observation, int]]:
        """Distinct notes of one status, each with how many times it was observed."""
        counts: dict[tuple[str, str, str | None], int] = {}
        first: dict[tuple[str, str, str | None], Observation] = {}
        for observation in self.observations:
            if observation.status is status:
                key = (observation.check, observation.curve, observation.detail)
                counts[key] = counts.get(key, 0) + 1
                first.setdefault(key, observation)
        return [(first[key], counts[key]) for key in first]

    def to_json(self) -> dict[str, Any]:
        checks = []
        for check, title in CHECKS.items():
            for curve in self.curves:
                status, passed, total = self.cell(check, curve)
                details = [
                    o.detail
                    for o in self.observations
                    if o.check == check and o.curve == curve and o.status is not Status.PASS and o.detail
                ]
                checks.append(
                    {
                        "id": check,
                        "title": title,
                        "curve": curve,
                        "status": status.value,
                        "passed": passed,
                        "total": total,
                        "details": list(dict.fromkeys(details)),
                    }
                )
        counts = {status.value: sum(c["status"] == status.value for c in checks) for status in Status}
        return {
            "sdk": {
                "name": self.sdk,
                "version": self.version,
                "language": self.language,
                "command": self.command,
            },
            "curves": self.curves,
            "ok": not self.failed,
            "summary": counts,
            "checks": checks,
        }

    def render(self, *, max_notes: int = 40) -> str:
        """A Markdown table (one row per check, one column per curve), then failures and findings."""
        lines = [f"### {self.sdk} {self.version} ({self.language})", ""]
        lines.append("| check | " + " | ".join(self.curves) + " |")
        lines.append("|---|" + "---|" * len(self.curves))
        for check in CHECKS:
            cells = [_cell_text(*self.cell(check, curve)) for curve in self.curves]
            lines.append(f"| `{check}` | " + " | ".join(cells) + " |")
        for status, heading in ((Status.FAIL, "Failures"), (Status.FINDING, "Findings")):
            notes = self.notes(status)
            if notes:
                lines += ["", f"{heading}:"]
                lines += [
                    f"- `{n.check}` ({n.curve}): {n.detail}" + (f" (x{count})" if count > 1 else "")
                    for n, count in notes[:max_notes]
                ]
                if len(notes) > max_notes:
                    lines.append(f"- ... and {len(notes) - max_notes} more (see --json)")
        lines += ["", "Result: " + ("FAIL" if self.failed else "pass") + f" (adapter: `{self.command}`)"]
        return "\n".join(lines)


def _cell_text(status: Status, passed: int, total: int) -> str:
    if status is Status.SKIP:
        return "skip"
    label = {Status.PASS: "pass", Status.FAIL: "**FAIL**", Status.FINDING: "finding"}[status]
    return f"{label} {passed}/{total}"


def render_all(reports: Iterable[SdkReport]) -> str:
    return "\n\n".join(report.render() for report in reports)
