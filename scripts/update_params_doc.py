"""Rewrite the README's params reference from the schema (``ganbench params-doc``).

The reference is the block from the first ``#### `data``` heading to the line before the next
``## `` heading; ``tests/test_config.py`` fails when it is stale. Run:
``.venv/bin/python scripts/update_params_doc.py``.
"""

from pathlib import Path

from ganbench.config import params_reference_markdown

README = Path(__file__).resolve().parent.parent / "README.md"


def main() -> None:
    text = README.read_text()
    start = text.index("#### `data`")
    end = text.index("\n## ", start) + 1
    new = params_reference_markdown()
    README.write_text(text[:start] + new + "\n" + text[end:])


if __name__ == "__main__":
    main()
