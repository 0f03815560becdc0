"""The bash, zsh and fish glue that carries kcmpctl's completions (see complete.py).

click's own shell support, with two repairs to its scripts:

- bash splits words at ``:`` (``COMP_WORDBREAKS``), so click saw ``pair 12:`` as the
  words ``12`` and ``:``.  The script now hands over the line up to the cursor,
  which kcmpctl splits as the shell will run it, and each answer loses the part of
  the word that bash keeps (``12:``), since bash replaces only what follows it.
- fish split each answer at every comma, so ``-t vm,f`` was offered ``vm`` (which
  fish then filtered away).  The script now splits at the first comma only.

Imported only when a shell asks for completions (or to write completions/): every
TAB press starts kcmpctl, and an ordinary run pays for none of this.
"""

from __future__ import annotations

import os

from click.shell_completion import (
    BashComplete,
    CompletionItem,
    FishComplete,
    ShellComplete,
    ZshComplete,
    add_completion_class,
    split_arg_string,
)

_BASH_CALL = 'env COMP_WORDS="${COMP_WORDS[*]}" COMP_CWORD=$COMP_CWORD '
_BASH_FIXED = 'env COMP_WORDS="${COMP_LINE:0:COMP_POINT}" COMP_WORDBREAKS="$COMP_WORDBREAKS" '
_FISH_SPLIT = '(string split "," $completion)'
_FISH_FIXED = '(string split --max 1 "," $completion)'


def _repaired(template: str, old: str, new: str) -> str:
    # Loud, not silent, if click's script changes under us: generate.py and the
    # completion tests run this.
    if old not in template:
        raise RuntimeError(f"click's completion script changed: {old!r} not found")
    return template.replace(old, new)


class Bash(BashComplete):
    """click's bash completion, given the line itself rather than bash's words."""

    source_template = _repaired(BashComplete.source_template, _BASH_CALL, _BASH_FIXED)
    kept = ""  # the start of the word being completed that bash does not replace

    def get_completion_args(self) -> tuple[list[str], str]:
        line = os.environ["COMP_WORDS"]  # the line up to the cursor
        words = split_arg_string(line)
        incomplete = words.pop() if words and line and not line[-1].isspace() else ""
        # bash replaces only what follows the last word-break character of the word.
        breaks = os.environ.get("COMP_WORDBREAKS", "")
        cut = max((incomplete.rfind(c) for c in breaks), default=-1)
        self.kept = incomplete[: cut + 1]
        return words[1:], incomplete

    def format_completion(self, item: CompletionItem) -> str:
        value = str(item.value)
        if self.kept and value.startswith(self.kept):
            value = value[len(self.kept) :]
        return f"{item.type},{value}"


class Fish(FishComplete):
    """click's fish completion, keeping the commas inside an answer."""

    source_template = _repaired(FishComplete.source_template, _FISH_SPLIT, _FISH_FIXED)


#: the shells kcmpctl completes in, by the name in ``_KCMPCTL_COMPLETE=NAME_...``
SHELLS: dict[str, type[ShellComplete]] = {"bash": Bash, "zsh": ZshComplete, "fish": Fish}


def register() -> None:
    for name, cls in SHELLS.items():
        add_completion_class(cls, name)
