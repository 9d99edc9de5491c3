"""cpoms-kit's built-in plugins: the school's policy as defaults (installed as `cpoms_kit_plugins`).

Each module is registered through the `cpoms_kit` entry-point group, exactly as a third-party
plugin is, so a school can switch any of them off (`[plugins] disabled` in cpoms.toml) or override
what they register.
"""
