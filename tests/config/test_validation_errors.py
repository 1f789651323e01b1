"""Schema and value checks: every bad input is one clear problem with file, line, path and what is allowed."""

from __future__ import annotations

import base64
import io
import tarfile
import zipfile

import pytest

from .conftest import load, one_problem, problems

HEAD = "version: 1\nproject: {name: demo}\n"


def test_unknown_key_suggests_the_nearest_and_lists_allowed(write):
    root = write(
        HEAD
        + """\
        functions:
          f: {kind: mlrun, source: {source: src/main.py}}
        runs:
          r:
            function: f
            action: job
            trigers: always
        """.replace("        ", "")
    )
    problem = one_problem(root)
    assert problem.message == "unknown key 'trigers'; did you mean 'trigger'?"
    assert problem.path == "runs.r.trigers"
    assert problem.location.line == 9 and problem.location.column == 5
    assert "trigger" in problem.allowed and "schedule" in problem.allowed


def test_unknown_top_level_key(write):
    problem = one_problem(write(HEAD + "dataitem: {}\n"))
    assert "did you mean 'dataitems'?" in problem.message


def test_wrong_type_says_what_was_expected_and_got(write):
    problem = one_problem(write(HEAD + "dataitems:\n  d: {kind: table, path: [a]}\n"))
    assert problem.message == "expected a string, got a list"
    assert problem.path == "dataitems.d.path"


def test_wrong_version(write):
    problem = one_problem(write("version: 2\nproject: {name: demo}\n"))
    assert problem.path == "version" and "must be 1" in problem.message


def test_missing_required_key(write):
    problem = one_problem(write("version: 1\nproject: {description: x}\n"))
    assert problem.message == "missing required key 'name'" and problem.path == "project"


def test_unknown_function_kind_lists_allowed(write):
    problem = one_problem(write(HEAD + "functions:\n  f: {kind: container, source: {source: src/main.py}}\n"))
    assert "'container' is not allowed" in problem.message
    assert problem.allowed == "mlrun, python"
    assert problem.path == "functions.f.kind"


def test_unknown_dataitem_kind_lists_allowed(write):
    problem = one_problem(write(HEAD + "dataitems:\n  d: {kind: tabel, path: data.csv}\n"))
    assert "did you mean 'table'?" in problem.message and problem.allowed == "table, dataitem"


def test_source_with_none_of_source_code_base64(write):
    problem = one_problem(write(HEAD + "functions:\n  f: {kind: mlrun, source: {handler: h}}\n"))
    assert problem.message == "give exactly one of source, code, base64"
    assert problem.path == "functions.f.source"


def test_source_with_two_of_source_code_base64(write):
    problem = one_problem(write(HEAD + "functions:\n  f: {kind: mlrun, source: {code: x, base64: eA==}}\n"))
    assert "only one of" in problem.message and "code, base64" in problem.message


def test_invalid_base64(write):
    problem = one_problem(write(HEAD + "functions:\n  f: {kind: mlrun, source: {base64: 'not base64!'}}\n"))
    assert "base64 does not decode" in problem.message
    assert problem.path == "functions.f.source.base64" and problem.location.line == 4


def test_valid_base64_and_inline_code_are_accepted(write):
    encoded = base64.b64encode(b"def h(context):\n    pass\n").decode()
    root = write(
        HEAD + f"functions:\n  a: {{kind: mlrun, source: {{base64: '{encoded}'}}}}\n"
        "  b: {kind: mlrun, source: {code: 'def h(c): pass', lang: python}}\n"
    )
    declaration = load(root)
    assert declaration.resources["functions.a"].spec["source"] == {"base64": encoded}


def test_missing_source_file(write):
    problem = one_problem(write(HEAD + "functions:\n  f: {kind: mlrun, source: {source: src/nope.py}}\n"))
    assert "'src/nope.py' does not exist" in problem.message
    assert problem.path == "functions.f.source.source"


def test_unsupported_url_scheme_lists_allowed(write):
    problem = one_problem(write(HEAD + "functions:\n  f: {kind: mlrun, source: {source: 'ftp://h/x.py'}}\n"))
    assert problem.message == "unsupported source 'ftp://h/x.py': dhmlrun cannot fetch ftp:// code"
    assert "git+https://" in problem.allowed and "zip+s3://" in problem.allowed


