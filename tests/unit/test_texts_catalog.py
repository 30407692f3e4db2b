"""The text catalogs against the code: every key the code asks for exists in both
languages, no key is dead, and counted nouns agree with their numbers.

The code is read with `ast`, never imported, so the scan does not depend on how the
handlers are laid out: every .py file under handlers/, edge/, runtime/ and services/,
and bot.py. A text call is `texts(KEY, ...)`, `admin_texts(KEY, ...)` (any name or
attribute ending in `texts`) or `get_texts(LANG)(KEY, ...)`. KEY may be a literal, a
conditional of literals, or an f-string / variable whose values the resolver below can list:

- names bound by `for` loops and comprehensions over literal tuples (also module-level
  constants such as `MENU_COMMANDS`), by assignments, and by function parameters (the
  arguments at every call site, e.g. the `key` of `tell_user`);
- `MAPPING.get(x, default)` over a literal dict (or a module-level one);
- the return values of a called function or method (`self._due_reminder(...)`);
- `error.reason` of an exception or record class: the first arguments of its constructor
  calls (`PaymentError(...)`), narrowed to the methods the `try` block calls and minus
  the values the same function already returned for (`if refusal.reason == "locked":`).

A key that cannot be listed is checked as a pattern: some key must match it in both
languages, and keys matching it are not reported as unused. A refusal a service raises
(a UserFacingError) lists the keys it may name in its class's TEXT_KEYS: those are
checked by importing the classes.
"""

from __future__ import annotations

import ast
import importlib
import itertools
import pkgutil
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest

from services.chat.attachments import AttachmentError
from services.errors import UserFacingError
from services.money.promo import PromoError
from services.money.yoomoney import CheckTooSoonError, YooMoneyError
from texts import CATALOGS, PLURAL_RULES, PLURAL_SPEC, Raw, get_texts, plural_form

ROOT = Path(__file__).resolve().parents[2]
SCANNED_DIRS = ("handlers", "edge", "runtime", "services")
SCANNED_FILES = ("bot.py",)
MAX_DEPTH = 12  # resolution steps; deeper chains count as unknown
# Keys no code uses yet, reported but not failing. admin_promo_disabled / _enabled: the
# panel's disable / enable buttons just redraw the list; no confirmation is sent.
KNOWN_UNUSED: frozenset[str] = frozenset()


# The code --------------------------------------------------------------------------------
@dataclass
class Module:
    path: Path
    tree: ast.Module
    parents: dict[ast.AST, ast.AST] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.path.relative_to(ROOT))


def _source_files() -> list[Path]:
    files = [ROOT / name for name in SCANNED_FILES if (ROOT / name).is_file()]
    for directory in SCANNED_DIRS:
        if (ROOT / directory).is_dir():
            files += sorted((ROOT / directory).rglob("*.py"))
    return files


def _load_modules() -> list[Module]:
    modules = []
    for path in _source_files():
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except SyntaxError as error:  # a file in the middle of an edit
            pytest.fail(f"cannot parse {path.relative_to(ROOT)}: {error}")
        module = Module(path, tree)
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                module.parents[child] = node
        modules.append(module)
    return modules


Scope = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda


def _call_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _is_text_call(call: ast.Call) -> bool:
    """`texts(...)`, `admin_texts(...)`, `self.texts(...)`, `get_texts(lang)(...)`."""
    func = call.func
    if isinstance(func, ast.Call):
        return _call_name(func.func) == "get_texts"
    name = _call_name(func)
    return name is not None and name.endswith("texts") and name != "get_texts"


