"""cpoms-kit: child-protection and welfare records kept in a school's own encrypted git repository.

The code is in layers, each importing only from those beneath it (tests/test_architecture.py holds
it so), lowest first: `errors`; `model` and `hookspecs`; `infra`; `pluginhost`; `store`;
`attachments` (an entry's files and the email it came from); `policy`;
`lifecycle` and `audit`; `machine`; `intake` (`cpoms serve`, the write-only web form); `site`;
`cli`; and `demo` and `__main__` (`python -m cpoms_kit`) on top. The built-in plugins are not here:
they are the top-level `plugins/`, installed as `cpoms_kit_plugins`, and reach the kit only by entry
point."""

__version__ = "0.1.0"