def test_supported_source_urls_are_kept_as_written(write):
    urls = [
        "git+https://github.com/o/r.git#main",
        "zip+s3://bucket/code.zip",
        "zip+https://h/c.zip",
        "https://h/code.zip",
        "https://h/code.tar.gz",
        "https://h/job.py",
        "s3://bucket/code.py",
        "s3://bucket/code.tgz",
    ]
    body = "functions:\n" + "".join(
        f"  f{i}: {{kind: mlrun, source: {{source: '{u}'}}}}\n" for i, u in enumerate(urls)
    )
    declaration = load(write(HEAD + body))
    sources = [declaration.resources[f"functions.f{i}"].spec["source"]["source"] for i in range(len(urls))]
    assert sources == urls


def source_problem(write, source: str, files: dict[str, bytes] | None = None):
    root = write(HEAD + f"functions:\n  f: {{kind: mlrun, source: {source}}}\n")
    for name, content in (files or {}).items():
        (root / name).write_bytes(content)
    return one_problem(root)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("https://h/code", "an https:// source must name a .py file or an archive"),
        ("s3://bucket/data.csv", "an s3:// source must name a .py file or an archive"),
        ("http://h/job.py", "dhmlrun cannot fetch http:// code"),
        ("git+http://h/r.git", "dhmlrun cannot fetch git+http:// code"),
        ("file:///etc/passwd", "dhmlrun cannot fetch file:// code"),
    ],
)
def test_a_source_url_the_runtime_cannot_fetch_from_a_declaration_is_refused(write, url, said):
    problem = source_problem(write, f"{{source: '{url}'}}")
    assert said in problem.message and problem.path == "functions.f.source.source"


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buffer.getvalue()


def tar_gz_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["code.zip", "code.tar.gz", "code.tgz", "code.tar", "packed.bin"])
def test_local_archives_are_accepted(write, name):
    members = {"app/main.py": b"def h(context):\n    pass\n"}
    content = zip_of(members) if "zip" in name or "bin" in name else tar_gz_of(members)
    body = f"{{kind: mlrun, source: {{source: src/{name}}}, handler: 'app.main:h'}}"
    root = write(HEAD + f"functions:\n  f: {body}\n")
    (root / "src" / name).write_bytes(content)
    assert load(root).resources["functions.f"].spec["source"]["source"] == str(root / "src" / name)


def test_a_local_archive_escaping_its_directory_is_refused_at_validate(write):
    problem = source_problem(write, "{source: src/bad.zip}", {"src/bad.zip": zip_of({"../evil.py": b"x"})})
    assert problem.message == (
        "source file 'src/bad.zip' cannot be used: the archive is refused: member "
        "'../evil.py' escapes the target directory"
    )


