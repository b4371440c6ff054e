"""Every relative link in the project's Markdown lands: the file exists, and a `#anchor` names a
heading of it (GitHub's rule: lower case, punctuation dropped, spaces to hyphens)."""

import os
import re
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINK = re.compile(r"\]\(([^)\s]+)\)|(?:src|href)=\"([^\"]+)\"")


def _markdown_files():
    out = subprocess.run(["git", "ls-files", "*.md"], cwd=REPO, capture_output=True, text=True)
    return [f for f in out.stdout.split() if not f.startswith("web_app/node_modules/")]


def _anchors(path):
    """The heading anchors GitHub makes of a Markdown file (outside code blocks, where a `#`
    line is a comment): a repeated heading's second anchor gets `-1`, its third `-2`."""
    with open(path, encoding="utf-8") as f:
        text = re.sub(r"```.*?```", "", f.read(), flags=re.S)
    slugs, seen = set(), {}
    for line in text.splitlines():
        if re.match(r"#{1,6} ", line):
            slug = re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
            slugs.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    return slugs


def test_every_relative_link_and_anchor_lands():
    broken = []
    for md in _markdown_files():
        with open(os.path.join(REPO, md), encoding="utf-8") as f:
            text = re.sub(r"```.*?```", "", f.read(), flags=re.S)  # code blocks are not links
        for match in LINK.finditer(text):
            target = match.group(1) or match.group(2)
            if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            full = os.path.normpath(os.path.join(REPO, os.path.dirname(md), path)) if path else \
                os.path.join(REPO, md)
            if not os.path.exists(full):
                broken.append(f"{md}: {target} (no such file)")
            elif anchor and full.endswith(".md") and anchor not in _anchors(full):
                broken.append(f"{md}: {target} (no such heading)")
    assert not broken, broken
