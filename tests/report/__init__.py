"""Tests of harness.report (a package so module names never collide with other test folders)."""
