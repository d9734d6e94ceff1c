"""Tensors of the Open Inference Protocol (V2, REST): JSON data, and Triton's
binary tensor data extension, both ways.

A request body is JSON, or, with the `Inference-Header-Content-Length: N`
header, N bytes of JSON followed by the raw bytes of the inputs whose
`parameters.binary_data_size` says how many (little-endian, row-major), in
the order of the inputs. An answer carries an output as binary when the
request asks for it (`parameters.binary_data` on that output, or
`binary_data_output` on the request): its JSON then holds
`parameters.binary_data_size` instead of `data`, and the bytes follow the
JSON, whose length the answer's own `Inference-Header-Content-Length` gives.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

import numpy as np
import pydantic_core

DTYPES: dict[str, np.dtype[Any]] = {
    "FP64": np.dtype("<f8"),
    "FP32": np.dtype("<f4"),
    "INT64": np.dtype("<i8"),
    "INT32": np.dtype("<i4"),
    "INT16": np.dtype("<i2"),
    "INT8": np.dtype("<i1"),
    "UINT64": np.dtype("<u8"),
    "UINT32": np.dtype("<u4"),
    "UINT16": np.dtype("<u2"),
    "UINT8": np.dtype("<u1"),
}
"""The datatypes accepted for inputs (numbers only: every feature is one)."""


class TensorError(ValueError):
    """A request the protocol cannot read; the message says what and where."""


def parse_request(body: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    """(the JSON part, the binary part) of a request body."""
    if header_length is None:
        json_part, binary = body, b""
    else:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise TensorError("Inference-Header-Content-Length is not a length within the body")
        json_part, binary = body[: int(header_length)], body[int(header_length) :]
    try:
        request = pydantic_core.from_json(json_part)
    except (ValueError, UnicodeDecodeError):
        raise TensorError("the request is not valid JSON") from None
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
        raise TensorError("the request must be a JSON object with a list of 'inputs'")
    refuse_unknown_keys(request, REQUEST_KEYS, "")
    for key in ("id", "model_name"):
        if not isinstance(request.get(key, ""), str):
            raise TensorError(f"'{key}' must be a string")
    return request, binary


REQUEST_KEYS = frozenset({"id", "model_name", "parameters", "inputs", "outputs"})
"""What the protocol's inference request holds (and `model_name`, which
KServe's client sends; the path names the model)."""
INPUT_KEYS = frozenset({"name", "shape", "datatype", "parameters", "data"})
"""What the protocol's input tensor holds."""
OUTPUT_KEYS = frozenset({"name", "parameters"})
"""What the protocol's requested output holds."""


def refuse_unknown_keys(obj: dict[str, Any], known: frozenset[str], where: str) -> None:
    """TensorError for a key outside `known`: the published schema forbids it."""
    unknown = sorted(set(obj) - known)
    if unknown:
        keys = ", ".join(sorted(known))
        raise TensorError(f"{where}unknown key '{unknown[0]}' (keys: {keys})")


def input_arrays(request: dict[str, Any], binary: bytes) -> dict[str, np.ndarray]:
    """Each input by name, as a float64 array of its declared shape."""
    out: dict[str, np.ndarray] = {}
    offset = 0
    for tensor in request["inputs"]:
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise TensorError("every input needs a 'name'")
        name = tensor["name"]
        if name in out:
            raise TensorError(f"input '{name}' is given twice")
        refuse_unknown_keys(tensor, INPUT_KEYS, f"input '{name}': ")
        shape, datatype = tensor.get("shape"), tensor.get("datatype")
        if not isinstance(datatype, str) or datatype not in DTYPES:
            raise TensorError(f"input '{name}': datatype must be one of {', '.join(DTYPES)}")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise TensorError(f"input '{name}': shape must be a list of sizes")
        count = int(np.prod(shape)) if shape else 1
        size = parameters(tensor, f"input '{name}'").get("binary_data_size")
        if size is not None:
            if type(size) is not int or size != count * DTYPES[datatype].itemsize:
                raise TensorError(f"input '{name}': binary_data_size does not match its shape")
            chunk = binary[offset : offset + size]
            if len(chunk) != size:
                raise TensorError(f"input '{name}': the body holds fewer bytes than announced")
            offset += size
            values = np.frombuffer(chunk, dtype=DTYPES[datatype]).astype(np.float64)
        else:
            values = _json_values(name, tensor.get("data"), count)
        out[name] = values.reshape(shape)
    if offset != len(binary):
        raise TensorError("the body holds more binary data than the inputs announce")
    return out


def flag(found: dict[str, Any], key: str, default: bool) -> bool:
    """A boolean parameter (`binary_data`, `binary_data_output`) of `found`."""
    value = found.get(key, default)
    if not isinstance(value, bool):
        raise TensorError(f"parameter '{key}' must be true or false")
    return value


def parameters(obj: dict[str, Any], where: str) -> dict[str, Any]:
    """The `parameters` object of a request, input or output ({} if absent)."""
    found = obj.get("parameters")
    if found is None:
        return {}
    if not isinstance(found, dict):
        raise TensorError(f"{where}: 'parameters' must be an object")
    return found


def _json_values(name: str, data: Any, count: int) -> np.ndarray:
    """The numbers of `data`, nested lists flattened row-major. Whole lists
    are checked by their set of element types (`map(type, ...)` runs in C),
    not element by element: a 100-patient body holds 1,300 numbers."""
    flat = data
    while isinstance(flat, list) and flat and set(map(type, flat)) == {list}:
        flat = list(chain.from_iterable(flat))
    if not isinstance(flat, list) or len(flat) != count:
        raise TensorError(f"input '{name}': 'data' must hold {count} numbers")
    if not set(map(type, flat)) <= {int, float}:  # no bool, str, None, object or ragged list
        raise TensorError(f"input '{name}': 'data' must hold numbers only")
    return np.array(flat, dtype=np.float64)


def encode_response(
    response: dict[str, Any], outputs: list[tuple[str, str, np.ndarray]], binary: set[str]
) -> tuple[bytes, int | None]:
    """The answer's body, and its JSON length when binary data follows it."""
    tensors, blobs = [], []
    for name, datatype, values in outputs:
        tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(values.shape)}
        if name in binary:
            raw = values.astype(DTYPES[datatype]).tobytes()
            tensor["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        else:
            tensor["data"] = values.tolist()
        tensors.append(tensor)
    head = pydantic_core.to_json({**response, "outputs": tensors})
    if not blobs:
        return head, None
    return head + b"".join(blobs), len(head)
