"""User strings made inert in GitHub Markdown (summary.md, the gate's table, PR comments)."""

from __future__ import annotations

# Backslash first (it escapes the others); "<" and ">" as entities, so no HTML or autolink
# survives; "[" and "]" so no link or image can be formed; "|" and newlines so a table cell
# stays one cell.
_REPLACEMENTS = (("\\", "\\\\"), ("|", "\\|"), ("*", "\\*"), ("`", "\\`"), ("[", "\\["),
                 ("]", "\\]"), ("<", "&lt;"), (">", "&gt;"), ("\n", " "))


def md_escape(text: str) -> str:
    """``text`` shown literally in a Markdown table cell or paragraph."""
    for old, new in _REPLACEMENTS:
        text = text.replace(old, new)
    return text
