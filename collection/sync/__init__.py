"""Anki's sync protocol on a collection: what ``meta`` reports, and full sync (a
download of our schema-11 file, an upload of the client's schema-18 file converted
to schema 11)."""
