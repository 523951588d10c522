"""Business operations. They flush; the request commits once (see `server.api`)."""
