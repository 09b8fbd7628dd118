"""Entrypoints: the CLI, the Lambda handler, the demo, and the composition root they share.

May import: everything below them (domain, ports, adapters, errors, redaction) and the edge
libraries: argparse, punq, cattrs, python-json-logger.

Must not be imported by: the domain, the ports or the adapters. The rooms depend inward only;
this is the one place where configuration is read, adapters are chosen and wired to use cases,
and results and errors are rendered for a person, a pipe or Lambda.
"""

from __future__ import annotations
