"""Schemathesis hooks for jetq's contract test (loaded through SCHEMATHESIS_HOOKS).

A JSON Schema cannot say everything the API checks: whether a referenced book exists, whether a
cursor is one the server gave out, whether the server's source policy allows a URL or folder,
whether an idempotency key was used before for another request, or that chunkOverlap must be
smaller than chunkSize. Where the test can, it makes positive cases meet the rule (map_case: the
book it uploaded, no cursor, overlap below size, one idempotency key per request). The refusals
it cannot avoid (the source policy) are the server doing its job, so those, and only those, are
not counted as "schema-valid request rejected" (ST202); the test prints how many it dropped, by
rule and operation. Every other failure fails the run.
"""

import hashlib
import json
import os

import schemathesis

# (status, error code) of refusals that depend on stored state or on server configuration.
STATE_OR_POLICY_REFUSALS = {
    (422, "source_not_allowed"),  # the source policy (JETQ_SOURCES_ROOT, private addresses…)
}

# Task types whose payload must name a book that exists, and the book the test uploaded for them.
BOOK_TASKS = {"create_quiz", "generate_embeddings"}
BOOK_ID = os.environ.get("JETQ_CONTRACT_BOOK_ID")


def _is_number(value):
    # Generated integers may come as floats (1109.0), which JSON and the server take as integers.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@schemathesis.hook
def map_case(context, case):
    """Make positive cases valid in what a schema cannot say, rather than drop their refusals.

    A positive create_quiz / generate_embeddings names the book this test uploaded (any other id is
    rightly refused: no such book), a positive listing starts at the first page (a cursor is valid
    only if this server gave it out), chunkOverlap stays below chunkSize, an idempotency key
    stands for one request only, and a new API key expires in the future.
    """
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return case
    if isinstance(case.query, dict):
        case.query.pop("cursor", None)
    body = case.body
    if BOOK_ID and isinstance(body, dict) and body.get("type") in BOOK_TASKS and isinstance(body.get("payload"), dict):
        body["payload"]["bookId"] = BOOK_ID
    # chunkOverlap < chunkSize, in an upload form or in a process_book payload.
    for chunking in (body, body.get("payload") if isinstance(body, dict) else None):
        if isinstance(chunking, dict):
            size, overlap = chunking.get("chunkSize"), chunking.get("chunkOverlap")
            if _is_number(size) and _is_number(overlap) and overlap >= size:
                chunking["chunkOverlap"] = size - 1  # size <= overlap <= 5000: still within bounds
    # A key's expiry must lie in the future (a date-time schema cannot say "after now").
    if isinstance(body, dict) and isinstance(body.get("expiresAt"), str) and case.operation.path == "/api/keys":
        body["expiresAt"] = "2999-12-31T23:59:59Z"
    if isinstance(body, dict) and isinstance(body.get("idempotencyKey"), str):
        # Generated keys repeat ("0", "00"…) across different requests, which the server rightly
        # refuses (422 idempotency_key_reused). A key derived from the request keeps the rule a
        # client follows: one key, one request (the same request again is a replay, 202).
        rest = {k: v for k, v in body.items() if k != "idempotencyKey"}
        seed = body["idempotencyKey"] + json.dumps(rest, sort_keys=True, default=str)
        body["idempotencyKey"] = hashlib.sha256(seed.encode("utf-8", "surrogatepass")).hexdigest()
    return case


def _error(response):
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


def _rule_beyond_json_schema(response):
    """The rule a refusal names, if it is one JSON Schema cannot state; None otherwise."""
    error = _error(response)
    if error is None:
        return None
    code = error.get("code")
    if (response.status_code, code) in STATE_OR_POLICY_REFUSALS:
        return code
    return None


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Keep every failure except a positive case refused for a rule JSON Schema cannot state."""
    rule = _rule_beyond_json_schema(response) if failure.code == "ST202" else None
    if rule is None:
        return True
    # The test prints what was dropped and why, so nothing is waved through unseen.
    log = os.environ.get("JETQ_CONTRACT_DROPPED_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{rule}\t{case.operation.label}\n")
    return False


UPLOAD_FILE_FIELDS = ("file", "files")


def _is_bytes(value):
    return isinstance(value, (bytes, bytearray))


@schemathesis.hook
def filter_case(context, case):
    """Drop negative cases whose "invalid" part cannot be invalid on the wire.

    In multipart/form-data every part is bytes: a file field generated as an object or a number
    arrives as a perfectly good file of those bytes, so a server that accepts it is right.
    """
    meta = case.meta
    if meta is None or not meta.generation.mode.is_negative:
        return True
    # A query parameter whose value is an empty list is not on the wire at all (`?x=` needs a
    # value): the request the server gets has not the invalid part the case was made with.
    if isinstance(case.query, dict) and any(v == [] for v in case.query.values()):
        return False
    if case.media_type != "multipart/form-data" or not isinstance(case.body, dict):
        return True
    for field in UPLOAD_FILE_FIELDS:
        if field in case.body:
            value = case.body[field]
            values = value if isinstance(value, list) else [value]
            if not all(_is_bytes(v) for v in values):
                return False
    return True
