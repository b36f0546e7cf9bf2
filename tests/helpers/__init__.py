"""Builders shared by the test modules (real git repositories, fixture projects)."""
