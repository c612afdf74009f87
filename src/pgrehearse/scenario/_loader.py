"""Load a scenario YAML file into a `Scenario`, reporting every problem at its file and line."""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from pgrehearse.errors import Problem, ScenarioError
from pgrehearse.psql import PsqlSession, psql_pieces
from pgrehearse.scenario._models import GENERATOR_KEYS, Scenario, SqlSource
from pgrehearse.scenario._schema_source import SchemaSource

SCENARIO_SUFFIXES = (".yaml", ".yml")
# Bounds that keep any input, hostile or mistaken, to a few seconds of work.
MAX_FILE_BYTES = 1 << 20  # scenarios are small; large SQL belongs in the files they name
MAX_EXPANDED_NODES = 100_000  # values the document holds once aliases (*name) are expanded
MAX_PROBLEMS = 20  # problems listed one by one; the rest are counted
_FastLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 10x faster


def _not_sexagesimal(regexp: re.Pattern[str]) -> re.Pattern[str]:
    return re.compile("(?![^:]*:)" + regexp.pattern, regexp.flags)


class _Loader(_FastLoader):  # type: ignore[valid-type, misc]
    """YAML 1.2's numbers: `17:00` stays the text of a time (YAML 1.1 reads it as the
    sexagesimal 1020, and `09:00` as text)."""

    yaml_implicit_resolvers: typing.ClassVar[dict[str, list[tuple[str, re.Pattern[str]]]]] = {
        first: [
            (tag, _not_sexagesimal(regexp) if tag.endswith((":int", ":float")) else regexp)
            for tag, regexp in resolvers
        ]
        for first, resolvers in _FastLoader.yaml_implicit_resolvers.items()
    }


def resolve_scenario_path(path: Path) -> Path:
    """Accept a scenario file, or a folder holding exactly one scenario file."""
    if path.is_dir():
        candidates = sorted(p for p in path.iterdir() if p.suffix in SCENARIO_SUFFIXES)
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise ScenarioError(
                [Problem("the folder holds no scenario file (*.yaml or *.yml)", file=path)]
            )
        names = ", ".join(p.name for p in candidates)
        raise ScenarioError(
            [
                Problem(
                    f"the folder holds several scenario files ({names})",
                    file=path,
                    hint="name the file to rehearse",
                )
            ]
        )
    if not path.exists():
        raise ScenarioError([Problem("no such scenario file or folder", file=path)])
    return path


