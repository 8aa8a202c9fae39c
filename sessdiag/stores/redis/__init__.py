"""Redis session stores: targets, a read-only RESP client, the keyspace scan, profiles."""
