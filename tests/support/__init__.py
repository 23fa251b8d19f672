"""Helpers the tests share: editor, proxy, CLI, Neovim and PostgreSQL harnesses, a fake provider."""
