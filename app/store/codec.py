"""The record envelope: a checked header, JSON for the structure and safetensors for the numbers.

No pickle anywhere: the structure is plain JSON (tuples, dicts with non-string keys and tensors
are tagged objects) and every tensor is a slice of one flat safetensors buffer per dtype, so a
record of a few hundred tensors has a header of a few entries. The envelope is

    magic (8 bytes) · schema version (u16) · reserved (u16) · JSON length (u32)
    · tensor bytes length (u64) · SHA-256 of what follows (32 bytes) · JSON · safetensors

and is checked, cheapest first, before anything in it is parsed: its size against the bound,
the magic, the version, the lengths (a truncated record), the checksum (a corrupt one).
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import safetensors.torch
import torch

from app.store.errors import (
    CorruptRecord,
    ForeignRecord,
    OversizedRecord,
    TruncatedRecord,
    UnsupportedVersion,
)

MAGIC = b"BPLABRUN"
SCHEMA_VERSION = 1
_HEADER = struct.Struct(">8sHHIQ32s")
HEADER_BYTES = _HEADER.size

DTYPES: dict[str, torch.dtype] = {
    "f32": torch.float32,
    "f64": torch.float64,
    "i64": torch.int64,
    "i32": torch.int32,
    "bool": torch.bool,
}
_DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}
TAGS = ("$tensor", "$array", "$tuple", "$items", "$fragment")


@dataclass(frozen=True)
class Fragment:
    """A part of a record encoded once (its tensors packed on their own), reusable in every
    later record while it stays the same: a timeline state, which never changes once kept."""

    tree: object
    buffers: dict[str, torch.Tensor]
    # Its share of a record: tensor bytes and JSON characters.
    nbytes: int


class Packer:
    """Collects tensors into one flat buffer per dtype; the tree keeps [dtype, offset, shape]."""

    def __init__(self) -> None:
        self._parts: dict[str, list[torch.Tensor]] = {}
        self._sizes: dict[str, int] = {}

    def add(self, tensor: torch.Tensor) -> list[object]:
        name = _DTYPE_NAMES.get(tensor.dtype)
        if name is None:
            raise TypeError(f"a {tensor.dtype} tensor cannot be stored")
        return [name, self._append(name, tensor.detach().reshape(-1)), list(tensor.shape)]

    def add_fragment(self, fragment: Fragment) -> dict[str, int]:
        """Where each of the fragment's buffers starts in this record's buffers."""
        return {name: self._append(name, flat) for name, flat in fragment.buffers.items()}

    def _append(self, name: str, flat: torch.Tensor) -> int:
        offset = self._sizes.get(name, 0)
        self._parts.setdefault(name, []).append(flat)
        self._sizes[name] = offset + flat.numel()
        return offset

    def buffers(self) -> dict[str, torch.Tensor]:
        return {name: torch.cat(parts).contiguous() for name, parts in self._parts.items()}


def fragment(value: object) -> Fragment:
    packer = Packer()
    tree = encode_tree(value, packer)
    buffers = packer.buffers()
    size = sum(b.numel() * b.element_size() for b in buffers.values())
    return Fragment(tree, buffers, size + len(json.dumps(tree, separators=(",", ":"))))


_PLAIN = (type(None), bool, int, float, str)


def encode_tree(value: object, packer: Packer) -> object:
    """`value` as JSON-able data; tensors and arrays go to `packer`."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is list:
        return [encode_tree(v, packer) for v in cast(list[object], value)]
    if isinstance(value, dict):
        if all(type(k) is str and not k.startswith("$") for k in value):
            return {k: encode_tree(v, packer) for k, v in value.items()}
        return {
            "$items": [[encode_tree(k, packer), encode_tree(v, packer)] for k, v in value.items()]
        }
    if isinstance(value, torch.Tensor):
        return {"$tensor": packer.add(value)}
    if isinstance(value, Fragment):
        return {"$fragment": [packer.add_fragment(value), value.tree]}
    if isinstance(value, tuple):
        return {"$tuple": [encode_tree(v, packer) for v in value]}
    if isinstance(value, np.ndarray):
        return {"$array": packer.add(torch.from_numpy(np.ascontiguousarray(value)))}
    raise TypeError(f"a {kind.__name__} cannot be stored")


