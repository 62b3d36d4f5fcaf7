"""Prepared reads of one row and the rows its foreign keys lead to, for the hottest pages.

`select_related(...).get(...)` builds and compiles its SQL on every call: for a photo request
that was a third of the server's CPU (docs/benchmarks/view-cost.json). `read_one` builds the
statement and each column's converters once per process and database (from the models'
fields, the ORM's own converters), then per call runs it and makes the model instances with
`Model.from_db`, the related ones cached on their parents as `select_related` would cache them.
The result is the same objects with the same field values as the ORM query
(core/tests/test_rows.py compares every field). `read_values` does the same for a
`filter(...).values_list(...)` by one field, and `read_prepared` evaluates any plain model
queryset (select_related and annotations included) from SQL compiled once per caller's key.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.exceptions import EmptyResultSet
from django.db import connections, models
from django.db.models.query import ModelIterable, ValuesListIterable, get_related_populators

M = TypeVar("M", bound=models.Model)

Converter = Callable[[Any, Any, Any], Any]


@dataclass(frozen=True)
class _Part:
    model: type[models.Model]
    attnames: list[str]
    converters: list[tuple[int, list[Converter], Any]]  # (column index in the part, fns, col)
    start: int
    end: int
    parent_field: models.ForeignKey[Any, Any] | None  # the field of the previous part to here


@dataclass(frozen=True)
class _Prepared:
    sql: str
    parts: list[_Part]
    where: Any  # the unique field


def read_one(
    model: type[M], follow: tuple[str, ...], field: str, value: Any, *, using: str = "default"
) -> M | None:
    """The `model` row whose unique `field` is `value` (None if there is none), with the rows
    reached through the non-null foreign keys `follow` (each a field of the previous model:
    ``("lesion", "referral")``) read in the same statement and cached on their parents."""
    connection = connections[using]
    prepared = _prepare(model, follow, field, using, connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(prepared.sql, [prepared.where.get_db_prep_value(value, connection)])
        row = cursor.fetchone()
    if row is None:
        return None
    objects: list[models.Model] = []
    for part in prepared.parts:
        values = list(row[part.start : part.end])
        for index, converters, col in part.converters:
            for convert in converters:
                values[index] = convert(values[index], col, connection)
        obj = part.model.from_db(using, part.attnames, values)
        if part.parent_field is not None:
            part.parent_field.set_cached_value(objects[-1], obj)
        objects.append(obj)
    return objects[0]  # type: ignore[return-value]


@functools.cache
def _prepare(
    model: type[models.Model], follow: tuple[str, ...], field: str, using: str, vendor: str
) -> _Prepared:
    connection = connections[using]
    quote = connection.ops.quote_name
    where = model._meta.get_field(field)
    if not getattr(where, "unique", False):
        raise ValueError(f"{model.__name__}.{field} is not unique: read_one reads one row.")
    models_: list[tuple[type[models.Model], models.ForeignKey[Any, Any] | None]] = [(model, None)]
    for name in follow:
        step = models_[-1][0]._meta.get_field(name)
        if not isinstance(step, models.ForeignKey) or step.null:
            raise ValueError(f"{name} is not a non-null foreign key: read_one follows those.")
        models_.append((step.related_model, step))  # type: ignore[arg-type]
    columns: list[str] = []
    joins: list[str] = []
    parts: list[_Part] = []
    for n, (part_model, fk) in enumerate(models_):
        alias = f"t{n}"
        fields = list(part_model._meta.concrete_fields)
        converters = []
        for i, f in enumerate(fields):
            col = f.get_col(alias)
            fns = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            if fns:
                converters.append((i, fns, col))
        start = len(columns)
        columns += [f"{alias}.{quote(str(f.column))}" for f in fields]
        parts.append(
            _Part(part_model, [f.attname for f in fields], converters, start, len(columns), fk)
        )
        table = f"{quote(part_model._meta.db_table)} {alias}"
        if fk is None:
            joins.append(table)
        else:
            target, source = str(fk.target_field.column), str(fk.column)
            joins.append(
                f"INNER JOIN {table} ON ({alias}.{quote(target)} = t{n - 1}.{quote(source)})"
            )
    sql = (
        f"SELECT {', '.join(columns)} FROM {' '.join(joins)} "  # noqa: S608 - names from models
        f"WHERE t0.{quote(str(where.column))} = %s"  # type: ignore[union-attr]
    )
    return _Prepared(sql, parts, where)


def read_values(
    model: type[models.Model],
    fields: tuple[str, ...],
    field: str,
    value: Any,
    *,
    using: str = "default",
) -> list[tuple[Any, ...]]:
    """``model.objects.filter(<field>=value).values_list(*fields)`` as a list, from a statement
    prepared once per process and database (no ordering: the rows come in the database's
    order, as the unordered query's do)."""
    connection = connections[using]
    sql, where, converters = _prepare_values(model, fields, field, using, connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [where.get_db_prep_value(value, connection)])
        rows = cursor.fetchall()
    if not converters:
        return [tuple(row) for row in rows]
    result = []
    for row in rows:
        values = list(row)
        for index, fns, col in converters:
            for convert in fns:
                values[index] = convert(values[index], col, connection)
        result.append(tuple(values))
    return result


@functools.cache
def _prepare_values(
    model: type[models.Model], fields: tuple[str, ...], field: str, using: str, vendor: str
) -> tuple[str, Any, list[tuple[int, list[Converter], Any]]]:
    connection = connections[using]
    quote = connection.ops.quote_name
    where = model._meta.get_field(field)
    chosen = [model._meta.get_field(name) for name in fields]
    converters = []
    for i, f in enumerate(chosen):
        col = f.get_col("t0")  # type: ignore[union-attr]
        fns = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if fns:
            converters.append((i, fns, col))
    columns = ", ".join(f"t0.{quote(str(f.column))}" for f in chosen)  # type: ignore[union-attr]
    sql = (
        f"SELECT {columns} FROM {quote(model._meta.db_table)} t0 "  # noqa: S608 - model names
        f"WHERE t0.{quote(str(where.column))} = %s"  # type: ignore[union-attr]
    )
    return sql, where, converters


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    model: type[models.Model] | None  # None: a values_list() query
    init_list: list[str]
    start: int
    end: int
    populators: list[Any]
    converters: dict[int, tuple[list[Converter], Any]]
    annotations: dict[str, int]


_compiled: OrderedDict[tuple[Any, ...], _Compiled] = OrderedDict()
_compiled_lock = threading.Lock()
COMPILED_KEPT = 256


def _entry(
    key: tuple[Any, ...], make: Callable[..., models.QuerySet[Any]], args: tuple[Any, ...], db: str
) -> _Compiled | None:
    """The compiled statement for `key` (compiled now from ``make(*args)`` if not kept); None
    when the query can match nothing (EmptyResultSet). With `args`, the statement's parameters
    must be exactly `args`, in order: checked when compiled (a ValueError otherwise), so that a
    later call may run the same statement with its own `args`."""
    connection = connections[db]
    full_key = (key, db, connection.vendor, len(args))
    entry = _compiled.get(full_key)
    if entry is None:
        queryset = make(*args).using(db)
        try:
            entry = _compile(queryset, db)
        except EmptyResultSet:
            return None
        if args and entry.params != tuple(args):
            raise ValueError(
                f"read_prepared {key}: the query's parameters {entry.params!r} are not the "
                f"arguments {tuple(args)!r} (filter on each argument, in order, and nothing else)."
            )
        with _compiled_lock:
            _compiled[full_key] = entry
            while len(_compiled) > COMPILED_KEPT:
                _compiled.popitem(last=False)
    return entry


def read_prepared(
    key: tuple[Any, ...],
    make: Callable[..., models.QuerySet[M]],
    *,
    args: tuple[Any, ...] = (),
    using: str = "default",
) -> list[M]:
    """`list(make(*args))` with the queryset built and its SQL compiled once per process for
    `key`, which must determine the query entirely: without `args`, its parameters too (never a
    clock reading or anything else that changes between calls); with `args`, the statement's
    parameters are exactly `args` (``make`` filters on each, in order; checked when compiled),
    and each call runs the kept statement with its own. The objects are made as the ORM makes
    them (its own converters, `from_db`, the related rows of `select_related`, the annotations
    set on each); the newest `COMPILED_KEPT` statements are kept."""
    db = using
    connection = connections[db]
    entry = _entry(key, make, args, db)
    if entry is None:
        return []
    if entry.model is None:
        raise ValueError(f"read_prepared {key}: a values_list() query: use read_prepared_values.")
    with connection.cursor() as cursor:
        cursor.execute(entry.sql, tuple(args) if args else entry.params)
        rows = cursor.fetchall()
    objects: list[M] = []
    for fetched in rows:
        row = list(fetched)
        for position, (fns, expression) in entry.converters.items():
            value = row[position]
            for convert in fns:
                value = convert(value, expression, connection)
            row[position] = value
        obj = entry.model.from_db(db, entry.init_list, row[entry.start : entry.end])
        for populator in entry.populators:
            populator.populate(row, obj)
        for name, position in entry.annotations.items():
            setattr(obj, name, row[position])
        objects.append(obj)  # type: ignore[arg-type]
    return objects


def read_prepared_values(
    key: tuple[Any, ...],
    make: Callable[..., models.QuerySet[Any]],
    *,
    args: tuple[Any, ...] = (),
    using: str = "default",
) -> list[tuple[Any, ...]]:
    """`list(make(*args))` for a ``values_list(...)`` queryset (not flat, no expressions),
    compiled once per process for `key` as `read_prepared`: a list of tuples, each value
    passed through the ORM's converters."""
    db = using
    connection = connections[db]
    entry = _entry(key, make, args, db)
    if entry is None:
        return []
    if entry.model is not None:
        raise ValueError(f"read_prepared_values {key}: not a values_list() query.")
    with connection.cursor() as cursor:
        cursor.execute(entry.sql, tuple(args) if args else entry.params)
        rows = cursor.fetchall()
    if not entry.converters:
        return [tuple(row[: entry.end]) for row in rows]
    result = []
    for fetched in rows:
        row = list(fetched[: entry.end])
        for position, (fns, expression) in entry.converters.items():
            value = row[position]
            for convert in fns:
                value = convert(value, expression, connection)
            row[position] = value
        result.append(tuple(row))
    return result


def _compile(queryset: models.QuerySet[Any], db: str) -> _Compiled:
    """What Django's ModelIterable (or ValuesListIterable) works out on each evaluation, worked
    out once."""
    if queryset._prefetch_related_lookups or queryset._known_related_objects:  # type: ignore[attr-defined]
        raise ValueError("read_prepared reads plain model querysets (no prefetch_related).")
    if queryset._iterable_class is ValuesListIterable:  # type: ignore[attr-defined]
        compiler = queryset.query.get_compiler(using=db)
        sql, params = compiler.as_sql()
        query = queryset.query
        names = [*query.extra_select, *query.values_select, *query.annotation_select]
        if list(queryset._fields or names) != names:  # type: ignore[attr-defined]
            # ValuesListIterable would reorder the columns (annotations named among fields).
            raise ValueError("read_prepared_values reads columns in their select order.")
        select = compiler.select
        return _Compiled(
            sql=sql,
            params=tuple(params),
            model=None,
            init_list=[],
            start=0,
            end=compiler.col_count,
            populators=[],
            converters=compiler.get_converters([s[0] for s in select[0 : compiler.col_count]]),
            annotations={},
        )
    if queryset._iterable_class is not ModelIterable:
        raise ValueError("read_prepared reads model instances (not values() or values_list()).")
    compiler = queryset.query.get_compiler(using=db)
    sql, params = compiler.as_sql()
    select, klass_info = compiler.select, compiler.klass_info
    fields = klass_info["select_fields"]  # type: ignore[index]
    start, end = fields[0], fields[-1] + 1
    return _Compiled(
        sql=sql,
        params=tuple(params),
        model=klass_info["model"],  # type: ignore[index]
        init_list=[f[0].target.attname for f in select[start:end]],
        start=start,
        end=end,
        populators=get_related_populators(klass_info, select, db),  # type: ignore[call-arg]
        converters=compiler.get_converters([s[0] for s in select[0 : compiler.col_count]]),
        annotations=dict(compiler.annotation_col_map or {}),
    )
