"""Load, merge and validate YAML rules files into a `Rules` object.

Every problem is reported with the file, line and column it comes from and a one-line hint,
so `str(problem)` reads like a compiler error: ``rules.yaml:12:7: unknown key 'modle' (did
you mean 'model'?)``. The YAML is composed into a node tree (not just loaded) so that each
value keeps its position, and all problems in a file are collected before raising.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modelrouter.classify import KIND_PREFIX, REGEX_PREFIX, compile_rules
from modelrouter.config import (
    BACKEND_TYPES,
    BUILTIN_CHECKS,
    Action,
    BackendConfig,
    Budget,
    CheckCommand,
    CheckSettings,
    ClassifierSettings,
    EditSettings,
    EscalationSettings,
    FixerConfig,
    Price,
    PrivacySettings,
    ProxySettings,
    Route,
    Rules,
    Timeouts,
)
from modelrouter.errors import RulesError
from modelrouter.request_words import LEXICON

RULES_ENV = "MODELROUTER_RULES"
WORKSPACE_FILE = ".modelrouter.yaml"
USER_FILE = "rules.yaml"
AUTO_TIER = "auto"
PROXY_CHEAPEST = "cheapest"  # proxy.models target: the cheapest tier
ACTION_KINDS = ("rewrite", "tests", "design", "answer")
CLASSIFIER_MODES = ("rules", "learned", "hybrid")
TOP_KEYS = (
    "version",
    "extends",
    "backends",
    "tiers",
    "routes",
    "default_tier",
    "actions",
    "fixers",
    "checks",
    "escalation",
    "classifier",
    "privacy",
    "edits",
    "proxy",
    "ledger",
)
MAX_EXTENDS_DEPTH = 8


@dataclass(frozen=True)
class Problem:
    """One error in a rules file; `line` and `col` are 1-based."""

    file: str
    line: int
    col: int
    message: str
    hint: str = ""

    def __str__(self) -> str:
        hint = f" ({self.hint})" if self.hint else ""
        return f"{self.file}:{self.line}:{self.col}: {self.message}{hint}"


# --- located YAML values ---------------------------------------------------------------------


@dataclass
class Loc:
    """A YAML value with where it was written."""

    value: Any  # dict[str, tuple[Loc, Loc]] for mappings, list[Loc] for sequences, else scalar
    file: str
    line: int  # 1-based
    col: int  # 1-based
    kind: str  # "map" | "seq" | "scalar"

    def problem(self, message: str, hint: str = "") -> Problem:
        """A problem pointing at this value."""
        return Problem(self.file, self.line, self.col, message, hint)


_constructor = yaml.constructor.SafeConstructor()
# libyaml's parser when available (about ten times faster); its marks are the same.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _locate(node: yaml.Node, file: str, problems: list[Problem]) -> Loc:
    line, col = node.start_mark.line + 1, node.start_mark.column + 1
    if isinstance(node, yaml.MappingNode):
        items: dict[str, tuple[Loc, Loc]] = {}
        for key_node, value_node in node.value:
            key = _locate(key_node, file, problems)
            if key.kind != "scalar" or not isinstance(key.value, (str, int, float)):
                problems.append(key.problem("mapping keys must be plain names", "quote the key"))
                continue
            name = str(key.value)
            if name in items:
                first = items[name][0]
                problems.append(
                    key.problem(
                        f"duplicate key '{name}'",
                        f"already defined at line {first.line}; keep one of them",
                    )
                )
            items[name] = (key, _locate(value_node, file, problems))
        return Loc(items, file, line, col, "map")
    if isinstance(node, yaml.SequenceNode):
        return Loc([_locate(n, file, problems) for n in node.value], file, line, col, "seq")
    try:
        value = _constructor.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        problems.append(Problem(file, line, col, f"bad value: {exc}", "quote it as a string"))
        value = node.value
    return Loc(value, file, line, col, "scalar")


def _read(path: Path, shown: str, problems: list[Problem]) -> Loc | None:
    """Compose one file into a located tree; None (with a problem) when unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(shown, 1, 1, f"cannot read rules file: {exc}", "check the path"))
        return None
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or exc.context or "invalid YAML"
        hint = "check indentation, colons and quoting on this line or the one before"
        problems.append(Problem(shown, line, col, f"YAML syntax error: {what}", hint))
        return None
    except yaml.YAMLError as exc:
        problems.append(Problem(shown, 1, 1, f"YAML error: {exc}", "check the file is YAML"))
        return None
    except RecursionError:
        problems.append(Problem(shown, 1, 1, "rules file is nested too deeply", "flatten it"))
        return None
    oversized = _oversized(node)
    if oversized:
        problems.append(
            Problem(shown, 1, 1, oversized, "rules files need no deep nesting or anchors")
        )
        return None
    if node is None:
        problems.append(
            Problem(shown, 1, 1, "rules file is empty", "start with `extends: default`")
        )
        return None
    doc = _locate(node, shown, problems)
    if doc.kind != "map":
        problems.append(
            doc.problem("a rules file must be a mapping", "start with `extends: default`")
        )
        return None
    return doc


