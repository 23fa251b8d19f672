"""The workspace's open documents are our own `Document`s, not pygls' text documents.

pygls applies incremental changes with `str.splitlines`, which also ends lines at form
feeds, `\\x85`, U+2028 and friends that editors keep inside a line; an open document here
follows the LSP line rule (`modelrouter.positions`) and can follow ranges through its own
change events. Documents the editor has not opened still come from pygls (read from disk).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.workspace import Workspace

from modelrouter.document import Document
from modelrouter.positions import Pos

if TYPE_CHECKING:
    from modelrouter.lsp.server import ModelRouterServer

# (uri, start, end, new end) of one content change; no range for a whole-document change.
ChangeListener = Callable[[str, Pos | None, Pos | None, Pos], None]


class DocumentWorkspace(Workspace):
    """A pygls workspace whose open documents are `Document`s; `listener` hears of every
    content change with the positions it moved text between."""

    listener: ChangeListener | None = None

    @classmethod
    def replacing(cls, old: Workspace) -> DocumentWorkspace:
        """A workspace with the same root, folders and position encoding as `old`."""
        new = cls(
            old.root_uri,
            old._sync_kind,
            list(old.folders.values()),
            old.position_encoding,
        )
        return new

    @property
    def encoding(self) -> str:
        """The negotiated position encoding's name."""
        enc = self.position_encoding
        return str(getattr(enc, "value", enc) or "utf-16")

    def put_text_document(
        self, text_document: types.TextDocumentItem, notebook_uri: str | None = None
    ) -> None:
        super().put_text_document(text_document, notebook_uri)
        uri = text_document.uri
        self._text_documents[_key(uri)] = Document(
            uri,
            text_document.text,
            text_document.version,
            text_document.language_id,
            self.encoding,
        )

    def update_text_document(
        self,
        text_doc: types.VersionedTextDocumentIdentifier,
        change: types.TextDocumentContentChangeEvent,
    ) -> None:
        doc = self._text_documents[_key(text_doc.uri)]
        start = end = None
        if isinstance(change, types.TextDocumentContentChangePartial):
            r = change.range
            start, end = Pos(r.start.line, r.start.character), Pos(r.end.line, r.end.character)
        done = doc.change(start, end, change.text)
        doc.version = text_doc.version
        if self.listener is not None:
            self.listener(text_doc.uri, start, end, doc.position_at(done.start + done.length))

    def open_document(self, uri: str) -> Document | None:
        """The open document at `uri`, or None when the editor has not opened it."""
        doc: Any = self._text_documents.get(_key(uri))
        return doc if isinstance(doc, Document) else None


def _key(uri: str) -> str:
    from urllib.parse import unquote

    return unquote(uri)


def position_encoding(ls: ModelRouterServer) -> str:
    """The position encoding negotiated with the client (UTF-16 unless it chose another)."""
    enc = ls.workspace.position_encoding
    return str(getattr(enc, "value", enc) or "utf-16")