class Unpacker:
    """The tensors of a record, handed out as copies so none keeps the whole buffer alive."""

    def __init__(
        self, buffers: dict[str, torch.Tensor], base: dict[str, int] | None = None
    ) -> None:
        for name, buffer in buffers.items():
            if name not in DTYPES or buffer.dtype != DTYPES[name] or buffer.ndim != 1:
                raise CorruptRecord(f"the record's tensor buffer {name!r} is not one of ours")
        self._buffers = buffers
        self._base = base or {}

    def shifted(self, base: object) -> Unpacker:
        """The unpacker of a fragment whose buffers start at `base` in this record's."""
        if not isinstance(base, dict) or not all(
            type(v) is int and v >= 0 and k in self._buffers for k, v in base.items()
        ):
            raise CorruptRecord("a fragment of the record is malformed")
        return Unpacker(self._buffers, {k: self._base.get(k, 0) + v for k, v in base.items()})

    def take(self, ref: object) -> torch.Tensor:
        if not (type(ref) is list and len(ref) == 3):
            raise CorruptRecord("a tensor reference is malformed")
        name, offset, shape = ref
        buffer = self._buffers.get(name) if type(name) is str else None
        if (
            buffer is None
            or type(offset) is not int
            or type(shape) is not list
            or not all(type(n) is int and n >= 0 for n in shape)
        ):
            raise CorruptRecord("a tensor reference is malformed")
        count = math.prod(shape)
        start = self._base.get(name, 0) + offset
        if offset < 0 or start + count > buffer.numel():
            raise CorruptRecord("a tensor reference points outside the record")
        return buffer[start : start + count].reshape(shape).clone()


def decode_tree(value: object, unpacker: Unpacker) -> Any:
    """The inverse of encode_tree; CorruptRecord on anything encode_tree cannot have written."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is list:
        return [decode_tree(v, unpacker) for v in cast(list[object], value)]
    if not isinstance(value, dict):
        raise CorruptRecord(f"unexpected {kind.__name__} in the record")
    if len(value) != 1 or not next(iter(value)).startswith("$"):
        return {k: decode_tree(v, unpacker) for k, v in value.items()}
    tag, inner = next(iter(value.items()))
    if tag == "$tensor":
        return unpacker.take(inner)
    if tag == "$array":
        return unpacker.take(inner).numpy()
    if tag not in TAGS or type(inner) is not list:
        raise CorruptRecord(f"unknown tag {tag!r} in the record")
    if tag == "$tuple":
        return tuple(decode_tree(v, unpacker) for v in inner)
    if tag == "$fragment" and len(inner) == 2:
        return decode_tree(inner[1], unpacker.shifted(inner[0]))
    if tag == "$fragment" or not all(type(pair) is list and len(pair) == 2 for pair in inner):
        raise CorruptRecord(f"{tag} in the record is malformed")
    items = [(decode_tree(k, unpacker), decode_tree(v, unpacker)) for k, v in inner]
    if not all(type(k) in (int, str) for k, _ in items):
        raise CorruptRecord("a key in the record is neither a number nor a string")
    return dict(items)


def seal(tree: object, max_bytes: int) -> bytes:
    """The envelope around `tree`; OversizedRecord if it would exceed `max_bytes`."""
    packer = Packer()
    structure = json.dumps(encode_tree(tree, packer), separators=(",", ":")).encode()
    tensors = safetensors.torch.save(packer.buffers())
    body = structure + tensors
    size = HEADER_BYTES + len(body)
    if size > max_bytes:
        raise OversizedRecord(f"the record would be {size} bytes; at most {max_bytes} are stored")
    digest = hashlib.sha256(body).digest()
    header = _HEADER.pack(MAGIC, SCHEMA_VERSION, 0, len(structure), len(tensors), digest)
    return header + body


def open_sealed(raw: bytes, max_bytes: int) -> Any:
    """The tree inside `raw`, after every check; a RecordError subclass naming the problem."""
    if len(raw) > max_bytes:
        raise OversizedRecord(f"the record is {len(raw)} bytes; at most {max_bytes} are read")
    if raw[: len(MAGIC)] != MAGIC[: len(raw)]:
        raise ForeignRecord("not a Backprop Lab run record (wrong magic)")
    if len(raw) < HEADER_BYTES:
        raise TruncatedRecord(f"the record stops inside its header ({len(raw)} bytes)")
    _, version, _, json_len, tensors_len, digest = _HEADER.unpack_from(raw)
    if version != SCHEMA_VERSION:
        raise UnsupportedVersion(
            f"the record has schema version {version}; this server reads {SCHEMA_VERSION}"
        )
    body = raw[HEADER_BYTES:]
    expected = json_len + tensors_len
    if len(body) < expected:
        raise TruncatedRecord(f"the record has {len(body)} of its {expected} bytes")
    if len(body) > expected:
        raise CorruptRecord(f"{len(body) - expected} stray bytes after the record")
    if hashlib.sha256(body).digest() != digest:
        raise CorruptRecord("the record's checksum does not match its contents")
    try:
        structure = json.loads(body[:json_len])
        buffers = safetensors.torch.load(bytes(body[json_len:]))
    except Exception as error:  # JSONDecodeError, UnicodeDecodeError, SafetensorError
        raise CorruptRecord(f"the record does not parse ({type(error).__name__})") from None
    return decode_tree(structure, Unpacker(buffers))