_MAX_NODES = 100_000
_MAX_DEPTH = 64


def _oversized(root: yaml.Node | None) -> str | None:
    """Why a composed file is too big to walk (alias bombs, absurd nesting), or None.

    YAML aliases share nodes, so a few lines can stand for billions of values; count them
    as they would be expanded, stopping early, before anything walks the tree.
    """
    if root is None:
        return None
    stack = [(root, 1)]
    seen = 0
    while stack:
        node, depth = stack.pop()
        seen += 1
        if seen > _MAX_NODES:
            return f"rules file expands to more than {_MAX_NODES} values"
        if depth > _MAX_DEPTH:
            return f"rules file is nested more than {_MAX_DEPTH} levels deep"
        if isinstance(node, yaml.MappingNode):
            stack.extend((n, depth + 1) for pair in node.value for n in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((n, depth + 1) for n in node.value)
    return None


# --- merging ---------------------------------------------------------------------------------

# Sections whose entries merge field by field when a child redefines one by name.
_FIELD_MERGED = ("backends", "actions", "fixers")
# Top-level mappings whose fields merge.
_SETTINGS = ("classifier", "privacy", "edits", "checks", "escalation", "proxy")


def _merge(base: Loc, child: Loc) -> Loc:
    """`child` on top of `base`: named entries merge by name, `null` removes one."""
    out = dict(base.value)
    for name, (key, value) in child.value.items():
        if name == "extends":
            continue
        if name not in out or (value.kind != "map" and name != "routes"):
            out[name] = (key, value)
            continue
        old = out[name][1]
        if name == "routes":
            out[name] = (key, _merge_routes(old, value))
        elif name in ("backends", "actions", "fixers", "tiers"):
            out[name] = (key, _merge_named(old, value, deep=name in _FIELD_MERGED))
        elif name in _SETTINGS and old.kind == "map":
            # proxy.models merges by client model name, like backends by name.
            out[name] = (key, _merge_named(old, value, deep=name == "proxy"))
        else:
            out[name] = (key, value)
    return Loc(out, child.file, child.line, child.col, "map")


def _merge_named(base: Loc, child: Loc, *, deep: bool) -> Loc:
    if base.kind != "map":
        return child
    out = dict(base.value)
    for name, (key, value) in child.value.items():
        if value.kind == "scalar" and value.value is None:
            out.pop(name, None)  # `name: null` removes an inherited entry
        elif deep and name in out and value.kind == "map" and out[name][1].kind == "map":
            merged = dict(out[name][1].value)
            merged.update(value.value)
            out[name] = (key, Loc(merged, value.file, value.line, value.col, "map"))
        else:
            out[name] = (key, value)
    return Loc(out, child.file, child.line, child.col, "map")


def _route_name(route: Loc) -> str | None:
    if route.kind == "map" and "name" in route.value:
        name = route.value["name"][1].value
        return str(name) if name is not None else None
    return None


def _merge_routes(base: Loc, child: Loc) -> Loc:
    """Named routes replace the inherited route of that name; others are added."""
    if base.kind != "seq" or child.kind != "seq":
        return child
    items = list(base.value)
    index = {n: i for i, r in enumerate(items) if (n := _route_name(r))}
    for route in child.value:
        name = _route_name(route)
        if name in index:
            items[index[name]] = route
        else:
            items.append(route)
    return Loc(items, child.file, child.line, child.col, "seq")


def _load_tree(path: Path, problems: list[Problem], depth: int = 0) -> Loc | None:
    shown = str(path)
    doc = _read(path, shown, problems)
    if doc is None:
        return None
    if "extends" not in doc.value:
        return doc
    ext = doc.value["extends"][1]
    if ext.kind != "scalar" or not isinstance(ext.value, str) or not ext.value:
        problems.append(
            ext.problem("`extends` must be `default` or a path", "e.g. `extends: default`")
        )
        return None
    if depth >= MAX_EXTENDS_DEPTH:
        problems.append(ext.problem("`extends` chain too deep or circular", "remove a level"))
        return None
    if ext.value == "default":
        parent_path = default_rules_path()
        if path.resolve() == parent_path.resolve():
            problems.append(ext.problem("the default rules cannot extend themselves", ""))
            return None
    else:
        parent_path = Path(os.path.expanduser(ext.value))
        if not parent_path.is_absolute():
            parent_path = path.parent / parent_path
        if not parent_path.is_file():
            problems.append(
                ext.problem(
                    f"extended rules file not found: {ext.value}",
                    "use `extends: default` or a path relative to this file",
                )
            )
            return None
    parent = _load_tree(parent_path, problems, depth + 1)
    if parent is None:
        return None
    return _merge(parent, doc)


# --- validation ------------------------------------------------------------------------------

_DATACLASSES: dict[str, type] = {
    "Price": Price,
    "Timeouts": Timeouts,
    "Budget": Budget,
}
_TYPE_NAMES = {
    "str": "a string",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "tuple[str, ...]": "a list of strings",
    "dict[str, str]": "a mapping of strings to strings",
}
# Fields that are filled in by the loader, never written in YAML.
_INTERNAL = {"line", "file"}


def _closest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if match:
        return f"did you mean '{match[0]}'?"
    return "allowed: " + ", ".join(choices)


class _Validator:
    """Turns a merged located tree into `Rules`, collecting problems."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems

    def err(self, loc: Loc, message: str, hint: str) -> None:
        self.problems.append(loc.problem(message, hint))

    # scalar conversion driven by the dataclass field's annotation
    def convert(self, loc: Loc, type_str: str, what: str) -> tuple[bool, Any]:
        optional = type_str.endswith(" | None")
        base = type_str.removesuffix(" | None")
        value = loc.value
        if loc.kind == "scalar" and value is None:
            if optional:
                return True, None
            self.err(loc, f"{what} must not be empty", f"give {_TYPE_NAMES.get(base, base)}")
            return False, None
        if base in _DATACLASSES:
            if loc.kind != "map":
                self.err(loc, f"{what} must be a mapping", f"e.g. {_example(base)}")
                return False, None
            return True, self.build(_DATACLASSES[base], loc, what)
        ok = False
        if base == "str":
            ok = loc.kind == "scalar" and isinstance(value, str)
            if not ok and loc.kind == "scalar" and isinstance(value, (int, float)):
                value, ok = str(value), True  # `model: 4` is clearly meant as text
        elif base == "int":
            ok = loc.kind == "scalar" and isinstance(value, int) and not isinstance(value, bool)
        elif base == "float":
            ok = loc.kind == "scalar" and isinstance(value, (int, float))
            ok = ok and not isinstance(value, bool)
            value = float(value) if ok else value
        elif base == "bool":
            ok = loc.kind == "scalar" and isinstance(value, bool)
        elif base == "tuple[str, ...]":
            if loc.kind == "scalar" and isinstance(value, str):
                if what.endswith("command") and len(value.split()) > 1:
                    # argv is run without a shell: "codex exec -" would be one program name.
                    argv = ", ".join(value.split())
                    self.err(loc, f"{what} must be a list (argv)", f"write it as [{argv}]")
                    return False, None
                return True, (value,)  # a single string is a one-item list
            ok = loc.kind == "seq" and all(
                i.kind == "scalar" and isinstance(i.value, (str, int, float)) for i in value
            )
            value = tuple(str(i.value) for i in value) if ok else value
        elif base == "dict[str, str]":
            ok = loc.kind == "map" and all(
                v.kind == "scalar" and isinstance(v.value, (str, int, float))
                for _, v in value.values()
            )
            value = {k: str(v.value) for k, (_, v) in value.items()} if ok else value
        else:  # a field type this loader does not know yet: take the plain value
            return True, _plain(loc)
        if not ok:
            self.err(
                loc,
                f"{what} must be {_TYPE_NAMES.get(base, base)}",
                f"got {_describe(loc)}",
            )
        return ok, value

    def build(self, cls: type, loc: Loc, what: str, **fixed: Any) -> Any:
        """Build dataclass `cls` from mapping `loc`; None when a required field is bad."""
        fields = {
            f.name: f
            for f in dataclasses.fields(cls)
            if f.name not in _INTERNAL and f.name not in fixed
        }
        kwargs: dict[str, Any] = {}
        ok = True
        for name, (key, value) in loc.value.items():
            if name not in fields:
                self.err(key, f"unknown key '{name}' in {what}", _closest(name, tuple(fields)))
                continue
            good, converted = self.convert(value, str(fields[name].type), f"{what}.{name}")
            if good:
                kwargs[name] = converted
            else:
                ok = False
        for name, f in fields.items():
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if required and name not in loc.value:
                self.err(loc, f"{what} is missing '{name}'", f"add `{name}: ...`")
                ok = False
        if not ok:
            return None
        extra = {k: v for k, v in fixed.items() if k in {f.name for f in dataclasses.fields(cls)}}
        return cls(**kwargs, **extra)

    def rules(self, doc: Loc, source: str) -> Rules | None:
        items = doc.value
        for name, (key, _) in items.items():
            if name not in TOP_KEYS:
                self.err(key, f"unknown top-level key '{name}'", _closest(name, TOP_KEYS))
        if "version" in items:
            version = items["version"][1]
            if version.value != 1:
                self.err(version, f"unsupported rules version {version.value!r}", "use 1")

        backends = self.backends(items)
        tiers = self.tiers(items, doc, backends)
        tier_names = list(tiers)
        default_tier = self.tier_ref(items, "default_tier", tier_names, doc)
        routes = self.routes(items, tier_names)
        actions = self.actions(items, tier_names)
        fixers = self.fixers(items, actions)
        classifier = self.settings(items, "classifier", ClassifierSettings)
        privacy = self.settings(items, "privacy", PrivacySettings)
        edits = self.settings(items, "edits", EditSettings)
        checks = self.checks(items)
        escalation = self.escalation(items)
        self.check_skipped_checks(items, actions, checks)
        proxy = self.settings(items, "proxy", ProxySettings)
        if classifier is not None:
            self.check_classifier(items, classifier, backends)
        if proxy is not None:
            self.check_proxy(items, proxy, tier_names, backends)
        ledger = self.ledger(items)
        if self.problems:
            return None
        return Rules(
            backends=backends,
            tiers=tiers,
            routes=tuple(routes),
            default_tier=default_tier or tier_names[-1],
            actions=actions,
            fixers=fixers,
            classifier=classifier,
            privacy=privacy,
            edits=edits,
            checks=checks,
            escalation=escalation,
            proxy=proxy,
            ledger=ledger,
            source=source,
        )

    def ledger(self, items: dict) -> str | None:
        """`ledger:` — a postgresql:// URL or a SQLite file path; absent: the default file."""
        if "ledger" not in items:
            return None
        loc = items["ledger"][1]
        ok, value = self.convert(loc, "str | None", "ledger")
        if not ok or value is None:
            return None
        if "://" in value and not value.startswith(("postgresql://", "postgres://")):
            self.err(loc, f"unsupported ledger URL '{value}'", "use postgresql://… or a file path")
            return None
        return value

    def section(self, items: dict, name: str, kind: str, doc: Loc | None = None) -> Loc | None:
        if name not in items:
            if doc is not None:
                self.err(doc, f"missing '{name}' section", f"add `{name}:` or `extends: default`")
            return None
        loc = items[name][1]
        if loc.kind == "scalar" and loc.value is None:
            return None
        if loc.kind != kind:
            shape = "a mapping (name: ...)" if kind == "map" else "a list (- ...)"
            self.err(loc, f"'{name}' must be {shape}", f"got {_describe(loc)}")
            return None
        return loc

    def backends(self, items: dict) -> dict[str, BackendConfig]:
        out: dict[str, BackendConfig] = {}
        loc = self.section(items, "backends", "map")
        if loc is None:
            return out
        for name, (key, spec) in loc.value.items():
            what = f"backend '{name}'"
            if spec.kind != "map":
                self.err(spec, f"{what} must be a mapping", "e.g. `{type: ollama, model: ...}`")
                continue
            type_loc = spec.value.get("type", (None, None))[1]
            if type_loc is not None and type_loc.value not in BACKEND_TYPES:
                self.err(
                    type_loc,
                    f"unknown backend type {type_loc.value!r} in {what}",
                    _closest(str(type_loc.value), BACKEND_TYPES),
                )
                continue
            cfg = self.build(BackendConfig, spec, what, name=name, line=key.line, file=key.file)
            if cfg is None:
                continue
            if cfg.type == "cli" and not cfg.command:
                self.err(spec, f"{what} has type cli but no command", 'add `command: ["tool"]`')
                continue
            out[name] = cfg
        return out

    def tiers(self, items: dict, doc: Loc, backends: dict) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        loc = self.section(items, "tiers", "map", doc)
        if loc is None:
            if "tiers" in items and not self.problems:  # present but empty (`tiers:`)
                self.err(
                    items["tiers"][1], "no tiers defined", "add at least one tier, cheapest first"
                )
            return out
        defined = "backends" in items and items["backends"][1].kind == "map"
        known = list(items["backends"][1].value) if defined else []
        for name, (key, spec) in loc.value.items():
            if name == AUTO_TIER:
                self.err(key, f"'{AUTO_TIER}' is reserved", "pick another tier name")
                continue
            if spec.kind == "scalar" and isinstance(spec.value, str):
                spec = Loc([spec], spec.file, spec.line, spec.col, "seq")
            if spec.kind != "seq" or not spec.value:
                self.err(
                    spec,
                    f"tier '{name}' must be a non-empty list of backend names",
                    "e.g. `[local, gemini]`, primary first",
                )
                continue
            names = []
            for item in spec.value:
                if item.value not in known:
                    hint = _closest(str(item.value), known) if known else "define `backends:`"
                    self.err(
                        item,
                        f"unknown backend '{item.value}' in tier '{name}'",
                        f"define it under `backends:` or {hint}",
                    )
                else:
                    names.append(item.value)
            out[name] = tuple(names)
        if not out and not self.problems:
            self.err(loc, "no tiers defined", "add at least one tier, cheapest first")
        return out

    def tier_ref(self, items: dict, name: str, tiers: list[str], doc: Loc) -> str | None:
        if name not in items:
            return None
        loc = items[name][1]
        if loc.value not in tiers:
            self.err(loc, f"unknown tier '{loc.value}'", "use one of: " + ", ".join(tiers))
            return None
        return loc.value

    def routes(self, items: dict, tiers: list[str]) -> list[Route]:
        out: list[Route] = []
        loc = self.section(items, "routes", "seq")
        if loc is None:
            return out
        numbers: dict[str, int] = {}
        for spec in loc.value:
            # Numbered within the file the route is written in (inherited ones have theirs).
            numbers[spec.file] = numbers.get(spec.file, 0) + 1
            what = f"route {numbers[spec.file]}"
            if spec.kind != "map":
                self.err(
                    spec, f"{what} must be a mapping", "e.g. `- {tier: trivial, patterns: [typo]}`"
                )
                continue
            name = _route_name(spec) or ""
            if name:
                what = f"route '{name}'"
            route = self.build(Route, spec, what, line=spec.line, file=spec.file)
            if route is None:
                continue
            good = True
            if route.tier not in tiers:
                self.err(
                    spec.value["tier"][1],
                    f"unknown tier '{route.tier}' in {what}",
                    "use one of: " + ", ".join(tiers),
                )
                good = False
            pats = spec.value.get("patterns", (None, None))[1]
            for j, pattern in enumerate(route.patterns):
                where = pats.value[j] if pats is not None and pats.kind == "seq" else spec
                if pattern.startswith(REGEX_PREFIX):
                    try:
                        re.compile(pattern[len(REGEX_PREFIX) :])
                    except re.error as exc:
                        self.err(
                            where,
                            f"bad regular expression {pattern!r}: {exc}",
                            "fix the regex, or drop the `re:` prefix to match a plain phrase",
                        )
                        good = False
                elif pattern.startswith(KIND_PREFIX):
                    kind = pattern[len(KIND_PREFIX) :].strip()
                    if kind not in LEXICON:
                        self.err(
                            where,
                            f"unknown kind of work {kind!r} in {what}",
                            "use one of: " + ", ".join(LEXICON),
                        )
                        good = False
                elif not pattern.strip(" *"):
                    self.err(where, f"empty pattern in {what}", "remove it or write a phrase")
                    good = False
            if not (route.patterns or route.languages or route.paths):
                self.err(spec, f"{what} matches nothing", "add `patterns`, `languages` or `paths`")
                good = False
            if good:
                out.append(route)
        return out

    def actions(self, items: dict, tiers: list[str]) -> dict[str, Action]:
        out: dict[str, Action] = {}
        loc = self.section(items, "actions", "map")
        if loc is None:
            return out
        for name, (key, spec) in loc.value.items():
            what = f"action '{name}'"
            if spec.kind != "map":
                self.err(
                    spec, f"{what} must be a mapping", "e.g. `{title: ..., tier: ..., prompt: ...}`"
                )
                continue
            action = self.build(Action, spec, what, id=name, line=key.line, file=key.file)
            if action is None:
                continue
            if action.tier != AUTO_TIER and action.tier not in tiers:
                self.err(
                    spec.value["tier"][1],
                    f"unknown tier '{action.tier}' in {what}",
                    "use one of: " + ", ".join([*tiers, AUTO_TIER]),
                )
                continue
            if action.kind not in ACTION_KINDS:
                self.err(
                    spec.value["kind"][1],
                    f"unknown action kind '{action.kind}' in {what}",
                    "use one of: " + ", ".join(ACTION_KINDS),
                )
                continue
            out[name] = action
        return out

    def fixers(self, items: dict, actions: dict[str, Action]) -> dict[str, FixerConfig]:
        out: dict[str, FixerConfig] = {}
        loc = self.section(items, "fixers", "map")
        if loc is None:
            return out
        for name, (key, spec) in loc.value.items():
            what = f"fixer '{name}'"
            if spec.kind != "map":
                self.err(
                    spec, f"{what} must be a mapping", "e.g. `{command: [...], actions: [...]}`"
                )
                continue
            fixer = self.build(FixerConfig, spec, what, name=name, line=key.line, file=key.file)
            if fixer is None:
                continue
            if not fixer.command:
                self.err(spec, f"{what} has no command", 'add `command: ["tool", "{file}"]`')
                continue
            unknown = [a for a in fixer.actions if a not in actions]
            if unknown:
                self.err(
                    spec.value["actions"][1],
                    f"unknown action '{unknown[0]}' in {what}",
                    "use one of: " + ", ".join(actions),
                )
                continue
            out[name] = fixer
        return out

    def checks(self, items: dict) -> CheckSettings:
        """`checks:` — `enabled`, `timeout_s` and the user's `commands` (a list of argvs)."""
        loc = self.section(items, "checks", "map")
        if loc is None:
            return CheckSettings()
        plain = {k: v for k, v in loc.value.items() if k != "commands"}
        shape = Loc(plain, loc.file, loc.line, loc.col, "map")
        settings = self.build(CheckSettings, shape, "checks")
        if settings is None:
            return CheckSettings()
        if not settings.timeout_s > 0 or settings.timeout_s == float("inf"):
            self.err(
                loc.value["timeout_s"][1],
                "checks.timeout_s must be a positive number of seconds, "
                f"got {settings.timeout_s!r}",
                "e.g. 10",
            )
        commands: list[CheckCommand] = []
        listed = loc.value.get("commands", (None, None))[1]
        if listed is not None and not (listed.kind == "scalar" and listed.value is None):
            if listed.kind != "seq":
                self.err(listed, "checks.commands must be a list", "e.g. `- {name: mypy, ...}`")
            else:
                commands = self.check_commands(listed)
        return dataclasses.replace(settings, commands=tuple(commands))

    def check_commands(self, listed: Loc) -> list[CheckCommand]:
        out: list[CheckCommand] = []
        for i, spec in enumerate(listed.value):
            what = f"checks.commands[{i}]"
            if spec.kind != "map":
                self.err(
                    spec,
                    f"{what} must be a mapping",
                    'e.g. `{name: mypy, languages: [python], command: [mypy, "{file}"]}`',
                )
                continue
            command = self.build(CheckCommand, spec, what)
            if command is None:
                continue
            if not command.command:
                self.err(spec, f"{what} has no command", 'add `command: ["tool", "{file}"]`')
            elif command.name in BUILTIN_CHECKS or command.name in [c.name for c in out]:
                self.err(
                    spec.value["name"][1],
                    f"{what}: the check name '{command.name}' is already taken",
                    "give each check its own name; built in: " + ", ".join(BUILTIN_CHECKS),
                )
            elif not command.timeout_s > 0 or command.timeout_s == float("inf"):
                self.err(
                    spec.value["timeout_s"][1],
                    f"{what}.timeout_s must be a positive number of seconds",
                    "e.g. 10",
                )
            else:
                out.append(command)
        return out

    def escalation(self, items: dict) -> EscalationSettings:
        settings = self.settings(items, "escalation", EscalationSettings)
        if settings is None:
            return EscalationSettings()
        if settings.max_steps < 0:
            self.err(
                items["escalation"][1].value["max_steps"][1],
                f"escalation.max_steps must be 0 or more, got {settings.max_steps}",
                "0 turns escalation off; 1 re-asks one tier up once",
            )
        return settings

    def check_skipped_checks(
        self, items: dict, actions: dict[str, Action], checks: CheckSettings
    ) -> None:
        """Every name in an action's `skip_checks` is a check."""
        known = [*BUILTIN_CHECKS, *(c.name for c in checks.commands)]
        for action in actions.values():
            unknown = [c for c in action.skip_checks if c not in known]
            if unknown:
                spec = items["actions"][1].value[action.id][1]
                self.err(
                    spec.value["skip_checks"][1],
                    f"unknown check '{unknown[0]}' in action '{action.id}'",
                    "use one of: " + ", ".join(known),
                )

    def settings(self, items: dict, name: str, cls: type) -> Any:
        loc = self.section(items, name, "map")
        if loc is None:
            return cls()
        return self.build(cls, loc, name)

    def check_classifier(self, items: dict, settings: ClassifierSettings, backends: dict) -> None:
        loc = items["classifier"][1] if "classifier" in items else None
        if loc is None or loc.kind != "map":
            return
        if settings.mode not in CLASSIFIER_MODES:
            self.err(
                loc.value["mode"][1],
                f"unknown classifier mode '{settings.mode}'",
                "use one of: " + ", ".join(CLASSIFIER_MODES),
            )
        for name in ("rule_confidence", "escalate_below", "llm_router_below"):
            value = getattr(settings, name)
            if not 0.0 <= value <= 1.0:  # NaN fails too
                self.err(
                    loc.value[name][1],
                    f"classifier.{name} must be between 0 and 1, got {value!r}",
                    "a confidence is a probability, e.g. 0.5",
                )
        if not settings.llm_router_timeout > 0 or settings.llm_router_timeout == float("inf"):
            self.err(
                loc.value["llm_router_timeout"][1],
                f"classifier.llm_router_timeout must be a positive number of seconds, "
                f"got {settings.llm_router_timeout!r}",
                "e.g. 1.5",
            )
        if settings.llm_router and settings.llm_router not in backends:
            self.err(
                loc.value["llm_router"][1],
                f"unknown backend '{settings.llm_router}' for classifier.llm_router",
                "name a backend defined under `backends:`",
            )

    def check_proxy(
        self, items: dict, settings: ProxySettings, tiers: list[str], backends: dict
    ) -> None:
        loc = items["proxy"][1] if "proxy" in items else None
        if loc is None or loc.kind != "map":
            return
        models = loc.value.get("models", (None, None))[1]
        if models is not None and models.kind == "map":
            allowed = [*tiers, *backends, PROXY_CHEAPEST]
            for name, (_, target) in models.value.items():
                if target.value not in allowed:
                    self.err(
                        target,
                        f"unknown target '{target.value}' for proxy model '{name}'",
                        "use a tier, a backend or `cheapest`: " + ", ".join(allowed),
                    )
        for key in ("classify_chars", "max_request_bytes"):
            if getattr(settings, key) <= 0 and key in loc.value:
                self.err(loc.value[key][1], f"proxy.{key} must be positive", "e.g. 4000")


def _plain(loc: Loc) -> Any:
    if loc.kind == "map":
        return {k: _plain(v) for k, (_, v) in loc.value.items()}
    if loc.kind == "seq":
        return [_plain(v) for v in loc.value]
    return loc.value


def _describe(loc: Loc) -> str:
    if loc.kind == "map":
        return "a mapping"
    if loc.kind == "seq":
        return "a list"
    return f"{type(loc.value).__name__} {loc.value!r}"


def _example(type_name: str) -> str:
    return {
        "Price": "`price: {input: 0.3, output: 2.5}` (USD per 1M tokens)",
        "Timeouts": "`timeouts: {connect: 5, first_byte: 60, total: 300}`",
        "Budget": "`budget: {daily_usd: 2}`",
    }.get(type_name, "a mapping")


# --- public API ------------------------------------------------------------------------------


def default_rules_path() -> Path:
    """The shipped default rules (package data; a link to rules/default.yaml in a checkout)."""
    return Path(__file__).resolve().parent / "data" / "default.yaml"


def user_rules_path() -> Path:
    """The per-user rules file in the platform's config directory."""
    from platformdirs import user_config_dir

    return Path(user_config_dir("modelrouter")) / USER_FILE


def find_rules_file(explicit: str | None = None, workspace: Path | None = None) -> Path:
    """The rules file to use.

    Lookup order: `explicit` or $MODELROUTER_RULES, then `<workspace>/.modelrouter.yaml`, then
    the user config file, then the shipped default.
    """
    chosen = explicit or os.environ.get(RULES_ENV)
    if chosen:
        return Path(os.path.expanduser(chosen))
    if workspace is not None:
        candidate = Path(workspace) / WORKSPACE_FILE
        if candidate.is_file():
            return candidate
    candidate = user_rules_path()
    if candidate.is_file():
        return candidate
    return default_rules_path()


def load_rules(path: str | Path) -> Rules:
    """Load, merge (`extends`) and validate a rules file.

    Raises RulesError listing every problem. The compiled classifier tables are built here too,
    so the first request pays nothing.
    """
    path = Path(path)
    problems: list[Problem] = []
    if not path.is_file():
        raise RulesError(
            [Problem(str(path), 1, 1, "rules file not found", "check the path or drop --rules")]
        )
    tree = _load_tree(path, problems)
    if tree is None or problems:
        raise RulesError(problems or [Problem(str(path), 1, 1, "unusable rules file", "")])
    rules = _Validator(problems).rules(tree, str(path))
    if rules is None or problems:
        problems.sort(key=lambda p: (p.file, p.line, p.col))
        raise RulesError(problems)
    compile_rules(rules)
    return rules


def check_rules(path: str | Path) -> list[Problem]:
    """Every problem in a rules file (empty when it is valid)."""
    try:
        load_rules(path)
    except RulesError as exc:
        return exc.problems
    return []
