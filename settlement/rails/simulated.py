"""A simulated bank: a payment rail for demos and tests, with injectable outages, delay and returns."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from settlement.rails.interface import (
    Confirmation,
    PaymentInstruction,
    RailUnavailable,
    Submission,
    journal_terms,
    new_instructions,
    submissions,
    utcnow,
    validate_for_sepa,
)
from settlement.rails.journal import Journal

RETURN_REASON = "MS03"  # ISO 20022 return reason: reason not specified


class SimulatedBank:
    """A bank whose whole memory is state_dir/bank.jsonl, so a restarted worker meets the same bank.

    fail_submissions=n: the first n submit calls against state_dir raise RailUnavailable, counted
    in the journal, so separate instances share the count. An accepted instruction is settled, or
    returned if its id is in reject_instruction_ids, delay_seconds after its submission by clock;
    the outcome and the due time are fixed when it is accepted. Money moves when an instruction
    is accepted and settles; payments_made() counts those moves per id.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        delay_seconds: float = 0.0,
        fail_submissions: int = 0,
        reject_instruction_ids: frozenset[str] = frozenset(),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if delay_seconds < 0:
            raise ValueError(f"delay_seconds must be >= 0, got {delay_seconds}")
        if fail_submissions < 0:
            raise ValueError(f"fail_submissions must be >= 0, got {fail_submissions}")
        state_dir.mkdir(parents=True, exist_ok=True)
        self.delay = timedelta(seconds=delay_seconds)
        self.fail_submissions = fail_submissions
        self.reject_instruction_ids = reject_instruction_ids
        self._clock = clock
        self._journal = Journal(state_dir / "bank.jsonl")

    def submit(self, instructions: Sequence[PaymentInstruction]) -> list[Submission]:
        checked = validate_for_sepa(instructions)
        with self._journal.locked():
            records = self._journal.records()
            outages = sum(1 for r in records if r["event"] == "unavailable")
            now = self._clock()
            if outages < self.fail_submissions:
                self._journal.append([{"event": "unavailable", "at": now.isoformat()}])
                raise RailUnavailable(
                    f"simulated bank unavailable (outage {outages + 1} of {self.fail_submissions}), retry later"
                )
            accepted = [r for r in records if r["event"] == "accepted"]
            submitted = {r["instruction_id"]: r for r in accepted}
            fresh = new_instructions(checked, submitted)
            references = {instruction_id: r["reference"] for instruction_id, r in submitted.items()}
            new_records = []
            for number, instruction in enumerate(fresh, len(accepted) + 1):
                references[instruction.instruction_id] = f"SIM-{number:08d}"
                rejected = instruction.instruction_id in self.reject_instruction_ids
                new_records.append(
                    journal_terms(instruction)
                    | {
                        "event": "accepted",
                        "reference": references[instruction.instruction_id],
                        "submitted_at": now.isoformat(),
                        "due_at": (now + self.delay).isoformat(),
                        "outcome": "rejected" if rejected else "settled",
                    }
                )
            self._journal.append(new_records)
        return submissions(checked, fresh, references)

    def confirmations(self) -> list[Confirmation]:
        now = self._clock()
        due = [
            (datetime.fromisoformat(r["due_at"]), r)
            for r in self._journal.records()
            if r["event"] == "accepted"
        ]
        return [
            Confirmation(
                instruction_id=r["instruction_id"],
                status=r["outcome"],
                amount_minor=r["amount_minor"],
                currency=r["currency"],
                booked_at=due_at,
                reason=RETURN_REASON if r["outcome"] == "rejected" else "",
            )
            for due_at, r in sorted(due, key=lambda pair: pair[0])
            if due_at <= now
        ]

    def payments_made(self) -> dict[str, int]:
        """Instruction id -> how many times money moved for it; returned instructions move none."""
        moves = Counter(
            r["instruction_id"]
            for r in self._journal.records()
            if r["event"] == "accepted" and r["outcome"] == "settled"
        )
        return dict(moves)
