"""One module per area of the site; each has `pages` (HTML) and `api` (the same data as JSON under /api)."""
