"""The condition language of challenges: a JSON tree validated once, compiled to closures.

Grammar (JSON objects; a node has exactly one form, and no other keys):

    {"all": [node, ...]}        every child matches; {"all": []} always matches, and so does
                                an empty root {} (a rule with no conditions), but no empty child
    {"any": [node, ...]}        at least one child matches; at least one child is required
    {"not": node}               the child does not match
    {"field": f, "op": o, "value": v}   a leaf over a field of challenges.fields

Operators and values by field type are in `fields.VALUE_KINDS`. A value is JSON: lists, never
sets or tuples; numbers are finite. A tree may nest at most MAX_DEPTH levels (a root leaf is one
level) and hold at most MAX_LEAVES leaves.

Missing data: a field whose value is None for this event (no weather that day, no birth date, no
amount on a visit, a payload key absent or of the wrong type) makes its leaf False, for every
operator, including ne, not_in, not_contains and is_empty; `explain` says "<field> is unknown".
`not` just negates its child, so {"not": weather.condition eq "rain"} matches when the weather is
unknown; write weather.condition ne "rain" to require known, non-rainy weather.

Validation collects every problem as a ConditionError(path, message). Paths name nodes from the
root: "" is the root, then "all[0]", "all[0].any[2]", "all[0].any[2].not". Every message about a
leaf names its field.

`compile_condition` validates, then builds nested closures: evaluation never looks at the JSON
again, and a leaf costs one getter call and one comparison (list values become frozensets at
compile time). Validation plus the getters' typing guarantee comparisons never raise.
"""

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from challenges.facts import Facts
from challenges.fields import (
    BOOLEAN,
    PAYLOAD_PREFIX,
    STRING_SET,
    VALUE_KINDS,
    FieldSpec,
    check_payload_fields,
    resolve_field,
)

MAX_DEPTH = 10
MAX_LEAVES = 200

GROUP_KEYS = ("all", "any", "not")
LEAF_KEYS = ("field", "op", "value")

Test = Callable[[Facts], bool]


@dataclass(frozen=True, slots=True)
class ConditionError:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidCondition(ValueError):
    def __init__(self, errors: list[ConditionError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(error) for error in self.errors))


@dataclass(frozen=True, slots=True)
class Explanation:
    matched: bool
    path: str  # of the deciding node: the first failing leaf, a failed any, a failed not
    reason: str


# --- showing values in messages ----------------------------------------------------------------