def scenario_files(path: Path) -> list[Path]:
    """The scenarios `run` rehearses for `path`: a file; a folder holding scenario files;
    or a folder of folders each holding one (`scenarios/`). A single one is resolved as
    `resolve_scenario_path` does, errors included."""
    if path.is_dir():
        direct = sorted(p for p in path.iterdir() if p.suffix in SCENARIO_SUFFIXES)
        if direct:
            return direct
        nested = sorted(
            p
            for folder in path.iterdir()
            if folder.is_dir()
            for p in folder.iterdir()
            if p.suffix in SCENARIO_SUFFIXES
        )
        if nested:
            return nested
    return [resolve_scenario_path(path)]


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (or a folder holding one).

    Raises `ScenarioError` listing each problem with its file, line and a hint.
    """
    file = resolve_scenario_path(Path(path))
    text = _read(file)
    root = _compose(text, file)
    if root is not None:
        _check_expansion(root, file)
    data = _construct(root, file)
    if not isinstance(data, dict):
        raise ScenarioError(
            [
                Problem(
                    "a scenario file must be a YAML mapping (keys such as version, name, "
                    "schema, migration)",
                    file=file,
                    line=_line(root) if root is not None else None,
                )
            ]
        )
    try:
        scenario = Scenario.model_validate(data, context={"base_dir": file.parent, "path": file})
    except ValidationError as exc:
        assert root is not None
        raise ScenarioError(_problems(exc, root, file), total=exc.error_count()) from None

    assert root is not None
    scenario._path = file
    scenario._lines = dict(_key_lines(root, ()))
    _check_refs(scenario, file)
    _anchor_inline_sql(scenario, root, file)
    _check_psql_commands(scenario)
    return scenario


def _check_psql_commands(scenario: Scenario) -> None:
    """A migration's psql meta-commands that cannot be rehearsed fail now, naming their
    file and line (`PsqlCommandError`), not after the seed."""
    migration = scenario.migration
    scripts: list[tuple[str, Path | None, int, tuple[tuple[str, str], ...]]] = [
        (source.text, source.origin, source.first_line, source.variables)
        for source in (migration.up, migration.down, migration.between)
        if source is not None
    ]
    chain = migration.chain
    if chain is not None:
        scripts += [
            (script.text, script.file, script.first_line, script.variables)
            for step in chain.baseline + chain.pending
            for script in (step.up, step.down, step.verify)
            if script is not None
        ]
    for text, origin, first_line, variables in scripts:
        if "\\" in text:
            psql_pieces(text, origin, first_line, PsqlSession(dict(variables)))


def _check_refs(scenario: Scenario, file: Path) -> None:
    """Every `ref` names a seeded table; the error points at the ref itself."""
    data = scenario.data
    problems = [
        Problem(
            f"data.tables.{table}.columns.{column}: refers to {ref}, but table "
            f"{ref.split('.')[0]!r} is not under data.tables (seeded tables: "
            f"{', '.join(data.tables) or 'none'})",
            file=file,
            line=scenario.line_of("data", "tables", table, "columns", column, "ref"),
            hint="seed that table too, or use another generator for this column",
        )
        for table, column, ref in data.unseeded_refs()
    ]
    if problems:
        raise ScenarioError(_capped(problems, len(problems)), total=len(problems))


# --------------------------------------------------------------------------- YAML with marks


def _read(file: Path) -> str:
    try:
        size = file.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ScenarioError(
                [
                    Problem(
                        f"the file is {size / 1e6:,.1f} MB; scenario files are limited to "
                        f"{MAX_FILE_BYTES / 1e6:.1f} MB",
                        file=file,
                        hint="put long SQL in files the scenario names (schema: schema.sql)",
                    )
                ]
            )
        raw = file.read_bytes()
    except OSError as exc:
        raise ScenarioError([Problem(f"cannot read the file: {exc}", file=file)]) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ScenarioError(
            [
                Problem(
                    f"not UTF-8 text (byte {exc.start} is {raw[exc.start]:#04x}): is this a "
                    "scenario file?",
                    file=file,
                    line=line,
                    hint="a scenario is a YAML text file saved as UTF-8",
                )
            ]
        ) from None


def _check_expansion(root: yaml.Node, file: Path) -> None:
    """Refuse documents whose aliases expand to more values than any scenario needs (a
    "billion laughs" document is small on disk and astronomically large expanded)."""
    sizes: dict[int, int] = {}

    def expanded(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        sizes[id(node)] = 1  # a cycle counts once
        total = 1
        if isinstance(node, yaml.MappingNode):
            total += sum(expanded(k) + expanded(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(expanded(item) for item in node.value)
        sizes[id(node)] = min(total, MAX_EXPANDED_NODES + 1)
        return sizes[id(node)]

    if expanded(root) > MAX_EXPANDED_NODES:
        raise ScenarioError(
            [
                Problem(
                    f"the YAML holds more than {MAX_EXPANDED_NODES:,} values once its aliases "
                    "(*name) are expanded",
                    file=file,
                    hint="a scenario never needs that many; write the values out or use fewer "
                    "nested aliases",
                )
            ]
        )


def _compose(text: str, file: Path) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = f"invalid YAML: {exc.problem or exc.context}"
        raise ScenarioError(
            [Problem(message, file=file, line=line, hint="check indentation and quoting")]
        ) from None
    except yaml.YAMLError as exc:
        raise ScenarioError([Problem(f"invalid YAML: {exc}", file=file)]) from None


def _construct(root: yaml.Node | None, file: Path) -> Any:
    if root is None:
        raise ScenarioError([Problem("the scenario file is empty", file=file)])
    duplicates = list(_duplicate_keys(root))
    if duplicates:
        raise ScenarioError(
            _capped(
                [
                    Problem(f"key {key!r} appears twice in the same mapping", file=file, line=line)
                    for key, line in duplicates
                ],
                len(duplicates),
            ),
            total=len(duplicates),
        )
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise ScenarioError(
            [
                Problem(
                    f"invalid YAML value: {exc.problem}",
                    file=file,
                    line=mark.line + 1 if mark else None,
                )
            ]
        ) from None
    finally:
        loader.dispose()


def _duplicate_keys(node: yaml.Node) -> Iterator[tuple[str, int]]:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                yield key, _line(key_node)
            seen.add(key)
            yield from _duplicate_keys(value_node)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _duplicate_keys(item)


def _key_lines(node: yaml.Node, prefix: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], int]]:
    """Every mapping key path in the document with the line of its key."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = (*prefix, str(key_node.value))
            yield path, _line(key_node)
            yield from _key_lines(value_node, path)


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _find_node(root: yaml.Node, loc: Sequence[int | str]) -> tuple[yaml.Node | None, yaml.Node]:
    """Follow a pydantic error location through the YAML tree.

    Returns the key node of the last location part when it named a mapping key (where an
    unknown key should point) and the deepest value node reached. Location parts that do
    not exist in the YAML (union tags, model names) are skipped.
    """
    node = root
    key: yaml.Node | None = None
    for part in loc:
        key = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if str(key_node.value) == str(part):
                    key, node = key_node, value_node
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and (0 <= part < len(node.value))
        ):
            node = node.value[part]
    return key, node


# --------------------------------------------------------------------------- error mapping


