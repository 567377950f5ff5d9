"""Tests of harness.scenarios (a package so module names never collide with other test folders)."""
