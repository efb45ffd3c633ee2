"""The OAuth2 client-credentials token endpoint."""

import base64
from urllib.parse import parse_qs

from .messages import Response
from .platforms import PLATFORMS


def token_endpoint(state, request):
    ctype = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        return Response(400, {"error": "invalid_request", "error_description": "use a form-encoded body"})
    try:
        form = {k: v[0] for k, v in parse_qs(request.body.decode(), strict_parsing=False).items()}
    except UnicodeDecodeError:
        return Response(400, {"error": "invalid_request", "error_description": "the body is not UTF-8"})
    if form.get("grant_type") != "client_credentials":
        return Response(400, {"error": "unsupported_grant_type", "error_description": "grant_type must be client_credentials"})
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    basic = request.headers.get("Authorization") or ""
    if basic.lower().startswith("basic "):
        try:
            client_id, _, client_secret = base64.b64decode(basic[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return Response(400, {"error": "invalid_request", "error_description": "malformed Basic credentials"})
    if not state.check_credentials(client_id, client_secret):
        return Response(401, {"error": "invalid_client", "error_description": "unknown client or wrong secret"},
                        {"WWW-Authenticate": 'Basic realm="timeback-sandbox"'})
    required = PLATFORMS[state.platform]["scope"]
    if required:
        asked = (form.get("scope") or "").split()
        if asked != [required]:
            description = f"scope must be {required!r}, not {' '.join(asked) or 'missing'}"
            state.reject("token", request.method, request.path, [description])  # never the body: it holds the secret
            return Response(400, {"error": "invalid_scope", "error_description": description})
    token, ttl = state.issue_token()
    return Response(200, {"access_token": token, "expires_in": ttl, "token_type": "Bearer"})
