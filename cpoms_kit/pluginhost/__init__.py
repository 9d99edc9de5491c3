"""The kit's side of the plugin system: `manager` builds the pluggy plugin manager (built-in plugins,
installed ones, a school's local `plugins/*.py`); `registry` collects what each `cpoms_register_*`
hook registers, refusing duplicates; `contracts` types what plugins provide, with the defaults of
their optional members; `hooks` is the typed access the kit uses (`store.hooks.rules`). The hook
specs themselves are `cpoms_kit.hookspecs`; the built-in plugins live in the top-level `plugins/`
folder, installed as `cpoms_kit_plugins`."""
