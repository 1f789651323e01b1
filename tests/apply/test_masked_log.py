"""What a worker prints reaches `.dhmlrun/logs` with the sensitive values masked, as it comes
(issue 21, item 3: a handler printing its token left it in the config directory)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from dhmlrun.apply.workers import MaskedCopy
from dhmlrun.vocabulary.mask import StreamMask, mask_text

SECRETS = ["s3cr3t-t0k", "a\nb", "x"]
TEXT = "start s3cr3t-t0k end\nline a\nb and x s3cr3t-t0ks3cr3t-t0k\n" * 20 + "tail s3cr3t-t0k"


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
@pytest.mark.parametrize("max_pending", [1, 16, 65536])
def test_a_secret_cut_between_pieces_is_masked_whole(size: int, max_pending: int) -> None:
    masked = StreamMask(SECRETS, max_pending=max_pending)
    pieces = [masked.feed(TEXT[i : i + size]) for i in range(0, len(TEXT), size)]
    shown = "".join(pieces) + masked.end()
    assert shown == mask_text(TEXT, SECRETS)
    assert not any("s3cr" in piece and "t0k" in piece for piece in pieces)


def test_a_worker_output_is_copied_masked_while_it_is_written(tmp_path: Path) -> None:
    source, target = tmp_path / "printed.log", tmp_path / "logs" / "runs.r.log"
    target.parent.mkdir()
    seen_while_running: list[str] = []

    def worker() -> None:
        with source.open("w") as out:
            for i in range(0, len(TEXT), 5):
                out.write(TEXT[i : i + 5])
                out.flush()
                time.sleep(0.002)
        time.sleep(MaskedCopy.POLL_SECONDS * 3)
        seen_while_running.append(target.read_text())

    with MaskedCopy(source, target, SECRETS):
        writer = threading.Thread(target=worker)
        writer.start()
        writer.join()
    assert target.read_text() == mask_text(TEXT, SECRETS)
    assert seen_while_running[0] and "s3cr3t-t0k" not in seen_while_running[0]


def test_a_worker_that_printed_nothing_leaves_an_empty_log(tmp_path: Path) -> None:
    with MaskedCopy(tmp_path / "never-written", tmp_path / "runs.r.log", SECRETS):
        pass
    assert (tmp_path / "runs.r.log").read_text() == ""
