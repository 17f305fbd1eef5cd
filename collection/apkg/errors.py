"""What can be wrong with an uploaded package (defined with the other domain errors, so
the API can map them without loading the package code)."""

from collection.errors import MalformedPackage, NotAPackage, PackageTooLarge

__all__ = ["MalformedPackage", "NotAPackage", "PackageTooLarge"]