class Resolver:
    """Lists the values a string expression can take; None when they cannot be listed."""

    def __init__(self, modules: list[Module]) -> None:
        self.modules = modules
        self.functions: dict[str, list[tuple[Module, ast.FunctionDef | ast.AsyncFunctionDef]]]
        self.functions = {}
        self.classes: dict[str, list[ast.ClassDef]] = {}
        self.constants: dict[str, list[tuple[Module, ast.expr]]] = {}
        self.calls: list[tuple[Module, ast.Call]] = []
        for module in modules:
            for node in ast.walk(module.tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    self.functions.setdefault(node.name, []).append((module, node))
                elif isinstance(node, ast.ClassDef):
                    self.classes.setdefault(node.name, []).append(node)
                elif isinstance(node, ast.Call):
                    self.calls.append((module, node))
            for statement in module.tree.body:
                for name, value in _assignments(statement):
                    self.constants.setdefault(name, []).append((module, value))

    # Scopes ------------------------------------------------------------------------------
    def _ancestors(self, module: Module, node: ast.AST) -> Iterator[ast.AST]:
        while node in module.parents:
            node = module.parents[node]
            yield node

    def _scope(self, module: Module, node: ast.AST) -> Scope | None:
        for ancestor in self._ancestors(module, node):
            if isinstance(ancestor, Scope):
                return ancestor
        return None

    def _in_same_scope(self, module: Module, node: ast.AST, scope: Scope | None) -> bool:
        return self._scope(module, node) is scope

    # Expressions -------------------------------------------------------------------------
    def values(self, module: Module, expr: ast.expr, depth: int = 0) -> set[str] | None:
        if depth > MAX_DEPTH:
            return None
        if isinstance(expr, ast.Constant):
            if expr.value is None:
                return set()  # `chosen = None`: no key from this branch
            return {expr.value} if isinstance(expr.value, str) else None
        if isinstance(expr, ast.IfExp):
            return _union(
                self.values(module, expr.body, depth + 1),
                self.values(module, expr.orelse, depth + 1),
            )
        if isinstance(expr, ast.JoinedStr):
            parts: list[set[str]] = []
            for part in expr.values:
                inner = (
                    self.values(module, part.value, depth + 1)
                    if isinstance(part, ast.FormattedValue)
                    else self.values(module, part, depth + 1)
                )
                if inner is None:
                    return None
                parts.append(inner)
            return {"".join(combination) for combination in itertools.product(*parts)}
        if isinstance(expr, ast.Name):
            return self._name(module, expr, depth + 1)
        if isinstance(expr, ast.Call):
            return self._call(module, expr, depth + 1)
        if isinstance(expr, ast.Attribute):
            return self._attribute(module, expr, depth + 1)
        return None

    def _name(self, module: Module, name: ast.Name, depth: int) -> set[str] | None:
        """A comprehension's variable, else a local (or parameter), else a module constant."""
        for ancestor in self._ancestors(module, name):
            if isinstance(ancestor, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
                for generator in ancestor.generators:
                    index = _target_index(generator.target, name.id)
                    if index is not None:
                        return self._iterated(module, generator.iter, index, depth)
            if isinstance(ancestor, ast.FunctionDef | ast.AsyncFunctionDef):
                return self._local(module, ancestor, name.id, depth)
            if isinstance(ancestor, ast.Lambda):
                return None
        return self._constant(module, name.id, depth)

    def _local(
        self,
        module: Module,
        function: ast.FunctionDef | ast.AsyncFunctionDef,
        name: str,
        depth: int,
    ) -> set[str] | None:
        found: set[str] | None = set()
        bound = False
        for node in ast.walk(function):
            if not self._in_same_scope(module, node, function) or node is function:
                continue
            if isinstance(node, ast.For | ast.AsyncFor):
                index = _target_index(node.target, name)
                if index is not None:
                    bound = True
                    found = _union(found, self._iterated(module, node.iter, index, depth))
            elif isinstance(node, ast.stmt):
                for target, value in _assignments(node):
                    if target == name:
                        bound = True
                        found = _union(found, self.values(module, value, depth))
        parameter = _parameter(function, name)
        if parameter is not None:
            bound = True
            found = _union(found, self._arguments(function, parameter, depth))
        if not bound:
            return self._constant(module, name, depth)
        return found or None

    def _constant(self, module: Module, name: str, depth: int) -> set[str] | None:
        """A module-level name: this module's own, else one of that name elsewhere (imports)."""
        candidates = self.constants.get(name, [])
        own = [item for item in candidates if item[0] is module] or candidates
        if not own:
            return None
        found: set[str] | None = set()
        for owner, value in own:
            found = _union(found, self.values(owner, value, depth))
        return found or None

    def _constant_expr(self, module: Module, expr: ast.expr) -> ast.expr:
        if isinstance(expr, ast.Name):
            candidates = self.constants.get(expr.id, [])
            own = [value for owner, value in candidates if owner is module]
            if len(own) == 1:
                return own[0]
            if len(candidates) == 1:
                return candidates[0][1]
        return expr

    def _iterated(
        self, module: Module, iterable: ast.expr, index: int, depth: int
    ) -> set[str] | None:
        iterable = self._constant_expr(module, iterable)
        if isinstance(iterable, ast.Name) and index == _WHOLE:
            members = self._members(iterable.id)  # for section in Section
            return set(members.values()) if members else None
        if not isinstance(iterable, ast.Tuple | ast.List | ast.Set):
            return None
        found: set[str] | None = set()
        for element in iterable.elts:
            if index != _WHOLE:
                if not isinstance(element, ast.Tuple | ast.List) or index >= len(element.elts):
                    return None
                element = element.elts[index]
            found = _union(found, self.values(module, element, depth))
        return found

    def _arguments(
        self, function: ast.FunctionDef | ast.AsyncFunctionDef, parameter: Parameter, depth: int
    ) -> set[str] | None:
        """Every value passed for a parameter at the function's call sites."""
        found: set[str] | None = set()
        sites = 0
        for module, call in self.calls:
            if _call_name(call.func) != function.name:
                continue
            position = parameter.position
            if parameter.method and isinstance(call.func, ast.Attribute):
                position -= 1  # self / cls is not written at an attribute call
            argument: ast.expr | None = None
            if any(isinstance(arg, ast.Starred) for arg in call.args[: position + 1]):
                return None
            if parameter.positional and 0 <= position < len(call.args):
                argument = call.args[position]
            for keyword in call.keywords:
                if keyword.arg == parameter.name:
                    argument = keyword.value
                elif keyword.arg is None:
                    return None  # **kwargs at a call site: anything
            argument = argument or parameter.default
            if argument is None:
                continue  # another function of the same name
            sites += 1
            found = _union(found, self.values(module, argument, depth))
        return found if sites else None

    def _call(self, module: Module, call: ast.Call, depth: int) -> set[str] | None:
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr == "get":
            mapping = self._constant_expr(module, func.value)
            if isinstance(mapping, ast.Dict):
                found: set[str] | None = set()
                for value in mapping.values:
                    found = _union(found, self.values(module, value, depth))
                if len(call.args) > 1:
                    found = _union(found, self.values(module, call.args[1], depth))
                return found
        name = _call_name(func)
        definitions = self.functions.get(name or "", [])
        if not definitions:
            return None
        result: set[str] | None = set()
        for owner, function in definitions:
            for node in ast.walk(function):
                if isinstance(node, ast.Return) and self._in_same_scope(owner, node, function):
                    returned = node.value
                    if returned is not None:  # a bare `return` gives no key
                        result = _union(result, self.values(owner, returned, depth))
        return result or None

    # Class constants and enum members ----------------------------------------------------
    def _members(self, class_name: str) -> dict[str, str] | None:
        """NAME -> value of a StrEnum (or a plain class of str constants); None for other
        enums, whose members do not format as their values."""
        for definition in self.classes.get(class_name, []):
            bases = {_call_name(base) for base in definition.bases}
            if bases & {"Enum", "IntEnum", "Flag", "IntFlag"} and not bases & {"str", "StrEnum"}:
                return None
            members = {}
            for statement in definition.body:
                for name, value in _assignments(statement):
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        members[name] = value.value
            return members
        return None

    # obj.attr of an exception or record class --------------------------------------------
    def _attribute(self, module: Module, expr: ast.Attribute, depth: int) -> set[str] | None:
        if not isinstance(expr.value, ast.Name):
            return None
        members = self._members(expr.value.id)
        if members is not None and expr.attr in members:
            return {members[expr.attr]}  # Section.USERS -> "users"
        class_name, called = self._class_of(module, expr.value)
        if class_name is None:
            return None
        constructors = [
            (owner, call) for owner, call in self.calls if _call_name(call.func) == class_name
        ]
        if called:  # only what the methods called in the `try` block raise
            narrowed = [
                (owner, call)
                for owner, call in constructors
                if (scope := self._scope(owner, call)) is not None
                and isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef)
                and scope.name in called
            ]
            constructors = narrowed or constructors
        position = self._field_position(class_name, expr.attr)
        if position is None or not constructors:
            return None
        found: set[str] | None = set()
        for owner, call in constructors:
            argument = next((k.value for k in call.keywords if k.arg == expr.attr), None)
            if argument is None and position < len(call.args):
                argument = call.args[position]
            if argument is None:
                return None
            found = _union(found, self.values(owner, argument, depth))
        if found is None:
            return None
        return (found - self._handled_before(module, expr)) or None

    def _class_of(self, module: Module, name: ast.Name) -> tuple[str | None, set[str]]:
        """The class of a name bound by `except Cls as name` or a `name: Cls` parameter,
        and the methods called in that `try` block."""
        for ancestor in self._ancestors(module, name):
            if isinstance(ancestor, ast.ExceptHandler) and ancestor.name == name.id:
                if ancestor.type is None:
                    return None, set()
                handler_class = _call_name(ancestor.type)
                try_node = module.parents[ancestor]
                assert isinstance(try_node, ast.Try | ast.TryStar)
                called = {
                    node.func.attr
                    for statement in try_node.body
                    for node in ast.walk(statement)
                    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                }
                return handler_class, called
            if isinstance(ancestor, ast.FunctionDef | ast.AsyncFunctionDef):
                for argument in (*ancestor.args.posonlyargs, *ancestor.args.args):
                    if argument.arg == name.id and argument.annotation is not None:
                        annotation = argument.annotation
                        if isinstance(annotation, ast.Constant) and isinstance(
                            annotation.value, str
                        ):
                            annotation = ast.parse(annotation.value, mode="eval").body
                        return _call_name(annotation), set()
                return None, set()
        return None, set()

    def _field_position(self, class_name: str, attribute: str) -> int | None:
        """Which constructor argument becomes `attribute`: `self.attribute = param` in
        __init__, or the field's place in a dataclass."""
        for definition in self.classes.get(class_name, []):
            fields = [
                node.target.id
                for node in definition.body
                if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
            ]
            for node in definition.body:
                if isinstance(node, ast.FunctionDef) and node.name == "__init__":
                    parameters = [a.arg for a in (*node.args.posonlyargs, *node.args.args)][1:]
                    for statement in ast.walk(node):
                        if (
                            isinstance(statement, ast.Assign)
                            and len(statement.targets) == 1
                            and isinstance(target := statement.targets[0], ast.Attribute)
                            and target.attr == attribute
                            and isinstance(statement.value, ast.Name)
                            and statement.value.id in parameters
                        ):
                            return parameters.index(statement.value.id)
                    return None
            if attribute in fields:
                return fields.index(attribute)
        return None

    def _handled_before(self, module: Module, expr: ast.Attribute) -> set[str]:
        """Values the enclosing function already answered: `if expr == "x": return ...`."""
        scope = self._scope(module, expr)
        if scope is None:
            return set()
        source = ast.unparse(expr)
        handled: set[str] = set()
        for node in ast.walk(scope):
            if not (
                isinstance(node, ast.If)
                and isinstance(node.test, ast.Compare)
                and len(node.test.ops) == 1
                and ast.unparse(node.test.left) == source
                and isinstance(node.body[-1], ast.Return | ast.Raise | ast.Continue)
                and not any(n is expr for n in ast.walk(node))
            ):
                continue
            op, right = node.test.ops[0], node.test.comparators[0]
            if isinstance(op, ast.Eq) and isinstance(right, ast.Constant):
                handled.add(str(right.value))
            elif isinstance(op, ast.In) and isinstance(right, ast.Tuple | ast.List | ast.Set):
                handled |= {str(e.value) for e in right.elts if isinstance(e, ast.Constant)}
        return handled


@dataclass(frozen=True)
class Parameter:
    name: str
    position: int
    positional: bool
    method: bool
    default: ast.expr | None


def _parameter(function: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> Parameter | None:
    args = function.args
    positional = [*args.posonlyargs, *args.args]
    method = bool(positional) and positional[0].arg in ("self", "cls")
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += args.defaults
    for position, argument in enumerate(positional):
        if argument.arg == name:
            return Parameter(name, position, True, method, defaults[position])
    for argument, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        if argument.arg == name:
            return Parameter(name, -1, False, method, default)
    return None


def _assignments(statement: ast.stmt) -> Iterator[tuple[str, ast.expr]]:
    if isinstance(statement, ast.Assign):
        for target in statement.targets:
            if isinstance(target, ast.Name):
                yield target.id, statement.value
    elif (
        isinstance(statement, ast.AnnAssign)
        and isinstance(statement.target, ast.Name)
        and statement.value is not None
    ):
        yield statement.target.id, statement.value


def _target_index(target: ast.expr, name: str) -> int | None:
    """Where a loop target binds `name`: _WHOLE (the item), an index into a tuple item
    (`for kind, _ in REMINDERS`), or None (it does not)."""
    if isinstance(target, ast.Name):
        return _WHOLE if target.id == name else None
    if isinstance(target, ast.Tuple | ast.List):
        for index, element in enumerate(target.elts):
            if isinstance(element, ast.Name) and element.id == name:
                return index
    return None


_WHOLE = -1


def _union(left: set[str] | None, right: set[str] | None) -> set[str] | None:
    return None if left is None or right is None else left | right


# Text calls ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Use:
    where: str
    source: str
    keys: frozenset[str] | None  # every key this call can ask for, when they can be listed
    pattern: re.Pattern[str] | None  # otherwise: what the keys look like


def _pattern(expr: ast.expr) -> re.Pattern[str]:
    """An f-string's shape, its unknown parts as wildcards (`reminder_(.+)`)."""
    if isinstance(expr, ast.JoinedStr):
        parts = [
            re.escape(part.value)
            if isinstance(part, ast.Constant) and isinstance(part.value, str)
            else ".+"
            for part in expr.values
        ]
        return re.compile("".join(parts))
    return re.compile(".+")


def _collect_uses() -> tuple[list[Use], set[str]]:
    """The text calls in the code, and every string literal in it."""
    modules = _load_modules()
    resolver = Resolver(modules)
    uses: list[Use] = []
    literals: set[str] = set()
    for module in modules:
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                literals.add(node.value)
            if not (isinstance(node, ast.Call) and node.args and _is_text_call(node)):
                continue
            argument = node.args[0]
            values = resolver.values(module, argument)
            uses.append(
                Use(
                    where=f"{module.name}:{node.lineno}",
                    source=ast.unparse(node)[:120],
                    keys=frozenset(values) if values is not None else None,
                    pattern=None if values is not None else _pattern(argument),
                )
            )
    return uses, literals


@pytest.fixture(scope="module")
def uses() -> tuple[list[Use], set[str]]:
    return _collect_uses()


def test_the_scan_finds_the_text_calls(uses: tuple[list[Use], set[str]]) -> None:
    found, _ = uses
    keys = {key for use in found if use.keys for key in use.keys}
    # Guards against the scan silently finding nothing (say, after files move).
    assert len(found) > 100, [use.where for use in found]
    assert {"start", "help", "profile", "admin_panel", "cmd_start"} <= keys
    # The dynamic keys the resolver is expected to list, not just match.
    assert {"btn_admin_users", "btn_enable", "btn_disable", "cmd_support"} <= keys
    assert {"error_timeout", "queue_full"} <= keys  # refusals' keys: see the test below
    assert {"admin_broadcast_done", "revoked_notice"} <= keys


def _user_facing_errors() -> list[type[UserFacingError]]:
    """Every UserFacingError class the services define (imported, not scanned: a class
    lists the keys it may name in TEXT_KEYS)."""
    for module in pkgutil.walk_packages([str(ROOT / "services")], "services."):
        importlib.import_module(module.name)
    found: list[type[UserFacingError]] = []
    pending = [UserFacingError]
    while pending:
        for subclass in pending.pop().__subclasses__():
            found.append(subclass)
            pending.append(subclass)
    return found


def test_every_refusal_a_service_raises_names_a_text_in_both_languages() -> None:
    classes = _user_facing_errors()
    assert {PromoError, CheckTooSoonError, YooMoneyError, AttachmentError} <= set(classes)
    missing = [
        f"{cls.__name__} {key!r} ({language})"
        for cls in classes
        for key in cls.TEXT_KEYS or {"(no TEXT_KEYS)"}
        for language, catalog in CATALOGS.items()
        if key not in catalog
    ]
    assert not missing, "refusals naming texts that do not exist:\n" + "\n".join(missing)
    assert PromoError("expired", date="2026-01-01").text_key == "promo_expired"
    with pytest.raises(ValueError, match="names no text"):
        UserFacingError("pay_check_too_soon")  # a key its class does not list


def test_every_key_the_code_uses_exists_in_both_languages(
    uses: tuple[list[Use], set[str]],
) -> None:
    found, _ = uses
    missing = []
    for use in found:
        for language, catalog in CATALOGS.items():
            if use.keys is not None:
                missing += [
                    f"{use.where} {key!r} ({language})" for key in use.keys - catalog.keys()
                ]
            else:
                assert use.pattern is not None
                if not any(use.pattern.fullmatch(key) for key in catalog):
                    missing.append(
                        f"{use.where} {use.pattern.pattern!r} ({language}): {use.source}"
                    )
    assert not missing, "text keys used in the code but missing:\n" + "\n".join(missing)


def test_unused_keys_are_reported(
    uses: tuple[list[Use], set[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    found, literals = uses
    listed = {key for use in found if use.keys for key in use.keys}
    patterns = [use.pattern for use in found if use.pattern is not None]
    catalog = CATALOGS["ru"].keys()
    # A key written as a literal anywhere (a dict of keys, a helper's argument) is used.
    unresolved = sorted(catalog - listed - literals)
    explained = [key for key in unresolved if any(p.fullmatch(key) for p in patterns)]
    unused = [key for key in unresolved if key not in explained]
    with capsys.disabled():
        if explained:
            print(f"\ntext keys used only through dynamic patterns: {', '.join(explained)}")
        if unused:
            print(f"\ntext keys never used: {', '.join(unused)}")
    unused = [key for key in unused if key not in KNOWN_UNUSED]
    assert not unused, (
        "these text keys are never used in handlers/, edge/, runtime/, services/ or bot.py, and "
        f"no dynamic key pattern explains them (remove them or use them): {unused}"
    )


# The catalogs ----------------------------------------------------------------------------
def _fields(template: str) -> dict[str, str]:
    """Placeholder -> its format spec."""
    return {
        name: spec or ""
        for _, name, spec, _ in string.Formatter().parse(template)
        if name is not None
    }


def test_plural_specs_give_each_language_its_forms() -> None:
    bad = []
    for language, catalog in CATALOGS.items():
        forms = PLURAL_RULES[language][0]
        for key, template in catalog.items():
            for name, spec in _fields(template).items():
                if spec.startswith(PLURAL_SPEC):
                    words = spec.removeprefix(PLURAL_SPEC).split("|")
                    if len(words) != forms or not all(word.strip() for word in words):
                        bad.append(f"{language} {key} {{{name}:{spec}}}")
    needed = {language: rule[0] for language, rule in PLURAL_RULES.items()}
    assert not bad, f"plural specs need this many forms {needed}: {bad}"


def test_every_template_renders() -> None:
    for language, catalog in CATALOGS.items():
        texts = get_texts(language)
        for key, template in catalog.items():
            fields = _fields(template)
            if fields:
                texts(key, **dict.fromkeys(fields, 2))


# Plurals ---------------------------------------------------------------------------------
RU_DAYS = {
    1: "1 день",
    2: "2 дня",
    4: "4 дня",
    5: "5 дней",
    11: "11 дней",
    12: "12 дней",
    14: "14 дней",
    21: "21 день",
    22: "22 дня",
    25: "25 дней",
    101: "101 день",
    111: "111 дней",
    0: "0 дней",
    "1.5": "1,5 дня",
    "3": "3 дня",
    "11": "11 дней",
}


@pytest.mark.parametrize(("number", "expected"), RU_DAYS.items())
def test_russian_plural_rule(number: int | str, expected: str) -> None:
    forms = ("день", "дня", "дней")
    assert f"{str(number).replace('.', ',')} {forms[plural_form('ru', number)]}" == expected


@pytest.mark.parametrize(
    ("number", "form"),
    [
        *[(1, 0), (2, 1), (4, 1), (5, 1), (11, 1), (12, 1), (14, 1), (21, 1), (22, 1)],
        *[(25, 1), (101, 1), (111, 1), (0, 1), ("1.5", 1), ("3", 1), ("1", 0), (-1, 0)],
        (1.0, 1),  # written "1.0": a fraction
    ],
)
def test_english_plural_rule(number: object, form: int) -> None:
    assert plural_form("en", number) == form


def test_plural_of_other_values() -> None:
    assert plural_form("ru", Decimal(21)) == 0 and plural_form("ru", 1.5) == 1
    assert plural_form("ru", "1 021") == 0  # digit groups
    assert plural_form("ru", "∞") == 2 and plural_form("en", "∞") == 1  # no number: the last


@pytest.mark.parametrize(
    ("number", "ru", "en"),
    [
        (1, "1 день", "1 day"),
        (2, "2 дня", "2 days"),
        (5, "5 дней", "5 days"),
        (11, "11 дней", "11 days"),
        (21, "21 день", "21 days"),
        (22, "22 дня", "22 days"),
        (25, "25 дней", "25 days"),
    ],
)
def test_days_in_real_templates(number: int, ru: str, en: str) -> None:
    values = {"plan": "Premium 1", "days": number, "end": "28.12.2026 15:30 MSK", "models": "x"}
    assert f"на {ru}, до" in get_texts("ru")("promo_ok", **values)
    assert f"for {en}, until" in get_texts("en")("promo_ok", **values)
    assert get_texts("ru")("stars_title", plan="AI", days=number) == f"AI — {ru}"
    assert get_texts("en")("stars_title", plan="AI", days=number) == f"AI — {en}"
    assert f"(доступ на {ru})" in get_texts("ru")("plans", days=number, plans=Raw(""))


@pytest.mark.parametrize(
    ("count", "ru", "en"),
    [
        (1, "1 платёж", "1 payment"),
        (2, "2 платежа", "2 payments"),
        (5, "5 платежей", "5 payments"),
        (11, "11 платежей", "11 payments"),
        (21, "21 платёж", "21 payments"),
        (22, "22 платежа", "22 payments"),
        (25, "25 платежей", "25 payments"),
    ],
)
def test_payment_count(count: int, ru: str, en: str) -> None:
    values = dict.fromkeys(_fields(CATALOGS["ru"]["admin_payments_total"]), "")
    values["count"] = str(count)
    assert f"({ru})" in get_texts("ru")("admin_payments_total", **values)
    assert f"({en})" in get_texts("en")("admin_payments_total", **values)


@pytest.mark.parametrize(
    ("count", "ru", "en"),
    [
        (1, "рассылку 1 пользователю (", "what 1 user will"),
        (2, "рассылку 2 пользователям (", "what 2 users will"),
        (5, "рассылку 5 пользователям (", "what 5 users will"),
        (21, "рассылку 21 пользователю (", "what 21 users will"),
        (3001, "рассылку 3001 пользователю (", "what 3001 users will"),
    ],
)
def test_broadcast_preview_count(count: int, ru: str, en: str) -> None:
    assert ru in get_texts("ru")("admin_broadcast_preview", count=count)
    assert en in get_texts("en")("admin_broadcast_preview", count=count)


@pytest.mark.parametrize(
    ("value", "ru", "en"),
    [
        ("1", "действует 1 час.", "valid for 1 hour."),
        ("2", "действует 2 часа.", "valid for 2 hours."),
        ("5", "действует 5 часов.", "valid for 5 hours."),
        ("21", "действует 21 час.", "valid for 21 hours."),
        ("1.5", "действует 1,5 часа.", "valid for 1.5 hours."),
    ],
)
def test_invoice_hours(value: str, ru: str, en: str) -> None:
    values = {"payment_id": "P1", "plan": "AI", "price": 420, "hours": value}
    assert ru in get_texts("ru")("pay_yoomoney", **values)
    assert en in get_texts("en")("pay_yoomoney", **values)


@pytest.mark.parametrize(
    ("seconds", "ru", "en"),
    [
        ("1", "через 1 секунду.", "in 1 second."),
        ("3", "через 3 секунды.", "in 3 seconds."),
        ("11", "через 11 секунд.", "in 11 seconds."),
        ("21", "через 21 секунду.", "in 21 seconds."),
    ],
)
def test_retry_seconds(seconds: str, ru: str, en: str) -> None:
    assert get_texts("ru")("pay_check_too_soon", seconds=seconds).endswith(ru)
    assert get_texts("en")("pay_check_too_soon", seconds=seconds).endswith(en)


def test_counted_values_are_still_escaped() -> None:
    ru = get_texts("ru")("too_long", length="<5>", limit="<b>")
    assert "&lt;5&gt; символов при лимите &lt;b&gt;" in ru
    title = get_texts("ru")("stars_title", plan=Raw("<b>AI</b>"), days=Raw("21"))
    assert title == "<b>AI</b> — 21 день"
