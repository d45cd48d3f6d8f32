"""`ledger verify`: every invariant of the ledger checked in SQL, with a printable report."""

from __future__ import annotations

import dataclasses

from sqlalchemy.ext.asyncio import AsyncSession

from mboa.ledger.verify_repository import CHECKS, CheckResult, VerifyRepository


@dataclasses.dataclass(frozen=True, slots=True)
class VerifyReport:
    results: list[CheckResult]
    totals: dict[str, int]

    @property
    def ok(self) -> bool:
        return all(result.violations == 0 for result in self.results)

    @property
    def violations(self) -> dict[str, int]:
        return {r.check.name: r.violations for r in self.results if r.violations}

    def render(self) -> str:
        lines = [
            "ledger verify: {accounts} accounts, {transactions} transactions, {entries} entries".format(
                **self.totals
            )
        ]
        for result in self.results:
            mark = "ok  " if result.violations == 0 else "FAIL"
            lines.append(f"  {mark} {result.check.name}: {result.check.description}")
            if result.violations:
                lines.append(f"       {result.violations} violation(s), e.g.:")
                lines.extend(f"         - {sample}" for sample in result.samples)
        lines.append("ledger verify: " + ("OK" if self.ok else "VIOLATIONS FOUND"))
        return "\n".join(lines)


async def verify(
    session: AsyncSession, *, roles: list[str], grace_seconds: int = 900
) -> VerifyReport:
    """Run every check in one repeatable-read snapshot (the session's transaction)."""
    repository = VerifyRepository.from_session(session)
    results = [
        await repository.run(check, roles=roles, grace_seconds=grace_seconds) for check in CHECKS
    ]
    return VerifyReport(results, await repository.totals())
