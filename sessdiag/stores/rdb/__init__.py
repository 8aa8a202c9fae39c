"""Redis dump files (RDB, versions 1–12) as a store: a streaming parser and a backend.

`parser` reads a dump as a stream of records (key, type, absolute expiry, the value only as far
as the caller asks for it), `encodings` decodes the compact blobs (listpack, ziplist, intset,
zipmap), `reader` the length/string/LZF primitives over a buffered stream. `store` and `scan`
feed the records to the same analysis the live Redis scan uses (sessdiag.stores.redis).
"""
