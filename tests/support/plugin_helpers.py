"""What tests/unit/plugins/test_plugin.py and tests/tf/test_plugin_tf.py share."""

from __future__ import annotations


def outcome(case) -> str:
    for tag in ("failure", "error", "skipped"):
        el = case.find(tag)
        if el is not None:
            if tag == "skipped" and el.get("type") == "pytest.xfail":
                return "xfail"
            return tag
    return "passed"
