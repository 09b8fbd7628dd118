"""Adapters: the ports, implemented against real services, and in-memory fakes for tests.

May import: the ports, `backupnimbus.errors`, `backupnimbus.stop_signal`,
`backupnimbus.redaction`, `backupnimbus.conversion` (base64), the domain's models and pure
helpers (an adapter speaks the domain's language), the helpers adapters share (retrying,
tool_config, stream_pump, the AWS error classification), the standard library and the
libraries of the service it wraps (boto3, pyrage, isal, zstandard, tqdm for progress bars,
...). Heavy libraries are imported where they are used, so that a command pays only for
what it touches.

Must not import: entrypoints (configuration, the container, the CLI). An adapter raises
`BackupNimbusError` subclasses, never a library's own exception, and takes its settings as
arguments from the composition root.
"""

from __future__ import annotations
