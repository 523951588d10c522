"""Marshmallow schemas: request bodies (`XCreateSchema`, `XUpdateSchema`) and responses."""
