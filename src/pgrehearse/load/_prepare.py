"""Scenario transactions (SQL or pgbench scripts) into prepared-statement form."""

from __future__ import annotations

from pydantic import TypeAdapter

from pgrehearse.load._pgbench import parse_pgbench
from pgrehearse.load._runner import PreparedTransaction
from pgrehearse.load._sql import positional
from pgrehearse.scenario import ColumnSpec, LoadSpec

_PARAM = TypeAdapter(ColumnSpec)


def prepare_transactions(spec: LoadSpec) -> list[PreparedTransaction]:
    """Raises ValueError (naming the transaction) for a parameter without a generator, and
    PgbenchScriptError for a script it cannot read."""
    prepared = []
    for tx in spec.transactions:
        params = dict(tx.params)
        texts = tx.statements
        if tx.pgbench is not None:
            script = parse_pgbench(tx.pgbench)
            texts = script.statements
            for name, generator in script.params.items():
                params.setdefault(name, _PARAM.validate_python(generator))
        statements = [positional(text) for text in texts]
        used = {name for _, names in statements for name in names}
        missing = sorted(used - set(params))
        if missing:
            raise ValueError(
                f"load transaction {tx.name!r} uses :{', :'.join(missing)} without a generator "
                "under params"
            )
        prepared.append(
            PreparedTransaction(tx.name, tx.weight, statements, params, tx.after == "up")
        )
    return prepared
