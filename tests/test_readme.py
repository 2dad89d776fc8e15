"""Every repository path and every `c2al` subcommand the README names exists."""
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOP = ("c2al_tf/", "components/", "pipeline/", "bench/", "tests/", "schemas/", "scripts/", "examples/", "docs/")


def _readme():
    with open(os.path.join(REPO, "README.md")) as f:
        return f.read()


def test_every_path_the_readme_names_exists():
    paths = set()
    for token in re.findall(r"`([^`\s]+)`", _readme()):
        token = token.split("::")[0].rstrip(".,;:)")
        if token.startswith(TOP) or token in ("CHANGELOG.md", "constraints.txt", "setup.py", "run-tests", "c2al"):
            paths.add(token)
        elif re.fullmatch(r"(bench|tests|c2al_tf|pipeline|components)/[\w/.-]+", token):
            paths.add(token)
    assert paths
    generated = "bench/results/"  # where the benchmarks write their JSON: created by running them
    missing = sorted(p for p in paths if not p.startswith(generated)
                     and not os.path.exists(os.path.join(REPO, p.replace("./", ""))))
    assert not missing, f"README names paths that do not exist: {missing}"


def test_every_c2al_command_the_readme_names_exists():
    from c2al_tf.cli import build_parser

    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)
    named = set(re.findall(r"`(?:\./)?c2al ([a-z]+)", _readme()))
    assert named and named <= commands, sorted(named - commands)
