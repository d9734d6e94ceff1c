"""Run by the KServe SDK's own virtual environment (see tests/kserve/env.py),
not by the project's: KServe's package pins pandas < 3 and pulls gRPC and
the Kubernetes client, so it cannot share the project's lock.

    python client_check.py infer < request.json   (KServe's InferenceRESTClient)
    python client_check.py manifests FILE...       (the KServe SDK's models)

Both print one JSON document; the tests in tests/app/test_kserve.py decide
what is right. This script only drives KServe's code and reports what it saw.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx
import numpy as np
import yaml
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig


def _outputs(response: Any) -> dict[str, list[float]]:
    return {o.name: o.as_numpy().tolist() for o in response.outputs}


async def _infer(client: InferenceRESTClient, url: str, model: str, inputs: Any) -> dict[str, Any]:
    """One inference: its outputs, or the HTTP status and message the client raised."""
    try:
        request = InferRequest(model_name=model, infer_inputs=inputs, request_id="k-1")
        response = await client.infer(url, request, model_name=model)
        return {"outputs": _outputs(response), "id": response.id}
    except httpx.HTTPStatusError as exc:
        return {"status": exc.response.status_code, "message": str(exc)}


def _one_tensor(x: np.ndarray, datatype: str, binary: bool) -> list[InferInput]:
    tensor = InferInput("patients", list(x.shape), datatype)
    tensor.set_data_from_numpy(x, binary_data=binary)
    return [tensor]


def _columns(x: np.ndarray, names: list[str], coded: list[str]) -> list[InferInput]:
    """The tabular form: one tensor per field, the coded fields as INT64."""
    inputs = []
    for j, name in enumerate(names):
        datatype, column = (
            ("INT64", x[:, j].astype(np.int64)) if name in coded else ("FP64", x[:, j])
        )
        tensor = InferInput(name, [len(x)], datatype)
        tensor.set_data_from_numpy(column, binary_data=False)
        inputs.append(tensor)
    return inputs


async def infer(spec: dict[str, Any]) -> dict[str, Any]:
    url, model, names, coded = spec["url"], spec["model"], spec["names"], spec["coded"]
    x = np.array(spec["rows"], dtype=np.float64)
    client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=10, retries=0))
    bad = {k: np.array(v, dtype=np.float64) for k, v in spec["bad"].items()}
    try:
        results: dict[str, Any] = {
            "server_live": await client.is_server_live(url),
            "server_ready": await client.is_server_ready(url),
            "model_ready": await client.is_model_ready(url, model),
            "unknown_model_ready": await client.is_model_ready(url, "no-such-model"),
            "json": await _infer(client, url, model, _one_tensor(x, "FP64", False)),
            "binary": await _infer(client, url, model, _one_tensor(x, "FP64", True)),
            "fp32": await _infer(
                client, url, model, _one_tensor(x.astype(np.float32), "FP32", True)
            ),
            "columns": await _infer(client, url, model, _columns(x, names, coded)),
            "wrong_shape": await _infer(client, url, model, _one_tensor(x[:, :12], "FP64", False)),
            "wrong_datatype": await _infer(
                client, url, model, _one_tensor(np.ones((1, 13), dtype=bool), "BOOL", True)
            ),
            "missing_input": await _infer(client, url, model, _columns(x, names, coded)[:12]),
        }
        for name, rows in bad.items():  # a code out of range, NaN, too many rows
            # binary: KServe's JSON encoder (orjson) would send NaN as null
            results[name] = await _infer(client, url, model, _one_tensor(rows, "FP64", True))
    finally:
        await client.close()
    return results


def manifests(paths: list[str]) -> dict[str, Any]:
    """Each manifest built into the KServe SDK's model of its kind, field by
    field (the Kubernetes types inside from the Kubernetes client's models,
    which the SDK's own ApiClient cannot find): an unknown field, a value of
    the wrong type, or one a model's setter refuses is a problem."""
    out = {}
    for path in paths:
        with open(path) as f:
            document = yaml.safe_load(f)
        problems: list[str] = []
        kind = next(
            (k for k in (f"V1beta1{document['kind']}", f"V1alpha1{document['kind']}") if _model(k)),
            None,
        )
        if kind is None:
            problems.append(f"the SDK has no model of kind {document['kind']}")
        else:
            _build(document, kind, document["kind"], problems)
        out[path] = {"kind": kind, "problems": problems}
    return out


def _model(name: str) -> Any:
    import kserve.models
    import kubernetes.client.models

    return getattr(kserve.models, name, None) or getattr(kubernetes.client.models, name, None)


PRIMITIVES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "bool": (bool,),
    "float": (int, float),
    "object": (object,),
    "ResourceQuantity": (str, int, float),
}


def _build(data: Any, type_name: str, where: str, problems: list[str]) -> Any:
    # the SDK writes list[X] and dict(str, X); the Kubernetes client List[X] and Dict[str, X]
    if type_name.lower().startswith("list["):
        if not isinstance(data, list):
            problems.append(f"{where}: expected a list")
            return None
        return [_build(v, type_name[5:-1], f"{where}[{i}]", problems) for i, v in enumerate(data)]
    if type_name.lower().startswith(("dict(", "dict[")):
        value_type = type_name[type_name.index(",") + 1 : -1].strip()
        if not isinstance(data, dict):
            problems.append(f"{where}: expected a mapping")
            return None
        return {k: _build(v, value_type, f"{where}.{k}", problems) for k, v in data.items()}
    if type_name in PRIMITIVES:
        wanted = PRIMITIVES[type_name]
        if not isinstance(data, wanted) or (type_name == "int" and isinstance(data, bool)):
            problems.append(f"{where}: expected {type_name}, got {data!r}")
        return data
    klass = _model(type_name)
    if klass is None:
        problems.append(f"{where}: unknown type {type_name}")
        return None
    if not isinstance(data, dict):
        problems.append(f"{where}: expected an object ({type_name})")
        return None
    by_json = {json_key: attr for attr, json_key in klass.attribute_map.items()}
    kwargs = {}
    for key, value in data.items():
        attr = by_json.get(key)
        if attr is None:
            problems.append(f"{where}: unknown field '{key}' in {type_name}")
            continue
        kwargs[attr] = _build(value, klass.openapi_types[attr], f"{where}.{key}", problems)
    try:
        return klass(**kwargs)
    except ValueError as exc:
        problems.append(f"{where}: {exc}")
        return None


if __name__ == "__main__":
    if sys.argv[1] == "infer":
        print(json.dumps(asyncio.run(infer(json.load(sys.stdin)))))
    else:
        print(json.dumps(manifests(sys.argv[2:])))
