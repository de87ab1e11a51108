"""A server on every core: one app process per core behind nginx, their runs in Redis.

Python's interpreter lock holds one server process to about one core of training and frames.
`BACKPROP_WORKERS=N` (or `auto`) starts N such processes on private unix sockets, nginx on the
public port routing each run to one of them by its session id (the shipped
deploy/nginx/backprop.conf), and Redis as their shared store, unless BACKPROP_STORE_URL names
one. Existing engines do the balancing and the storing; this package only starts, watches and
stops them.
"""
