"""What can be wrong with an uploaded package; ``api/errors.py`` maps each onto HTTP.

An upload is untrusted: each of these means the package was refused before anything
was written to the learner's collection.
"""

from __future__ import annotations

from collection.errors import CollectionError


class NotAPackage(CollectionError):
    """Not a zip file, or a zip without an Anki collection in it (415)."""

    code = "not_a_package"


class PackageTooLarge(CollectionError):
    """The package unpacks to more bytes, or holds more files, than allowed (413)."""

    code = "package_too_large"


class MalformedPackage(CollectionError):
    """The package is damaged or unsafe: bad zip entries, a corrupt or hostile
    database, or data Anki would not have written (422)."""

    code = "package_malformed"
