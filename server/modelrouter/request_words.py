"""The words of a request, told apart from the names in it, and the intents they carry.

A request names code as much as it asks for something: in "Add Debug impl for Parser",
`Debug` is a trait, not a wish to debug; in "fix `log.debug` spam", the backticks hold code.
`scan()` splits a request into tokens of four kinds, so that only real words are read as
intent by the rule classifier and the learned model:

- ``word``: an ordinary word (lower-cased);
- ``name``: a capitalised word in mid-sentence of a text that is not Title Case (a type,
  a product, a log level), or a word inside a path (``docs/README.md``);
- ``code``: an identifier (``snake_case``, ``camelCase``, ``a.b.c``, ``a::b``, ``f()``,
  anything in backticks);
- ``ver`` / ``num``: a version (``1.2.3``, ``v2.0``) or a number.

`concepts()` maps a word to the intents it carries ("fix", "test", "design", "concurrency",
"local scope", …) in the languages requests are commonly written in, so that the learned
model can weigh "修复", "corrige" and "fix" alike and a repository it has never seen still
uses words it knows. The lexicon is about kinds of work, not about any one data set.
"""

from __future__ import annotations

import itertools
import operator
import re
from typing import NamedTuple

from modelrouter.memo import looked_up

# Scripts written without spaces: their words are runs of characters, matched by substring.
_SPACELESS = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")

_SCAN = re.compile(
    r"(?P<tick>`[^`\n]{1,80}`)"
    r"|(?P<ver>\bv?\d+(?:\.\d+)+[\w-]*)"
    r"|(?P<path>[\w$@~-]*\w(?:(?:[./\\]|::|->)[\w$@~-]+)+(?:\(\))?)"
    r"|(?P<call>\w+\(\))"
    r"|(?P<word>\w+)",
)
_PATH_PART = re.compile(r"[A-Za-z]\w*")
_CAMEL = re.compile(r"[a-z][A-Z]|[A-Z]{2}[a-z]")
_SENTENCE_END = frozenset(".!?:;\n([{\"'*#>-")
_EXTENSIONS = frozenset(
    {
        "md", "mdx", "rst", "txt", "adoc", "tex", "py", "pyi", "ipynb", "js", "mjs", "ts", "tsx",
        "jsx", "vue", "svelte", "rs", "go", "java", "kt", "kts", "c", "h", "cc", "cpp", "hpp", "cs",
        "rb", "php", "swift", "m", "mm", "json", "yaml", "yml", "toml", "ini", "cfg", "conf",
        "lock", "html", "css", "scss", "sh", "bash", "zsh", "ps1", "sql", "xml", "gradle", "proto",
        "lua", "vim", "el", "ex", "exs", "erl", "hs", "ml", "scala", "dart", "zig", "nim", "r",
        "jl", "dockerfile", "make", "cmake",
    }
)  # fmt: skip


class Token(NamedTuple):
    """One token: its kind and its lower-cased text."""

    kind: str  # word | name | code | ver | num
    text: str


_KIND, _TEXT = operator.itemgetter(0), operator.itemgetter(1)


# The rule classifier (a commit subject's head, then the request), the intents and the
# learned model scan the same request one after the other, so the last few results are kept.
_RECENT_SIZE = 4
_recent: dict[str, tuple[tuple[Token, ...], tuple[str, ...]]] = {}


def _scanned(text: str) -> tuple[tuple[Token, ...], tuple[str, ...]]:
    """The tokens of `text` and its ordinary words, kept for the last few texts."""
    found = _recent.get(text)
    if found is not None:
        return found
    tokens = tuple(_scan(text))
    kinds = map(_KIND, tokens)
    words = itertools.compress(map(_TEXT, tokens), map("word".__eq__, kinds))
    found = (tokens, tuple(words))
    if len(_recent) >= _RECENT_SIZE:
        del _recent[next(iter(_recent))]
    _recent[text] = found
    return found


def scan(text: str) -> tuple[Token, ...]:
    """The tokens of `text` (see the module docstring)."""
    return _scanned(text)[0]


def words_of(text: str) -> tuple[str, ...]:
    """The lower-cased ordinary words of `text` (names and code left out), in order."""
    return _scanned(text)[1]