def test_a_local_zip_bomb_is_refused_at_validate(write, tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("zeros", "w") as member:
        for _ in range(512):
            member.write(bytes(1024 * 1024))
    problem = source_problem(write, "{source: src/bomb.zip}", {"src/bomb.zip": bomb.read_bytes()})
    assert "the archive is refused: it unpacks to more than 104,857,600 bytes" in problem.message


def test_a_local_source_that_is_neither_text_nor_an_archive_is_refused(write):
    problem = source_problem(write, "{source: src/job.py}", {"src/job.py": b"\xff\xfe\x00binary"})
    assert problem.message == (
        "source file 'src/job.py' cannot be used: it is neither UTF-8 text nor a zip or tar archive"
    )


def test_a_local_source_too_big_to_ship_is_refused(write):
    problem = source_problem(write, "{source: src/job.py}", {"src/job.py": b"#" * (8 * 1024 * 1024 + 1)})
    assert (
        "it is 8,388,609 bytes; code shipped in the function's spec may be at most 8,388,608"
        in problem.message
    )


def test_base64_of_an_archive_is_accepted_and_of_binary_is_refused(write):
    packed = base64.b64encode(zip_of({"main.py": b"def h(context):\n    pass\n"})).decode()
    body = f"{{kind: mlrun, source: {{base64: '{packed}'}}, handler: 'main:h'}}"
    root = write(HEAD + f"functions:\n  f: {body}\n")
    assert "functions.f" in load(root).resources
    binary = base64.b64encode(b"\xff\xfe\x00").decode()
    problem = source_problem(write, f"{{base64: '{binary}'}}")
    assert problem.path == "functions.f.source.base64" and "neither UTF-8 text nor a zip" in problem.message


def test_bad_cron(write):
    root = write(
        HEAD
        + """\
        functions:
          f: {kind: mlrun, source: {source: src/main.py}}
        runs:
          r: {function: f, action: job, schedule: "61 * * * *"}
        """.replace("        ", "")
    )
    problem = one_problem(root)
    assert "invalid cron schedule" in problem.message and "minute" in problem.message
    assert problem.path == "runs.r.schedule"


def test_bad_names_are_refused(write):
    problem = one_problem(write(HEAD + "dataitems:\n  'bad name': {kind: table, path: data.csv}\n"))
    assert "'bad name' is not allowed" in problem.message and problem.location.line == 4


def test_project_name_pattern_is_checked_after_rendering(write):
    root = write("""\
        version: 1
        project: {name: "Demo-{{ var.suffix }}"}
        variables: {suffix: {default: X}}
        """)
    problem = one_problem(root)
    assert "'Demo-X' is not allowed" in problem.message and "lowercase" in problem.message
    assert problem.path == "project.name" and problem.location.line == 2


def test_project_name_length(write):
    assert "at least 2" in one_problem(write("version: 1\nproject: {name: a}\n")).message
    assert "at most 38" in one_problem(write("version: 1\nproject: {name: " + "a" * 39 + "}\n")).message


def test_task_parameter_shapes(write):
    root = write(
        HEAD
        + """\
        functions:
          f: {kind: mlrun, source: {source: src/main.py}}
        runs:
          r:
            function: f
            action: job
            node_selector: [{key: disk, value: ssd}]
            volumes: [{volume_type: empty_dir, name: tmp, mount_path: /tmp/x}]
            resources: {cpu: {requests: 500m, limits: "1"}, mem: 1Gi, gpu: 1}
            affinity: {nodeAffinity: {}}
            tolerations: [{key: k, operator: Exists}]
            env: [{name: A, value: b}]
            secrets: [s1]
            backoff_limit: 3
            schedule: "*/5 0-6 * JAN-MAR mon-fri"
            replicas: 2
        """.replace("        ", "")
    )
    spec = load(root).resources["runs.r"].spec
    assert spec["envs"] == [{"name": "A", "value": "b"}] and "env" not in spec
    assert spec["backoff_limit"] == 3 and spec["resources"]["mem"] == "1Gi"


def test_task_parameter_wrong_shapes_are_all_reported(write):
    root = write(
        HEAD
        + """\
        functions:
          f: {kind: mlrun, source: {source: src/main.py}}
        runs:
          r:
            function: f
            action: job
            node_selector: {disk: ssd}
            volumes: [{volume_type: nfs, name: v, mount_path: /x}]
            resources: {cpu: lots}
            env: [{name: A}]
            backoff_limit: -1
            replicas: two
        """.replace("        ", "")
    )
    found = {p.path: p for p in problems(root)}
    assert set(found) == {
        "runs.r.node_selector",
        "runs.r.volumes[0].volume_type",
        "runs.r.resources.cpu",
        "runs.r.env[0]",
        "runs.r.backoff_limit",
        "runs.r.replicas",
    }
    assert "must be at least 0" in found["runs.r.backoff_limit"].message
    assert "missing required key 'value'" in found["runs.r.env[0]"].message


def test_all_errors_are_reported_at_once_each_with_file_line_and_path(write):
    root = write("""\
        version: 1
        project: {name: demo, colour: red}
        dataitems:
          d: {kind: tabel, path: data.csv}
        functions:
          f: {kind: mlrun, source: {source: src/missing.py}}
        runs:
          r: {function: g, action: job, trigger: sometimes}
          s: {function: f, action: job, inputs: {x: dataitems.nope}}
        """)
    found = problems(root)
    assert {p.path for p in found} == {
        "project.colour",
        "dataitems.d.kind",
        "functions.f.source.source",
        "runs.r.trigger",
        "runs.r.function",
        "runs.s.inputs.x",
    }
    for problem in found:
        assert problem.location.file.endswith("dhmlrun.yaml") and problem.location.line


def test_json_schema_jargon_stays_out_of_messages(write):
    root = write(HEAD + "runs:\n  r: {function: 3, action: jab, inputs: 5, outputs: [{}]}\nfoo: 1\n")
    text = " ".join(p.render() for p in problems(root))
    jargons = ("additionalProperties", "is not valid under", "is a required property", "does not match '^")
    for jargon in jargons:
        assert jargon not in text


def test_every_problem_of_one_run_is_reported_not_only_the_schema_ones(write):
    root = write(
        HEAD
        + """\
        dataitems:
          raw: {kind: table, path: data.csv}
        functions:
          f: {kind: mlrun, source: {source: src/main.py}}
        runs:
          r:
            function: g
            action: job
            trigger: sometimes
            schedule: "0 25 * * *"
            inputs: [{x: dataitems.rwa}]
        """.replace("        ", "")
    )
    found = {p.path: p.message for p in problems(root)}
    assert set(found) == {"runs.r.function", "runs.r.trigger", "runs.r.schedule", "runs.r.inputs.x"}
    assert "hour field" in found["runs.r.schedule"]
    assert "did you mean 'dataitems.raw'" in found["runs.r.inputs.x"]


def test_a_field_with_a_schema_error_is_not_reported_twice(write):
    root = write(
        HEAD + "functions:\n  f: {kind: mlrun, source: {source: src/main.py}}\n"
        "runs:\n  r: {function: 'bad name!', action: job}\n"
    )
    problem = one_problem(root)
    assert problem.path == "runs.r.function" and "not allowed" in problem.message


def function_named(name: str, handler: str) -> str:
    body = f"{{kind: mlrun, source: {{source: src/main.py}}, handler: '{handler}'}}"
    return HEAD + f"functions:\n  {name}: {body}\n"


def test_a_too_long_name_is_refused_for_its_length(write):
    name = "a" * 300
    problem = one_problem(write(HEAD + f"dataitems:\n  {name}: {{kind: table, path: data.csv}}\n"))
    assert problem.message == f"the name '{'a' * 37}...' is too long: 300 characters, at most 255"
    assert problem.path == f"dataitems.{name}" and problem.location.line == 4


def test_a_function_whose_mlrun_run_name_is_too_long_is_refused(write):
    name = "extract-" + "x" * 50
    problem = one_problem(write(function_named(name, "pkg.jobs:handler")))
    assert problem.path == f"functions.{name}" and problem.location.line == 4
    assert problem.message.startswith(f"mlrun names the runs of this function '{name}-handler' ")
    assert "66 characters: more than the 63 a Kubernetes label value may have" in problem.message


def test_a_run_name_of_exactly_63_characters_is_fine(write):
    name = "f" * 55
    assert f"functions.{name}" in load(write(function_named(name, "module.handler"))).resources


def test_the_run_name_counts_the_handler_as_mlrun_does(write):
    # module and package parts are dropped, '_' becomes '-', capitals become small
    name = "f" * 50
    assert f"functions.{name}" in load(write(function_named(name, "pkg.jobs:Train_It"))).resources
    problem = one_problem(write(function_named(name, "pkg.jobs:Train_Model_Now")))
    assert f"'{name}-train-model-now'" in problem.message


def test_a_handler_ending_with_an_underscore_gives_a_malformed_run_name(write):
    problem = one_problem(write(function_named("f", "handler_")))
    assert "'f-handler-'" in problem.message and "must end with a letter or a digit" in problem.message


def test_the_source_handler_counts_when_the_function_gives_none(write):
    name = "f" * 55
    body = "{kind: mlrun, source: {source: src/main.py, handler: too_long}}"
    text = HEAD + f"functions:\n  {name}: {body}\n"
    assert "'" + name + "-too-long'" in one_problem(write(text)).message
