"""Benchmark (8): `dhmlrun plan` on the applied employees example, whole process, vs `terraform plan`.

    python bench/bench_plan_example.py [--quick]

What a user feels when re-planning a small, unchanged repo: `examples/employees` (a project, a
dataitem, two functions, two runs: 6 resources) is copied to a temporary directory without its
`.dhmlrun`, applied once with `dhmlrun apply DIR --auto-approve` (the embedded core, real mlrun
runs), then `dhmlrun plan DIR` is timed as a whole process, best of 5, in turns with the
baseline (the machine is shared). Whether every plan was a no-op ("No changes.") is reported and
is part of the goal: a plan with changes would be another measurement than the one meant.

The environment has no `DHCORE_*`/`DH_*` variable and `DH_CONFIG=/dev/null`, so the command uses
the embedded core whatever the benchmarking shell points at. Python's bytecode cache is a
private directory (`PYTHONPYCACHEPREFIX`, filled by an untimed plan first), so the headline is
the plan as an installed dhmlrun runs it, and does not depend on whether the checkout's
`__pycache__` is stale or `PYTHONDONTWRITEBYTECODE` is set; the plan with the shell's own
settings is reported next to it.

Baseline, measured in the same run: `terraform plan -input=false -lock=false` on an equivalent
Terraform configuration of 6 `terraform_data` resources (built-in provider: nothing is
downloaded), initialised and applied once so the plan is a no-op. Without terraform on PATH the
row has no baseline. Goal: the dhmlrun plan in at most 0.3 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PYTHON, REPO, Result, embedded_env, run_timed, seconds, verdict

EXAMPLE = REPO / "examples" / "employees"
GOAL_SECONDS = 0.3
REPEAT = 5
NO_CHANGES = "No changes."
"""What both tools print first when a plan is a no-op."""

TERRAFORM_CONFIG = """\
# The employees example as Terraform would hold it: the same 6 resources, the same references.
terraform {
  required_version = ">= 1.4"
}

variable "env" {
  default = "dev"
}

variable "min_years" {
  default = 2
}

locals {
  source = filesha256("${path.module}/../employees/src/pipeline.py")
}

resource "terraform_data" "project" {
  input = { name = "employees-${var.env}", description = "Employee ETL and salary summary" }
}

resource "terraform_data" "dataitem_employees" {
  input = { project = terraform_data.project.output.name, kind = "table", path = "data/employees.csv" }
}

resource "terraform_data" "function_downloader" {
  input = {
    project = terraform_data.project.output.name, kind = "mlrun", source = local.source,
    handler = "downloader", image = "mlrun/mlrun"
  }
}

resource "terraform_data" "function_summarise" {
  input = {
    project = terraform_data.project.output.name, kind = "mlrun", source = local.source,
    handler = "summarise", image = "mlrun/mlrun"
  }
}

resource "terraform_data" "run_download" {
  input = {
    function = terraform_data.function_downloader.id, action = "job",
    inputs   = { url = terraform_data.dataitem_employees.id },
    outputs  = { dataset = "employees-clean" }, values = ["rows"]
  }
}

resource "terraform_data" "run_summary" {
  input = {
    function   = terraform_data.function_summarise.id, action = "job",
    inputs     = { dataset = terraform_data.run_download.output.outputs.dataset },
    outputs    = { dataset = "salary-summary" },
    parameters = { min_years = var.min_years }
  }
}
"""


def dhmlrun_command() -> list[str]:
    """`dhmlrun` as a user types it: the console script next to this interpreter, else `-m`."""
    script = Path(PYTHON).parent / "dhmlrun"
    return [str(script)] if script.exists() else [PYTHON, "-m", "dhmlrun"]


def copy_example(tmp: Path) -> Path:
    """The example without its `.dhmlrun` (a fresh embedded core; the checkout's is not touched)."""
    return Path(shutil.copytree(EXAMPLE, tmp / "employees", ignore=shutil.ignore_patterns(".dhmlrun")))


def with_private_bytecode(env: dict[str, str], cache: Path) -> dict[str, str]:
    """`env` with Python reading and writing bytecode in `cache` (module docstring: why)."""
    kept = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**kept, "PYTHONPYCACHEPREFIX": str(cache)}


