"""Adapters: the ports, implemented against real services, and in-memory fakes for tests."""

from __future__ import annotations