# Context decides whether a capitalised word is a name; every other word's kind is its own.
_CAPITALISED = Token("word?", "")
_word_tokens: dict[str, Token] = {}


def _word_token(raw: str) -> Token:
    tok = _word_tokens.get(raw)
    if tok is None:
        if raw.isdigit():
            tok = Token("num", raw)
        elif "_" in raw.strip("_") or _CAMEL.search(raw):
            tok = Token("code", raw.lower())
        elif raw[0].isupper() and not raw.isupper():
            tok = _CAPITALISED
        else:
            tok = Token("word", raw.lower())
        if len(_word_tokens) < 100_000:
            _word_tokens[raw] = tok
    return tok


# No token spans white space (backtick spans aside), so each distinct chunk of text between
# spaces is tokenised once and remembered; only a capitalised word needs its context.
_CHUNK = re.compile(r"`[^`\n]{1,80}`|\S+")
_TICKED = re.compile(r"`[^`\n]{1,80}`")
_RUN = re.compile(r"\S+")
_LETTER_WORD = re.compile(r"[^\W\d_]\w*")
# A chunk's tokens, its capitalised words (index, offset in the chunk, the word as a word
# and as a name), and its letter words as Title Case counts them.
_Chunk = tuple[tuple[Token, ...], tuple[tuple[int, int, Token, Token], ...], tuple[int, ...]]
_chunks: dict[str, _Chunk] = {}
_TOKENS, _PENDING = operator.itemgetter(0), operator.itemgetter(1)
# How `_is_title_case` counts a word that starts with a letter.
_ACRONYM, _LOWER, _CAPITAL = 0, 1, 2


def _chunk_tokens(chunk: str) -> _Chunk:
    """The chunk's tokens, a capitalised word whose kind depends on what is before it
    standing as `_CAPITALISED`; for each of those (index, offset in the chunk, the word as
    a word and as a name); and each of its letter words as `_ACRONYM`, `_LOWER` or
    `_CAPITAL`."""
    found = _chunks.get(chunk)
    if found is not None:
        return found
    tokens: list[Token] = []
    pending: list[tuple[int, int, Token, Token]] = []
    for m in _SCAN.finditer(chunk):
        kind, raw = m.lastgroup, m.group()
        if kind == "word":
            tok = _word_token(raw)
            if tok is _CAPITALISED:
                start = m.start()
                word = Token("word", raw.lower())
                if start and chunk[start - 1] in _SENTENCE_END:
                    tok = word  # a sentence starts here, whatever is before the chunk
                else:
                    pending.append((len(tokens), start, word, Token("name", word.text)))
            tokens.append(tok)
        elif kind == "path":
            # The parts of a path are names ("docs/README.md" is about a readme), its
            # extension says what kind of file.
            if "/" in raw or "\\" in raw or raw.rsplit(".", 1)[-1].lower() in _EXTENSIONS:
                tokens.extend(Token("name", part.lower()) for part in _PATH_PART.findall(raw))
            else:
                tokens.append(Token("code", raw.lower()))
        elif kind == "ver":
            tokens.append(Token("ver", raw.lower()))
        else:  # tick, call
            tokens.append(Token("code", raw.lower()))
    letters = tuple(
        _ACRONYM if w.isupper() else _CAPITAL if w[0].isupper() else _LOWER
        for w in _LETTER_WORD.findall(chunk)
    )
    found = (tuple(tokens), tuple(pending), letters)
    if len(_chunks) < 100_000:
        _chunks[chunk] = found
    return found


def _is_title_case(text: str) -> bool:
    """Whether `text` is in Title Case, ticked spans left out."""
    if "`" in text:
        text = _TICKED.sub(" ", text)
    # No letter word spans white space: the text's are its chunks' letter words.
    return _title_case_of_chunks(looked_up(_chunks, text.split(), _chunk_tokens))


def _title_case_of_chunks(found: list[_Chunk]) -> bool:
    # In Title Case text ("Fix Crash On Start") capitals say nothing; in a sentence they
    # mark names. The first word is capitalised in any sentence; all-capital words are
    # acronyms. `found`: the chunks of a text without backticks.
    letters = list(itertools.chain.from_iterable([f[2] for f in found]))[1:]
    rest = len(letters) - letters.count(_ACRONYM)
    return rest >= 2 and letters.count(_CAPITAL) * 3 >= rest * 2


