"""Entrypoints: the CLI, the Lambda handler, and the composition root they share."""

from __future__ import annotations
