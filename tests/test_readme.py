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


def test_the_readme_is_a_guide_of_at_most_250_lines():
    assert len(_readme().splitlines()) <= 250


def test_every_relative_link_in_the_docs_resolves():
    """Markdown links ``[text](path#anchor)`` in the README, docs/ and bench/README.md point
    at files that exist, and an anchor at a heading of that file."""
    pages = ["README.md", "bench/README.md"] + [os.path.join("docs", f) for f in os.listdir(os.path.join(REPO, "docs"))
                                                if f.endswith(".md")]
    broken = []
    for page in pages:
        with open(os.path.join(REPO, page)) as f:
            text = f.read()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if "://" in target:
                continue
            path, _, anchor = target.partition("#")
            resolved = os.path.normpath(os.path.join(REPO, os.path.dirname(page), path)) if path else \
                os.path.join(REPO, page)
            if not os.path.exists(resolved):
                broken.append(f"{page}: {target}")
            elif anchor and resolved.endswith(".md"):
                with open(resolved) as f:
                    slugs = {_slug(h) for h in re.findall(r"^#+ (.+)$", f.read(), re.M)}
                if anchor not in slugs:
                    broken.append(f"{page}: {target} (no such heading)")
    assert not broken, broken


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