def _chunks_of(text: str) -> list[str]:
    """`_CHUNK.findall(text)`, with runs of non-space characters split off in C: a chunk
    that does not open with a backtick is exactly such a run."""
    if "`" not in text:
        return text.split()
    out: list[str] = []
    start = 0  # where a chunk may start
    while True:
        # The next backtick that opens a chunk: at `start`, or after white space.
        tick = text.find("`", start)
        while tick > start and not text[tick - 1].isspace():
            tick = text.find("`", tick + 1)
        if tick < 0:
            out += text[start:].split()
            return out
        out += text[start:tick].split()
        m = _TICKED.match(text, tick) or _RUN.match(text, tick)
        out.append(m.group())
        start = m.end()


def _scan(text: str) -> list[Token]:
    chunks = _chunks_of(text)
    found = looked_up(_chunks, chunks, _chunk_tokens)
    tokens = list(map(_TOKENS, found))
    out = list(itertools.chain.from_iterable(tokens))
    pending = list(itertools.compress(itertools.count(), map(_PENDING, found)))
    if not pending:
        return out
    # Each chunk's first token in `out` (most often only the first chunk has any pending).
    starts = [0, *itertools.accumulate(map(len, tokens))] if pending[-1] else [0]
    title_case: bool | None = None  # worked out when a capitalised word needs it
    for j in pending:
        chunk, base = chunks[j], starts[j]
        for index, offset, word, name in found[j][1]:
            # The character before the word, spaces skipped; the first token starts a sentence.
            before = chunk[offset - 1] if offset else (chunks[j - 1][-1] if j else "")
            if base + index and before and before not in _SENTENCE_END:
                if title_case is None:
                    title_case = (
                        _is_title_case(text) if "`" in text else _title_case_of_chunks(found)
                    )
                out[base + index] = word if title_case else name
            else:
                out[base + index] = word
    return out


def intent_words(text: str) -> list[str]:
    """The lower-cased ordinary words of `text` (names and code left out), in order."""
    return list(words_of(text))


