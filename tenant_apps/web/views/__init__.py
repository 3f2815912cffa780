"""The members' pages. Thin like the API views: parse with a form, call a selector or a service, render.

Every page needs a signed-in member of the organization being served (sessions live in that organization's
schema, so another organization's session is unknown here). Writes need the rep role or higher, and on leads
the same ownership rule as the API (selectors.lead_for_write). A write answers a plain form post with a
redirect and a flash message, and a script's post (header `X-Requested-With: fetch`) with JSON: the message,
and the re-rendered row or card when one was asked for."""
