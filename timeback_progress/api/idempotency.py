"""``Idempotency-Key`` for API writes: a retried request gets the first response.

The first successful (2xx) response to a key is stored in ``IdempotencyRecord``
in the same transaction as the write it describes, so either both exist or
neither does. A retry with the same key and the same request (method, path and
JSON body) gets that response back with ``Idempotent-Replayed: true`` and
changes nothing; the same key with a different request is a 422. Failed
requests store nothing: the client may fix the request and reuse the key.
Keys are scoped to the user.

A retry is answered from the stored response before any work runs, except
where the work itself refuses a repeat before writing anything: completing
an attempt checks "already completed" under the row lock first, so that
endpoint skips the lookup (a round trip on every first try, which most
keyed requests are) and looks the response up when the write is refused.
Either way a write that fails inside its transaction is rolled back and
then checked against the stored response: a concurrent twin's record
collides on the (user, key) unique constraint.
"""

import hashlib
import json

from django.db import transaction
from django.utils.translation import gettext, gettext_lazy
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from ..gradebook.locking import db_for_write
from ..models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255


class KeyReused(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = gettext_lazy(
        "This Idempotency-Key was already used for a different request; use a new key for a new request."
    )
    default_code = "idempotency_key_reused"


def get_key(request):
    """The request's key, None without one; a malformed key is a 400."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise ValidationError({HEADER: [gettext("Use 1 to %(maximum)d printable ASCII characters.") % {"maximum": MAX_KEY_LENGTH}]})
    return key


def _path(request):
    return request.path[: IdempotencyRecord._meta.get_field("path").max_length]


def request_hash(request):
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method}\n{request.path}\n{body}".encode()).hexdigest()


def _replay(record, digest, request):
    if record.request_hash != digest or record.method != request.method or record.path != _path(request):
        raise KeyReused()
    response = Response(record.response_body, status=record.response_status)
    response[REPLAYED_HEADER] = "true"
    return response


def _lookup(request, key):
    return IdempotencyRecord.objects.using(db_for_write()).filter(user_id=request.user.pk, key=key).first()


def run(request, perform, *, lookup_first=True):
    """Run ``perform()`` -> ``(status, data)`` in one transaction, at most once per key.

    Errors raised by ``perform`` roll the whole write back. Without a key the
    write still runs atomically, it just is not remembered.
    ``lookup_first=False``: only for a ``perform`` that refuses a repeat of a
    successful request before it writes or sends a signal (see above).
    """
    key = get_key(request)
    using = db_for_write()  # the gradebook's database: the record commits with the write
    if key is None:
        with transaction.atomic(using=using):
            code, data = perform()
        return Response(data, status=code)
    digest = request_hash(request)
    if lookup_first and (record := _lookup(request, key)) is not None:
        return _replay(record, digest, request)
    try:
        with transaction.atomic(using=using):
            code, data = perform()
            body = json.loads(JSONRenderer().render(data))
            # A concurrent twin's record collides here (IntegrityError) and rolls this one back.
            IdempotencyRecord.objects.using(using).create(**dict(
                user=request.user,
                key=key,
                method=request.method,
                path=_path(request),
                request_hash=digest,
                response_status=code,
                response_body=body,
            ))
    except Exception:
        # Rolled back. A concurrent twin of a request that succeeded lands
        # here (its record collided with the stored one, or its work did), as
        # does a retry without lookup_first. Answer with the stored response;
        # else this failure.
        try:
            record = _lookup(request, key)
        except Exception:
            record = None  # (the database itself failing): report the first error
        if record is None:
            raise
        return _replay(record, digest, request)
    return Response(body, status=code)