# concept -> words (a trailing "*" matches any word starting so) and, for scripts written
# without spaces, substrings. Kinds of work, in the languages requests come in.
# fmt: off
LEXICON: dict[str, tuple[str, ...]] = {
    "fix": (
        "fix*", "bugfix*", "hotfix*", "repair*", "resolv*", "correct", "corrects", "corrected",
        "workaround", "patch", "corrig*", "arregl*", "soluciona*", "behebt", "beheb*",
        "behoben", "korrigier*", "réparer", "исправ*", "修复", "修正", "解决", "修改bug",
        "直す", "直し", "고침", "수정", "해결",
    ),
    "defect": (
        "bug", "bugs", "buggy", "crash*", "panic*", "segfault*", "sigsegv", "error", "errors",
        "exception*", "traceback", "broken", "breaks", "regress*", "fail", "fails", "failed",
        "failing", "failure*", "wrong", "incorrect*", "leak*", "hang", "hangs", "hanging",
        "freeze*", "deadlock*", "race", "races", "racy", "flaky", "flakiness", "nil", "null",
        "npe", "overflow*", "underflow", "invalid", "unexpected*", "missing", "stuck", "erro",
        "correctly", "properly", "edge", "typeerror", "valueerror", "keyerror", "indexerror",
        "erreur", "fehler", "ошибк*", "падает", "错误", "异常", "崩溃", "报错", "失败", "问题",
        "バグ", "エラー", "不具合", "落ちる", "오류", "버그", "에러", "handle", "handles",
        "handling", "unhandled",
    ),
    "test": (
        "test", "tests", "testing", "tested", "unittest*", "pytest", "spec", "specs", "e2e",
        "coverage", "assert*", "prueba*", "teste", "testes", "тест*", "测试", "单测", "テスト",
        "테스트",
    ),
    "perf": (
        "perf", "performance", "slow*", "fast*", "speed*", "optimi*", "latency", "throughput",
        "memory", "cpu", "efficient*", "benchmark*", "rendimiento", "desempenho", "leistung",
        "производительн*", "性能", "优化", "加速", "パフォーマンス", "高速化", "최적화", "성능",
    ),
    "docs": (
        "doc", "docs", "documentation", "document", "documented", "readme*", "docstring*",
        "comment", "comments", "commented", "changelog*", "guide", "tutorial*", "manual", "faq",
        "wiki", "example", "examples", "documenta*", "dokumentation", "документац*", "文档",
        "注释", "说明文", "ドキュメント", "コメント", "문서", "주석",
    ),
    "wording": (
        "typo*", "spelling", "misspel*", "grammar*", "wording", "reword*", "rephras*",
        "capitaliz*", "punctuation", "translat*", "i18n", "l10n", "locale*", "tippfehler",
        "digitação", "errata", "опечат*", "错别字", "拼写", "翻译", "誤字", "翻訳", "오타", "번역",
    ),
    "release": (
        "bump*", "version*", "release*", "upgrade*", "dependency", "dependencies", "deps",
        "dep", "renovate", "dependabot", "lockfile", "changelog", "versión", "versão", "升级",
        "版本", "发布", "バージョン", "リリース", "버전", "릴리스",
    ),
    "tidy": (
        "format*", "whitespace", "indent*", "lint*", "style", "prettier", "rustfmt", "clippy",
        "cleanup", "tidy", "unused", "dead", "rename*", "typing", "pep8", "eslint", "ruff",
        "格式", "整形", "重命名", "リネーム",
    ),
    "remove": (
        "remove*", "delete*", "drop*", "deprecat*", "eliminar", "entfern*", "удал*", "删除",
        "移除", "去掉", "削除", "삭제", "제거",
    ),
    "add": (
        "add", "adds", "added", "adding", "new", "introduc*", "creat*", "implement*",
        "provide*", "extend*", "include*", "agrega*", "añad*", "adicion*", "hinzufüg*",
        "ajout*", "добав*", "реализ*", "添加", "新增", "增加", "实现", "加入", "追加", "実装",
        "新規", "추가", "구현",
    ),
    "capability": (
        "support*", "allow*", "enabl*", "option*", "flag", "flags", "ability", "able",
        "configurable", "customiz*", "setting*", "parameter*", "argument*", "soporte",
        "suporte", "unterstütz*", "поддерж*", "支持", "选项", "参数", "対応", "オプション",
        "지원", "옵션",
    ),
    "change": (
        "change*", "modify", "modifies", "modified", "make", "makes", "convert*", "turn",
        "instead", "rather", "cambi*", "modific*", "alter*", "änder*", "измен*", "修改", "改为",
        "変更", "변경",
    ),
    "restructure": (
        "refactor*", "restructur*", "rework*", "rewrit*", "reorganiz*", "reorganis*",
        "extract*", "split*", "decompos*", "decoupl*", "consolidat*", "unif*", "generaliz*",
        "refactoriz*", "refator*", "umstrukturier*", "рефактор*", "重构", "拆分", "リファクタ",
        "리팩터", "리팩토링",
    ),
    "design": (
        "design*", "architect*", "redesign*", "rearchitect*", "rfc", "proposal", "strategy",
        "paradigm", "tradeoff*", "trade", "approach", "rethink", "overhaul*", "arquitect*",
        "arquitet*", "diseñ*", "architektur*", "entwurf", "архитектур*", "设计", "架构", "方案",
        "設計", "アーキテクチャ", "설계", "아키텍처",
    ),
    "migrate": (
        "migrat*", "port", "porting", "ported", "switch*", "replac*", "move", "moves", "moving",
        "transition*", "adopt*", "migra*", "umstell*", "миграц*", "迁移", "替换", "移行",
        "移植", "마이그레이션",
    ),
    "system": (
        "system", "systems", "subsystem*", "framework*", "engine", "runtime", "pipeline*",
        "infrastructure", "platform", "service", "services", "microservic*", "monolith*",
        "layer*", "plugin*", "middleware", "backend", "backends", "storage", "database*",
        "schema*", "protocol*", "mechanism*", "lifecycle", "abstraction*", "modular*", "module",
        "modules", "package", "packages", "crate", "crates", "workspace", "gem", "gems",
        "library", "libraries", "repo", "repository", "scheduler", "executor", "sistema",
        "系统", "框架", "机制", "模块", "システム", "フレームワーク", "시스템",
    ),
    "concurrency": (
        "concurren*", "parallel*", "async*", "asynchron*", "thread*", "multithread*", "lock",
        "locks", "locking", "mutex*", "atomic*", "distributed", "cluster*", "consensus",
        "replica*", "shard*", "partition*", "consisten*", "transaction*", "eventual", "leader",
        "raft", "paxos", "queue*", "pubsub", "scal*", "multi", "tenant*", "并发", "分布式",
        "集群", "并行", "线程", "非同期", "分散", "並行", "スレッド", "동시성", "분산",
    ),
    "security": (
        "security", "secure", "auth", "authent*", "authori*", "permission*", "rbac", "oauth*",
        "jwt", "encrypt*", "csrf", "xss", "vulnerab*", "sandbox*", "privilege*", "secret*",
        "安全", "认证", "权限", "セキュリティ", "認証", "보안", "인증",
    ),
    "interface": (
        "api", "apis", "interface*", "versioning", "breaking", "compatib*", "backward*",
        "contract", "endpoint*", "public", "abi", "接口", "互換", "호환",
    ),
    "breadth": (
        "across", "entire", "whole", "global*", "everywhere", "codebase", "project",
        "throughout", "cross", "all", "every", "整个", "全局", "全体", "전체",
    ),
    "local": (
        "function", "functions", "method", "methods", "this", "selected", "selection",
        "snippet", "line", "lines", "loop", "variable*", "regex*", "expression", "statement",
        "block", "class", "helper", "it", "函数", "方法", "关数", "関数", "メソッド", "함수",
    ),
    "explain": (
        "explain*", "describe*", "understand*", "meaning", "means", "walkthrough", "clarify",
        "explica*", "erklär*", "объясн*", "解释", "说明", "是什么", "説明", "설명",
    ),
    "question": (
        "why", "how", "what", "should", "could", "would", "which", "whether", "por", "qué",
        "como", "cómo", "warum", "wie", "pourquoi", "comment", "почему", "как", "为什么",
        "如何", "怎么", "为何", "なぜ", "どう", "왜", "어떻게",
    ),
    "build": (
        "ci", "build*", "compil*", "linker", "link", "workflow*", "cmake", "makefile", "gradle",
        "docker*", "github", "actions", "windows", "macos", "linux", "arm64", "musl", "gcc",
        "clang", "msvc", "编译", "构建", "ビルド", "빌드",
    ),
}
# fmt: on


