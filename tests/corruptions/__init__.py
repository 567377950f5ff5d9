"""Tests of harness.corruptions (a package so that test module names cannot collide)."""
