"""Follifoot Test Primary's own recording-quality words, added through the lint hook."""

from cpoms_kit.hookspecs import hookimpl
from cpoms_kit.policy.lint import WordList


@hookimpl
def cpoms_register_lint_checks(register):
    register(WordList(
        id="follifoot:opinion",
        extends="opinion",
        entries=(
            "unkempt | judgement: describe the clothes, hair and hygiene you saw",
            "scruffy | judgement: describe the clothes, hair and hygiene you saw",
        ),
        description="Words our DSL marks as judgement",
    ))
