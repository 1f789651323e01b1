"""The view of an apply's outcome: one line per failed or skipped step, then the summary."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from dhmlrun.apply.results import DONE, FAILED, SKIPPED, ApplyResult
from dhmlrun.plan.model import RUN
from dhmlrun.views.plan import style
from dhmlrun.views.terminal import safe_text
from dhmlrun.vocabulary.mask import mask_text


def render_apply_summary(
    outcome: ApplyResult,
    secrets: Iterable[str] = (),
    colour: bool = False,
    logs_command: Callable[[str], str] | None = None,
) -> str:
    """`Apply complete: N done, M failed, K skipped.` (`Destroy complete` for a destroy), plus
    one line per failure or skip; a failed run's line ends with where its whole output is
    (`logs_command(address)`: `dhmlrun logs runs.x ...`)."""
    results = outcome.results
    done = [r for r in results if r.status == DONE]
    failed = [r for r in results if r.status == FAILED]
    skipped = [r for r in results if r.status == SKIPPED]
    lines = []
    for r in failed:
        hint = f"; see: {logs_command(r.address)}" if logs_command and r.action == RUN else ""
        line = f"  failed:  {r.address} ({r.action}): {_shown(r.message, secrets)}{hint}"
        lines.append(style(line, "delete", colour))
    lines += [f"  skipped: {r.address} ({r.action}): {_shown(r.message, secrets)}" for r in skipped]
    verb = "Destroy" if outcome.destroy else "Apply"
    head = (
        f"{verb} interrupted" if outcome.interrupted else f"{verb} failed" if failed else f"{verb} complete"
    )
    lines.append(f"{head}: {len(done)} done, {len(failed)} failed, {len(skipped)} skipped.")
    return "\n".join(lines)


def _shown(message: str, secrets: Iterable[str]) -> str:
    """A run's or the platform's message: secrets masked, control sequences taken out."""
    return safe_text(mask_text(message, secrets))
