"""Anki packages: exporting a collection or deck as `.apkg`, importing `.apkg`/`.colpkg`."""

from collection.apkg.archive import ImportLimits
from collection.apkg.exporter import ExportSummary, export_filename, export_package
from collection.apkg.importer import ImportSummary, import_package

__all__ = [
    "ExportSummary",
    "ImportLimits",
    "ImportSummary",
    "export_filename",
    "export_package",
    "import_package",
]