@dataclass(frozen=True)
class PlanCommand:
    """A prepared plan command: run in `cwd` with `env`, it must find nothing to do."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]


@dataclass
class Timing:
    """The best wall seconds of a plan command so far, and whether every run of it was a no-op
    (exit 0 and "No changes." on stdout)."""

    best: float = float("inf")
    no_op: bool = True


def interleaved(commands: dict[str, PlanCommand], repeat: int) -> dict[str, Timing]:
    """Each command `repeat` times, in turns, so other load on the shared machine hits them
    alike rather than whichever happened to run during it."""
    timings = {name: Timing() for name in commands}
    for _ in range(repeat):
        for name, command in commands.items():
            elapsed, done = run_timed(command.argv, cwd=command.cwd, env=command.env)
            timing = timings[name]
            timing.best = min(timing.best, elapsed)
            timing.no_op = timing.no_op and NO_CHANGES in done.stdout
    return timings


def prepare_dhmlrun(tmp: Path) -> tuple[float, PlanCommand, PlanCommand]:
    """Apply a copy of the example once; (apply seconds, its plan with a private bytecode cache,
    the same plan with this shell's Python settings)."""
    directory = copy_example(tmp)
    env = embedded_env()
    command = dhmlrun_command()
    applied, _ = run_timed([*command, "apply", str(directory), "--auto-approve"], cwd=tmp, env=env)
    plan = [*command, "plan", str(directory)]
    cached = PlanCommand(plan, tmp, with_private_bytecode(env, tmp / "pycache"))
    run_timed(cached.argv, cwd=cached.cwd, env=cached.env)  # fills the bytecode cache; untimed
    return applied, cached, PlanCommand(plan, tmp, env)


def terraform_env(tmp: Path) -> dict[str, str]:
    """No CLI configuration of the user's (an empty file), no version check over the network."""
    rc = tmp / "empty.tfrc"
    rc.write_text("")
    return {**os.environ, "TF_CLI_CONFIG_FILE": str(rc), "CHECKPOINT_DISABLE": "1"}


def prepare_terraform(tmp: Path) -> PlanCommand | None:
    """The equivalent Terraform configuration, initialised and applied once, so its plan is a
    no-op; None without terraform."""
    terraform = shutil.which("terraform")
    if terraform is None:
        return None
    directory = tmp / "terraform"
    directory.mkdir()
    (directory / "main.tf").write_text(TERRAFORM_CONFIG)
    env = terraform_env(tmp)
    run_timed([terraform, "init", "-input=false", "-no-color"], cwd=directory, env=env)
    run_timed([terraform, "apply", "-auto-approve", "-input=false", "-no-color"], cwd=directory, env=env)
    return PlanCommand([terraform, "plan", "-input=false", "-lock=false", "-no-color"], directory, env)


def run(quick: bool = False) -> list[Result]:
    """Benchmark (8). `quick` changes nothing: one apply and fifteen short plans are already a
    smoke run's size."""
    del quick
    with tempfile.TemporaryDirectory(prefix="bench-plan-example-") as tmp_dir:
        tmp = Path(tmp_dir)
        applied, cached, inherited = prepare_dhmlrun(tmp)
        commands = {"dhmlrun": cached, "dhmlrun, shell settings": inherited}
        terraform = prepare_terraform(tmp)
        if terraform is not None:
            commands["terraform"] = terraform
        timings = interleaved(commands, REPEAT)
    plan = timings["dhmlrun"]
    no_op = plan.no_op and timings["dhmlrun, shell settings"].no_op
    dont_write = ", PYTHONDONTWRITEBYTECODE set" if os.environ.get("PYTHONDONTWRITEBYTECODE") else ""
    notes = [
        f'every dhmlrun plan printed "{NO_CHANGES}": {no_op}',
        f"with this shell's Python settings (bytecode as the checkout has it{dont_write}): "
        f"{seconds(timings['dhmlrun, shell settings'].best)}",
        f"the one apply before: {seconds(applied)}",
    ]
    baseline, ratio = "-", None
    if "terraform" in timings:
        tf = timings["terraform"]
        baseline, ratio = f"{seconds(tf.best)} (terraform plan)", plan.best / tf.best
        notes.append(f'every terraform plan printed "{NO_CHANGES}": {tf.no_op}')
    else:
        notes.append("terraform not found on PATH: no baseline")
    return [
        Result(
            "8. plan on the applied example, whole process",
            seconds(plan.best),
            baseline,
            ratio,
            f"<= {GOAL_SECONDS} s, no-op",
            plan.best <= GOAL_SECONDS and no_op,
            f"best of {REPEAT}, interleaved; dhmlrun on its embedded core with a private bytecode "
            "cache; terraform: 6 terraform_data, CHECKPOINT_DISABLE=1",
            notes,
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="accepted for symmetry; same run")
    args = parser.parse_args()
    for result in run(args.quick):
        ratio = "-" if result.ratio is None else f"{result.ratio:.2f}"
        print(
            f"{result.name}: {result.measured} vs {result.baseline}, ratio dhmlrun/terraform "
            f"{ratio}; goal {result.goal}: {verdict(result.met)}"
        )
        for note in [result.how, *result.notes]:
            print(f"    {note}")


if __name__ == "__main__":
    main()
