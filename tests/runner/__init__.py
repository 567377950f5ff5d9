"""Tests of harness.runner (a package so module names never collide with other test folders)."""
