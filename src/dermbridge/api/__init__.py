"""The REST API's framework and its URL map (docs/api.md, docs/adr/0010-boundaries.md).

- `schema`: the error answer's shape and the documented error responses, id parameters;
- `views`: the base JSON view, pagination, the JSON 404 for unknown addresses;
- `errors`: the exception handler (settings.REST_FRAMEWORK["EXCEPTION_HANDLER"]) and the
  record of refused requests in the audit trail;
- `urls`: the /api/ URL map, assembled from each app's own `api_urls`.

`schema` and `views` import no app (the lowest layer), so every app's API module may use them;
`errors` uses only the audit trail; `urls` imports every app and sits above them all.
"""
