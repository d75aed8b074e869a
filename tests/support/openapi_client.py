"""A test client that only speaks what the OpenAPI document describes.

Operations are called by operationId; the path, method and parameters come from
the document. Every request body is validated against the operation's request
schema before it is sent, every answer's status must be documented, and JSON
answers are validated against the documented schema (objects may not carry
properties the schema does not name). `follow` takes an OpenAPI link of a
response (its operationRef, parameters and request body, with $response.body
expressions evaluated) like a generated client would.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema

METHODS = ("get", "post", "put", "patch", "delete")


def _pointer(doc: Any, pointer: str) -> Any:
    for part in pointer.lstrip("/").split("/") if pointer.strip("/") else []:
        part = part.replace("~1", "/").replace("~0", "~")
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


class SpecClient:
    def __init__(self, client: Any, spec: dict[str, Any]) -> None:
        self.client = client
        self.spec = spec
        self.called: list[str] = []
        self.ops: dict[str, tuple[str, str, dict[str, Any]]] = {}
        for path, item in spec["paths"].items():
            for method, op in item.items():
                if method in METHODS:
                    assert op["operationId"] not in self.ops, op["operationId"]
                    self.ops[op["operationId"]] = (path, method, op)

    # -- schemas -------------------------------------------------------------------------------

    def _resolve(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            node = _pointer(self.spec, node["$ref"][1:])
        return node

    def json_schema(self, schema: dict[str, Any], strict: bool, seen: tuple = ()) -> Any:
        """OpenAPI 3.0 schema -> JSON Schema (draft 4): refs inlined, nullable as a type."""
        if "$ref" in schema:
            ref = schema["$ref"]
            if ref in seen:
                return {}
            return self.json_schema(self._resolve(schema), strict, (*seen, ref))
        out = copy.deepcopy(schema)
        for key in ("properties", "patternProperties"):
            if key in out:
                out[key] = {k: self.json_schema(v, strict, seen) for k, v in out[key].items()}
        for key in ("items", "additionalProperties", "not"):
            if isinstance(out.get(key), dict):
                out[key] = self.json_schema(out[key], strict, seen)
        for key in ("allOf", "anyOf", "oneOf"):
            if key in out:
                out[key] = [self.json_schema(s, strict, seen) for s in out[key]]
        if out.pop("nullable", False):
            if "type" in out:
                out["type"] = [out["type"], "null"]
            else:
                out = {"anyOf": [out, {"type": "null"}]}
        for key in ("readOnly", "writeOnly", "example", "discriminator", "xml",
                    "externalDocs", "deprecated"):
            out.pop(key, None)
        if strict and "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out

    def validate(self, instance: Any, schema: dict[str, Any], strict: bool, what: str) -> None:
        try:
            jsonschema.Draft4Validator(self.json_schema(schema, strict)).validate(instance)
        except jsonschema.ValidationError as err:
            raise AssertionError(f"{what}: {err.message} at {list(err.absolute_path)}") from None

    # -- calls ---------------------------------------------------------------------------------

    def call(self, operation_id: str, *, path: dict[str, Any] | None = None,
             json: Any = None, query: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None, expect: int | None = None) -> Any:
        assert operation_id in self.ops, f"{operation_id} is not in the OpenAPI document"
        template, method, op = self.ops[operation_id]
        params = [self._resolve(p) for p in op.get("parameters", [])] + [
            self._resolve(p) for p in self.spec["paths"][template].get("parameters", [])]
        names = {(p["in"], p["name"]) for p in params}
        for name in path or {}:
            assert ("path", name) in names, f"{operation_id}: no path parameter {name}"
        for name in query or {}:
            assert ("query", name) in names, f"{operation_id}: no query parameter {name}"
        if json is not None:
            body = op.get("requestBody")
            assert body, f"{operation_id} takes no request body"
            schema = self._resolve(body)["content"]["application/json"]["schema"]
            self.validate(json, schema, True, f"{operation_id} request")
        url = template.format(**(path or {}))
        if op.get("security") and expect != 401:
            assert headers and "Authorization" in headers, f"{operation_id} needs a bearer"
        resp = self.client.open(url, method=method.upper(), json=json, query_string=query,
                                headers=headers or {})
        self.called.append(operation_id)
        status = str(resp.status_code)
        assert status in op["responses"], \
            f"{operation_id} answered {status}, which it does not document: {resp.data[:300]!r}"
        if expect is not None:
            assert resp.status_code == expect, f"{operation_id}: {resp.status_code} " \
                                               f"{resp.get_data(as_text=True)[:500]}"
        doc = self._resolve(op["responses"][status])
        content = doc.get("content") or {}
        if resp.status_code == 204:
            assert not resp.data
            return resp
        assert resp.mimetype in content, \
            f"{operation_id} answered {resp.mimetype}, documented: {sorted(content)}"
        schema = content[resp.mimetype].get("schema")
        if resp.mimetype == "application/json" and schema:
            self.validate(resp.json, schema, True, f"{operation_id} {status} answer")
        return resp

    def follow(self, operation_id: str, status: int, link_name: str, resp: Any,
               **kwargs: Any) -> Any:
        """Call the operation a documented link of `operation_id`'s answer points to."""
        _, _, op = self.ops[operation_id]
        links = self._resolve(op["responses"][str(status)]).get("links") or {}
        assert link_name in links, f"{operation_id} {status} has no link {link_name}"
        link = links[link_name]
        ref = link["operationRef"]
        assert ref.startswith("#/paths/")
        raw_path, method = ref[len("#/paths/"):].rsplit("/", 1)
        template = raw_path.replace("~1", "/").replace("~0", "~")
        target = self.spec["paths"][template][method]["operationId"]
        body = resp if isinstance(resp, dict) else resp.json

        def value(expr: Any) -> Any:
            if isinstance(expr, str) and expr.startswith("$response.body#"):
                return _pointer(body, expr[len("$response.body#"):])
            return expr

        path = {k: value(v) for k, v in (link.get("parameters") or {}).items()}
        json = link.get("requestBody")
        if isinstance(json, dict):
            json = {k: value(v) for k, v in json.items()}
            json.update(kwargs.pop("extra_body", {}))
        return self.call(target, path=path or None, json=json, **kwargs)
