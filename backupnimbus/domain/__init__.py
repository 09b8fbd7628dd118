"""Pure use cases: the standard library, attrs and the ports, nothing else."""

from __future__ import annotations