def show(value: Any, depth: int = 0) -> str:
    """A value as a marketer would write it: 'text', 12, true, null, ['a', 'b']."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return repr(value)
    if depth >= 3 and isinstance(value, list | tuple | set | frozenset | dict):
        return "[...]" if not isinstance(value, dict) else "{...}"  # bad input may nest deeply
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show(item, depth + 1) for item in value) + "]"
    if isinstance(value, set | frozenset):
        return "[" + ", ".join(sorted(show(item, depth + 1) for item in value)) + "]"
    if isinstance(value, dict):
        items = (f"{show(k, depth + 1)}: {show(v, depth + 1)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    return type(value).__name__


def _got(value: Any) -> str:
    if isinstance(value, set | frozenset):
        return "a set (use a list)"
    if isinstance(value, tuple):
        return "a tuple (use a list)"
    text = show(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _child(path: str, step: str) -> str:
    return f"{path}.{step}" if path else step


# --- validation --------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and (isinstance(value, int) or math.isfinite(value))
    )


def _value_errors(spec: FieldSpec, op: str, value: Any) -> list[str]:
    name, kind = spec.name, VALUE_KINDS[spec.type][op]
    head = f"value for '{name}' {op} must be"
    if kind == "number":
        return [] if _is_number(value) else [f"{head} a number, got {_got(value)}"]
    if kind == "range":
        if not (isinstance(value, list) and len(value) == 2 and all(map(_is_number, value))):
            return [f"{head} [low, high] numbers, got {_got(value)}"]
        if value[0] > value[1]:
            return [f"{head} [low, high] with low <= high, got {_got(value)}"]
        return []
    if kind == "numbers":
        if isinstance(value, list) and value and all(map(_is_number, value)):
            return []
        return [f"{head} a non-empty list of numbers, got {_got(value)}"]
    if kind == "string":
        return [] if isinstance(value, str) else [f"{head} a string, got {_got(value)}"]
    if kind == "strings":
        if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
            return []
        return [f"{head} a non-empty list of strings, got {_got(value)}"]
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{head} true or false, got {_got(value)}"]
    choices = ", ".join(spec.choices)
    if kind == "choice":
        items = [value]
    else:  # choices
        if not (isinstance(value, list) and value):
            return [f"{head} a non-empty list of {name} values ({choices}), got {_got(value)}"]
        items = value
    return [
        f"{_got(item)} is not a {name} ({choices})"
        for item in items
        if not (isinstance(item, str) and item in spec.choices)
    ]


class _Validator:
    def __init__(self, payload_fields: Mapping[str, str] | None) -> None:
        self.payload_fields = payload_fields
        self.errors: list[ConditionError] = []
        self.leaves = 0

    def error(self, path: str, message: str) -> None:
        self.errors.append(ConditionError(path, message))

    def node(self, node: Any, path: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            self.error(path, f"condition is nested more than {MAX_DEPTH} levels deep")
            return
        if not isinstance(node, dict):
            self.error(path, f"condition must be an object, got {_got(node)}")
            return
        if not node:
            if path:  # at the root, {} is "no conditions"
                self.error(path, 'condition is empty (use {"all": []} to match every event)')
            return
        groups = [key for key in GROUP_KEYS if key in node]
        is_leaf = any(key in node for key in LEAF_KEYS)
        if len(groups) + is_leaf != 1:
            keys = ", ".join(sorted(map(str, node)))
            self.error(
                path,
                "condition must have exactly one of 'all', 'any', 'not', "
                f"or be a leaf with 'field', 'op', 'value' (got keys: {keys})",
            )
            return
        if is_leaf:
            self.leaf(node, path)
            return
        kind = groups[0]
        for key in sorted(map(str, node)):
            if key != kind:
                self.error(path, f"unknown key '{key}' in '{kind}' condition")
        if kind == "not":
            self.node(node["not"], _child(path, "not"), depth + 1)
            return
        children = node[kind]
        if not isinstance(children, list):
            self.error(path, f"'{kind}' must be a list of conditions, got {_got(children)}")
            return
        if kind == "any" and not children:
            self.error(path, "'any' must have at least one condition")
        for index, child in enumerate(children):
            self.node(child, _child(path, f"{kind}[{index}]"), depth + 1)

    def leaf(self, node: dict[Any, Any], path: str) -> None:
        self.leaves += 1
        name = node.get("field")
        leaf = f"leaf '{name}'" if isinstance(name, str) else "leaf"
        for key in sorted(map(str, node)):
            if key not in LEAF_KEYS:
                self.error(path, f"unknown key '{key}' in {leaf} (allowed: field, op, value)")
        spec = None
        if "field" not in node:
            self.error(path, "leaf is missing 'field'")
        elif not isinstance(name, str):
            self.error(path, f"field must be a string, got {_got(name)}")
        else:
            spec = resolve_field(name, self.payload_fields)
            if spec is None:
                self.error(path, self.unknown_field(name))
        op = node.get("op")
        if "op" not in node:
            self.error(path, f"{leaf} is missing 'op'")
        elif not isinstance(op, str):
            self.error(path, f"operator in {leaf} must be a string, got {_got(op)}")
        elif spec is not None and op not in spec.operators:
            self.error(
                path,
                f"operator '{op}' does not apply to {spec.type} field '{name}' "
                f"(use one of: {', '.join(spec.operators)})",
            )
        if "value" not in node:
            self.error(path, f"{leaf} is missing 'value'")
        elif spec is not None and isinstance(op, str) and op in spec.operators:
            for message in _value_errors(spec, op, node["value"]):
                self.error(path, message)

    def unknown_field(self, name: str) -> str:
        if not name.startswith(PAYLOAD_PREFIX):
            return f"unknown field '{name}'"
        if not self.payload_fields:
            return f"unknown field '{name}' (this event type has no payload fields)"
        known = ", ".join(PAYLOAD_PREFIX + key for key in self.payload_fields)
        return f"unknown field '{name}' (payload fields of this event type: {known})"


def validate_condition(tree: Any, *, payload_fields: Mapping[str, str] | None = None) -> None:
    """Raise InvalidCondition listing every problem in `tree`; return None if it is valid."""
    check_payload_fields(payload_fields)
    validator = _Validator(payload_fields)
    validator.node(tree, "", 1)
    if validator.leaves > MAX_LEAVES:
        validator.error("", f"condition has {validator.leaves} leaves; the limit is {MAX_LEAVES}")
    if validator.errors:
        raise InvalidCondition(validator.errors)


# --- compilation -------------------------------------------------------------------------------


def _leaf_test(spec: FieldSpec, op: str, value: Any) -> Test:
    get = spec.getter
    # Each closure: one getter call, one comparison; None (unknown) never matches.
    if spec.type == BOOLEAN:  # `is`: a bool field never equals 1 or 0
        if op == "eq":
            return lambda f: get(f) is value
        return lambda f: (x := get(f)) is not None and x is not value
    match op:
        case "eq":
            return lambda f: get(f) == value
        case "ne":
            return lambda f: (x := get(f)) is not None and x != value
        case "gt":
            return lambda f: (x := get(f)) is not None and x > value
        case "gte":
            return lambda f: (x := get(f)) is not None and x >= value
        case "lt":
            return lambda f: (x := get(f)) is not None and x < value
        case "lte":
            return lambda f: (x := get(f)) is not None and x <= value
        case "between":
            low, high = value
            return lambda f: (x := get(f)) is not None and low <= x <= high
        case "in":
            members = frozenset(value)
            return lambda f: get(f) in members
        case "not_in":
            members = frozenset(value)
            return lambda f: (x := get(f)) is not None and x not in members
        case "contains":  # substring of a string, member of a string set
            return lambda f: (x := get(f)) is not None and value in x
        case "not_contains":
            return lambda f: (x := get(f)) is not None and value not in x
        case "startswith":
            return lambda f: (x := get(f)) is not None and x.startswith(value)
        case "contains_any":
            wanted = frozenset(value)
            return lambda f: (x := get(f)) is not None and not wanted.isdisjoint(x)
        case "contains_all":
            wanted = frozenset(value)
            return lambda f: (x := get(f)) is not None and wanted.issubset(x)
        case "is_empty":
            if value:
                return lambda f: (x := get(f)) is not None and not x
            return lambda f: (x := get(f)) is not None and bool(x)
    raise AssertionError(f"unhandled operator {op!r}")  # validation makes this unreachable


def _all_test(tests: list[Test]) -> Test:
    if not tests:
        return lambda f: True
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda f: first(f) and second(f)
    frozen = tuple(tests)

    def test(facts: Facts) -> bool:
        for child in frozen:
            if not child(facts):
                return False
        return True

    return test


def _any_test(tests: list[Test]) -> Test:
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda f: first(f) or second(f)
    frozen = tuple(tests)

    def test(facts: Facts) -> bool:
        for child in frozen:
            if child(facts):
                return True
        return False

    return test


class _Node:
    """A compiled node: `test` is the fast closure; `explain` walks the compiled nodes."""

    __slots__ = ("path", "test")

    path: str
    test: Test

    def explain(self, facts: Facts) -> Explanation:
        raise NotImplementedError


class _Leaf(_Node):
    __slots__ = ("op", "spec", "value")

    def __init__(self, path: str, spec: FieldSpec, op: str, value: Any) -> None:
        self.path, self.spec, self.op, self.value = path, spec, op, value
        self.test = _leaf_test(spec, op, value)

    def explain(self, facts: Facts) -> Explanation:
        actual = self.spec.getter(facts)
        if actual is None:
            return Explanation(False, self.path, f"{self.spec.name} is unknown")
        matched = self.test(facts)
        verb = "matches" if matched else "needs"
        reason = f"{self.spec.name} is {show(actual)}, {verb} {self.op} {show(self.value)}"
        return Explanation(matched, self.path, reason)


class _All(_Node):
    __slots__ = ("children",)

    def __init__(self, path: str, children: list[_Node]) -> None:
        self.path, self.children = path, tuple(children)
        self.test = _all_test([child.test for child in children])

    def explain(self, facts: Facts) -> Explanation:
        reasons = []
        for child in self.children:
            outcome = child.explain(facts)
            if not outcome.matched:
                return outcome
            reasons.append(outcome.reason)
        return Explanation(True, self.path, "; ".join(reasons) or "no conditions")


class _Any(_Node):
    __slots__ = ("children",)

    def __init__(self, path: str, children: list[_Node]) -> None:
        self.path, self.children = path, tuple(children)
        self.test = _any_test([child.test for child in children])

    def explain(self, facts: Facts) -> Explanation:
        reasons = []
        for child in self.children:
            outcome = child.explain(facts)
            if outcome.matched:
                return outcome
            reasons.append(outcome.reason)
        count = len(self.children)
        summary = "; ".join(reasons)
        return Explanation(False, self.path, f"none of {count} alternatives matched: {summary}")


class _Not(_Node):
    __slots__ = ("child",)

    def __init__(self, path: str, child: _Node) -> None:
        self.path, self.child = path, child
        inner = child.test
        self.test = lambda f: not inner(f)

    def explain(self, facts: Facts) -> Explanation:
        outcome = self.child.explain(facts)
        if outcome.matched:
            return Explanation(False, self.path, f"must not match, but does: {outcome.reason}")
        return Explanation(True, self.path, f"does not match, as required: {outcome.reason}")


def _build(
    node: dict[str, Any], path: str, payload_fields: Mapping[str, str] | None, used: set[str]
) -> _Node:
    if not node:  # the root {}: no conditions
        return _All(path, [])
    if "all" in node or "any" in node:
        kind = "all" if "all" in node else "any"
        children = [
            _build(child, _child(path, f"{kind}[{index}]"), payload_fields, used)
            for index, child in enumerate(node[kind])
        ]
        return _All(path, children) if kind == "all" else _Any(path, children)
    if "not" in node:
        return _Not(path, _build(node["not"], _child(path, "not"), payload_fields, used))
    spec = resolve_field(node["field"], payload_fields)
    assert spec is not None  # validated
    used.add(spec.name)
    return _Leaf(path, spec, node["op"], node["value"])


# --- guards: what a rule index can look up --------------------------------------------------

SCALAR, ELEMENTS = "scalar", "elements"


@dataclass(frozen=True, slots=True)
class Guard:
    """A necessary condition of a predicate that a hash lookup can decide: the predicate can
    only match facts where the field's value (SCALAR) or one of its elements (ELEMENTS, for a
    string set such as lines.sku) is one of `keys`. Rule indexes file rules under their keys,
    so an event only meets the rules its values name (see evaluator.RuleIndex)."""

    field: str
    type: str
    getter: Callable[[Facts], Any]
    mode: str  # SCALAR | ELEMENTS
    keys: frozenset[Any]

    @property
    def slot(self) -> tuple[str, str, str]:
        """Guards with the same slot read the same value and can share one lookup table."""
        return (self.field, self.type, self.mode)


def _leaf_guard(leaf: "_Leaf") -> Guard | None:
    spec, op, value = leaf.spec, leaf.op, leaf.value
    if spec.type == STRING_SET:
        if op == "contains":
            keys = frozenset([value])
        elif op == "contains_any":
            keys = frozenset(value)
        elif op == "contains_all":  # any one wanted element is necessary: the first will do
            keys = frozenset([sorted(value)[0]])
        else:
            return None
        return Guard(spec.name, spec.type, spec.getter, ELEMENTS, keys)
    if op == "eq":
        return Guard(spec.name, spec.type, spec.getter, SCALAR, frozenset([value]))
    if op == "in" and spec.type != BOOLEAN:
        return Guard(spec.name, spec.type, spec.getter, SCALAR, frozenset(value))
    return None


def _guards(node: "_Node") -> list[Guard]:
    """Every guard implied by `node`: its own if it is a leaf, each conjunct's in an `all`,
    and for an `any` whose alternatives all guard the same slot, the union of their keys."""
    if isinstance(node, _Leaf):
        guard = _leaf_guard(node)
        return [guard] if guard is not None else []
    if isinstance(node, _All):
        return [guard for child in node.children for guard in _guards(child)]
    if isinstance(node, _Any):
        alternatives = [_guards(child) for child in node.children]
        shared = None
        for found in alternatives:
            slots = {guard.slot: guard for guard in found}
            shared = slots if shared is None else {s: shared[s] for s in shared if s in slots}
            if not shared:
                return []
        guards = []
        for slot, first in (shared or {}).items():
            keys = frozenset().union(
                *(guard.keys for found in alternatives for guard in found if guard.slot == slot)
            )
            guards.append(Guard(first.field, first.type, first.getter, first.mode, keys))
        return guards
    return []  # a `not` implies no positive key


def _selectivity(guard: Guard) -> tuple[int, int]:
    # A boolean splits events in two at best; any other field with few keys is sharper.
    return (guard.type == BOOLEAN, len(guard.keys))


class Predicate:
    """A compiled condition. Call it with Facts; `test` is the bare closure for hot loops."""

    __slots__ = ("_root", "fields", "guard", "test")

    def __init__(self, root: _Node, fields: frozenset[str]) -> None:
        self._root = root
        self.test: Test = root.test
        self.fields = fields  # names of the fields the condition reads
        # The sharpest necessary lookup, if any (None: the rule must be tried on every event).
        self.guard: Guard | None = min(_guards(root), key=_selectivity, default=None)

    def __call__(self, facts: Facts) -> bool:
        return self.test(facts)

    def explain(self, facts: Facts) -> Explanation:
        """Whether `facts` match and, if not, where and why (see Explanation)."""
        return self._root.explain(facts)

    def __repr__(self) -> str:
        return f"<Predicate over {', '.join(sorted(self.fields)) or 'nothing'}>"


def compile_condition(tree: Any, *, payload_fields: Mapping[str, str] | None = None) -> Predicate:
    """Validate `tree` (raising InvalidCondition) and compile it to a Predicate."""
    validate_condition(tree, payload_fields=payload_fields)
    used: set[str] = set()
    root = _build(tree, "", payload_fields, used)
    return Predicate(root, frozenset(used))
