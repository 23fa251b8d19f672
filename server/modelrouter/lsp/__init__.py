"""The language server: code actions that route, stream, edit and explain themselves."""
