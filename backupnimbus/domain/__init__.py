"""The domain: the use cases and the rules they share (archive format, keys, retention).

May import: the standard library; attrs and cattrs; fastcrc and isal, which only compute;
`backupnimbus.ports`, `backupnimbus.errors`, `backupnimbus.stop_signal`,
`backupnimbus.redaction`, `backupnimbus.conversion` (the shared cattrs converter, itself only
attrs and cattrs); and the domain itself.

Must not import: adapters, entrypoints, or any library that reaches a service, a process or
the file system on its own (boto3, pymongo, punq, ...). Everything outside comes in through a
port, so that every use case runs in a unit test with the fakes in adapters/memory.py.
(tests/unit/test_import_rules.py enforces this.)
"""

from __future__ import annotations