def _compile_lexicon() -> tuple[dict[str, tuple[str, ...]], list[tuple[str, str]], list]:
    exact: dict[str, list[str]] = {}
    prefixes: list[tuple[str, str]] = []
    substrings: list[tuple[str, str]] = []
    for concept, entries in LEXICON.items():
        for entry in entries:
            if _SPACELESS.search(entry):
                substrings.append((entry, concept))
            elif entry.endswith("*"):
                prefixes.append((entry[:-1], concept))
            else:
                exact.setdefault(entry, []).append(concept)
    return {w: tuple(c) for w, c in exact.items()}, prefixes, substrings


_EXACT, _PREFIXES, _SUBSTRINGS = _compile_lexicon()
_concept_cache: dict[str, tuple[str, ...]] = {}


def concepts(word: str) -> tuple[str, ...]:
    """The concepts a lower-cased word carries (cached per distinct word)."""
    found = _concept_cache.get(word)
    if found is not None:
        return found
    hits = list(_EXACT.get(word, ()))
    for prefix, concept in _PREFIXES:
        if word.startswith(prefix) and concept not in hits:
            hits.append(concept)
    if _SPACELESS.search(word):
        for sub, concept in _SUBSTRINGS:
            if sub in word and concept not in hits:
                hits.append(concept)
    found = tuple(hits)
    if len(_concept_cache) < 100_000:
        _concept_cache[word] = found
    return found
