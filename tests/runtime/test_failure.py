"""A failed handler in one line: the exception's type, its message and its place in the user's
code (`dhmlrun.runtime.failure`), from real exceptions raised through real files."""

from __future__ import annotations

import logging
import runpy
from pathlib import Path

import pytest

from dhmlrun.runtime.failure import (
    HandlerErrorTrap,
    describe_failure,
    python_runtime_paths,
    source_paths,
)

HANDLER = """\
import pandas as pd


def summarise(df):
    return df["yearz"]
"""


def raised_by(path: Path, *args: object) -> BaseException:
    """Run the module at `path`, call its `summarise` with `args`, return what it raised."""
    handler = runpy.run_path(str(path))["summarise"]
    with pytest.raises(Exception) as info:
        handler(*args)
    return info.value


@pytest.fixture
def materialised(tmp_path: Path) -> Path:
    """The handler's file where the runtime materialises a local source (`run_dir/source`)."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "pipeline.py").write_text(HANDLER)
    return source / "pipeline.py"


def test_a_handler_error_reads_type_message_and_the_declared_file_and_line(materialised: Path) -> None:
    import pandas as pd

    raised = raised_by(materialised, pd.DataFrame({"years": [1]}))
    shown = source_paths(materialised, materialised.parent, "src/pipeline.py")
    assert describe_failure(raised, shown) == "KeyError: 'yearz' (src/pipeline.py:5)"


def test_a_wrapper_raised_from_the_handler_s_error_names_the_handler_s_error(materialised: Path) -> None:
    import pandas as pd

    handler_error = raised_by(materialised, pd.DataFrame())
    with pytest.raises(RuntimeError) as wrapped:
        raise RuntimeError("Something got wrong during function execution.") from handler_error
    shown = source_paths(materialised, materialised.parent, "src/pipeline.py")
    assert describe_failure(wrapped.value, shown) == "KeyError: 'yearz' (src/pipeline.py:5)"


def test_an_error_outside_the_user_s_code_keeps_its_type_and_has_no_place(materialised: Path) -> None:
    shown = source_paths(materialised, materialised.parent, "src/pipeline.py")
    assert describe_failure(ValueError("bad  \n value"), shown) == "ValueError: bad value"


def test_a_syntax_error_is_placed_at_its_line(tmp_path: Path) -> None:
    broken = tmp_path / "pipeline.py"
    broken.write_text("x = 1\ndef f(:\n")
    with pytest.raises(SyntaxError) as info:
        runpy.run_path(str(broken))
    assert describe_failure(info.value, source_paths(broken, tmp_path, None)).endswith("(pipeline.py:2)")


def test_a_python_function_s_embedded_file_is_shown_by_its_declared_path(tmp_path: Path) -> None:
    runtime = tmp_path / "ctx" / "runtime_python"
    runtime.mkdir(parents=True)
    (runtime / "main.py").write_text(HANDLER)
    import pandas as pd

    raised = raised_by(runtime / "main.py", pd.DataFrame())
    assert (
        describe_failure(raised, python_runtime_paths("src/train.py")) == "KeyError: 'yearz' (src/train.py:5)"
    )
    assert describe_failure(raised, python_runtime_paths(None)) == "KeyError: 'yearz' (main.py:5)"


def test_the_trap_keeps_the_exception_mlrun_logs_while_handling_it(materialised: Path) -> None:
    import pandas as pd

    logger = logging.getLogger("mlrun.test-trap")
    trap = HandlerErrorTrap()
    logger.addHandler(trap)
    try:
        logger.error("outside any exception")
        try:
            runpy.run_path(str(materialised))["summarise"](pd.DataFrame())
        except KeyError:
            logger.error("Execution error, ...")  # what mlrun logs from its except block
    finally:
        logger.removeHandler(trap)
    shown = source_paths(materialised, materialised.parent, "src/pipeline.py")
    assert trap.failure(shown) == "KeyError: 'yearz' (src/pipeline.py:5)"