def _capped(problems: list[Problem], total: int) -> list[Problem]:
    """At most MAX_PROBLEMS problems, then one line counting the rest."""
    shown = problems[:MAX_PROBLEMS]
    if total > len(shown):
        shown.append(Problem(f"… and {total - len(shown):,} more"))
    return shown


def _problems(exc: ValidationError, root: yaml.Node, file: Path) -> list[Problem]:
    problems: list[Problem] = []
    errors = exc.errors(include_url=False)
    for error in errors[:MAX_PROBLEMS]:
        loc = tuple(error["loc"])
        key_node, value_node = _find_node(root, loc)
        node = key_node if key_node is not None else value_node
        where = ".".join(str(part) for part in _visible_loc(root, loc)) or "(top level)"
        kind = error["type"]
        hint: str | None = None
        if kind == "extra_forbidden":
            key = str(loc[-1])
            allowed = _allowed_keys(loc[:-1])
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.5)
            message = f"unknown key {key!r}"
            if where and "." in where:
                message += f" in {where.rsplit('.', 1)[0]}"
            if close:
                hint = f"did you mean {close[0]!r}? valid keys: {', '.join(sorted(allowed))}"
            elif allowed:
                hint = f"valid keys: {', '.join(sorted(allowed))}"
        elif kind == "missing":
            message = f"missing required key {where!r}"
            allowed = _allowed_keys(loc[:-1])
            if allowed:
                hint = f"keys at this level: {', '.join(sorted(allowed))}"
        elif kind == "generator_kind":
            message = f"{where}: {error['msg']}"
            value = error.get("input")
            if isinstance(value, dict):
                keys = [str(k) for k in value if k != "null_fraction"]
                guesses = [
                    match
                    for k in keys
                    for match in difflib.get_close_matches(k, list(GENERATOR_KEYS), n=1)
                ]
                if guesses:
                    hint = f"did you mean {guesses[0]!r}?"
        else:
            message = f"{where}: {_clean_message(error['msg'])}"
        problems.append(Problem(message, file=file, line=_line(node), hint=hint))
    return _capped(sorted(problems, key=lambda p: p.line or 0), len(errors))


def _clean_message(message: str) -> str:
    return message.removeprefix("Value error, ")


def _visible_loc(root: yaml.Node, loc: Sequence[int | str]) -> list[int | str]:
    """The location without the parts pydantic adds that the user never wrote (union tags)."""
    visible: list[int | str] = []
    node: yaml.Node | None = root
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if str(k.value) == str(part)), None)
            if match is not None:
                visible.append(part)
                node = match
                continue
            if part in GENERATOR_KEYS or part in ("int-str", "function-after"):
                continue
            visible.append(part)
            node = None
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            visible.append(part)
            node = node.value[part] if 0 <= part < len(node.value) else None
        elif node is None or isinstance(node, yaml.ScalarNode):
            if isinstance(part, str) and part in GENERATOR_KEYS:
                continue
            visible.append(part)
    return visible


def _allowed_keys(loc: Sequence[int | str]) -> list[str]:
    """The keys a mapping at `loc` may hold, found by walking the model types."""
    current: Any = Scenario
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = next(
                (f for name, f in current.model_fields.items() if (f.alias or name) == part),
                None,
            )
            if field is None:
                tagged = GENERATOR_KEYS.get(str(part))
                current = tagged if tagged is not None else current
                continue
            current = field.annotation
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        elif typing.get_origin(current) is list:
            current = typing.get_args(current)[0]
        elif isinstance(part, str) and part in GENERATOR_KEYS:
            current = GENERATOR_KEYS[part]
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    if _is_generator_union(current):
        keys: set[str] = set()
        for model in GENERATOR_KEYS.values():
            fields = model.model_fields
            keys.update(f.alias or name for name, f in fields.items())
        return sorted(keys)
    return []


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated / Optional wrappers down to the one interesting type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation


def _is_generator_union(annotation: Any) -> bool:
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return False
    members = {_unwrap(a) for a in typing.get_args(annotation)}
    return members == set(GENERATOR_KEYS.values())


# --------------------------------------------------------------------------- inline SQL lines


def _anchor_inline_sql(scenario: Scenario, root: yaml.Node, file: Path) -> None:
    sources: list[tuple[tuple[str, ...], SqlSource | SchemaSource | None]] = [
        (("schema",), scenario.schema_sql),
        (("migration", "up"), scenario.migration.up),
        (("migration", "down"), scenario.migration.down),
        (("migration", "between"), scenario.migration.between),
    ]
    for loc, source in sources:
        if source is None or source.sql is None:
            continue
        _, node = _find_node(root, loc)
        if isinstance(node, yaml.MappingNode):  # {sql: ...}
            _, node = _find_node(node, ("sql",))
        first_line = _line(node)
        if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
            first_line += 1  # block scalars start on the line after the indicator
        source.locate_inline(file, first_line)
