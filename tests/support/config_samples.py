"""Configuration values shared by the config tests: a valid minimum and a planted secret."""

from __future__ import annotations

import base64

PLANTED = "planted-Secret-4f1c9a"
"""A secret value that must never appear in any output."""
GOOD = {"MONGO_URI": base64.b64encode(b"mongodb://u:pw@db.example.com:27017/app").decode()}
