"""XState v5: export (config JSON, typed TypeScript module, manifest), schema, import."""

from flowcheck.formats.xstate.export import export_config, export_files, shared_files
from flowcheck.formats.xstate.importer import ImportReport, import_config
from flowcheck.formats.xstate.manifest import build_manifest

__all__ = [
    "ImportReport",
    "build_manifest",
    "export_config",
    "export_files",
    "import_config",
    "shared_files",
]
