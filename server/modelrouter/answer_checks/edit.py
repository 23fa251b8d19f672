"""The edit an answer would make, as the checks see it: the file before, the range it
replaces and the text it puts there."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from modelrouter.grammars import encoded, parse


@dataclass(frozen=True)
class EditUnderCheck:
    """An answer as an edit of one file (new tests: an insertion at the end of the test
    file, which is empty when the file is new)."""

    before: str  # the whole file before the edit
    start: int  # string offsets of the replaced range in `before`
    end: int
    new: str  # what replaces it
    language_id: str
    name: str  # the file's name, for temporary copies ("circle.py")
    instruction: str = ""  # what was asked, for the scope of a trivial edit
    workspace: str | None = None  # the project folder, where tools that need one run
    path: str | None = None  # the file on disk, when it has one

    @property
    def original(self) -> str:
        """The replaced text."""
        return self.before[self.start : self.end]

    @cached_property
    def after(self) -> str:
        """The whole file after the edit."""
        return self.before[: self.start] + self.new + self.before[self.end :]

    @cached_property
    def after_tree(self) -> Any:
        """Tree-sitter's tree of the file after the edit, None without a grammar. Parses
        once for every check that reads it: call it from a worker thread."""
        return parse(self.language_id, encoded(self.after))
