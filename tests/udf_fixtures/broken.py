"""A module whose import raises."""

raise RuntimeError("this module is broken on purpose")
