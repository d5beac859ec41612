"""The compliance officer's page at /ui: a static, lightly scripted page over the public API.

No server-side rendering and no API of its own: the page calls the same /v1 routes an order
system calls, with the officer's key, so it can do exactly what that key's scopes allow.
"""
