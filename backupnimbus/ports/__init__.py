"""Ports: the small Protocols the use cases need from the outside world."""

from __future__ import annotations
