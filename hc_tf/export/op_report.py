"""What a TFLite model runs: its op report, and the full-integer (int8) check.

TF-free: reads the flatbuffer with the LiteRT interpreter (the base install).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

from hc_tf import defaults

# Ops allowed to touch float tensors in an int8 model: the input QUANTIZE
# (float32 in -> int8 out) and the output DEQUANTIZE (int8 in -> float32 out),
# present only with float32 I/O.
FLOAT_KINDS = ("float32", "float16", "float64", "bfloat16")


class FloatOpsError(RuntimeError):
    """A full-integer (int8) TFLite model still computes some op in float."""


def check_int8(report: Dict[str, Any], io_dtype: str = defaults.DEFAULT_IO_DTYPE) -> None:
    """Raises FloatOpsError unless `report` (from `op_report`) is a true integer model.

    Float tensors may appear only at a float32 I/O edge (input QUANTIZE, output
    DEQUANTIZE); with uint8 I/O the input quantization must be scale 1, zero point 0.
    """
    if report["float_ops"]:
        listed = "; ".join(f"{o['op']} (#{o['index']}) on {', '.join(o['float_tensors'])}"
                           for o in report["float_ops"][:10])
        more = f" ... ({len(report['float_ops'])} ops in all)" if len(report["float_ops"]) > 10 else ""
        raise FloatOpsError(f"int8 export computes in float: {listed}{more}")
    inp = report["input"]
    if io_dtype != "float32" and inp["dtype"] != io_dtype:
        raise FloatOpsError(f"int8 export: input is {inp['dtype']}, expected {io_dtype}")
    if io_dtype == "uint8" and (abs(inp["scale"] - 1.0) > 1e-6 or inp["zero_point"] != 0):
        raise FloatOpsError(
            f"int8 export: uint8 input quantization is scale {inp['scale']}, zero point "
            f"{inp['zero_point']}; expected 1, 0 (the raw pixel)")



def _interpreter(tflite_bytes: bytes):
    from ai_edge_litert.interpreter import Interpreter
    return Interpreter(model_content=bytes(tflite_bytes))


def _dtype_name(dtype) -> str:
    return np.dtype(dtype).name


def _quant(detail: Dict[str, Any]) -> Dict[str, Any]:
    scale, zp = detail.get("quantization", (0.0, 0))
    return {"name": detail["name"], "shape": [int(v) for v in detail["shape"]],
            "dtype": _dtype_name(detail["dtype"]), "scale": float(scale), "zero_point": int(zp)}


def op_report(tflite_bytes: bytes) -> Dict[str, Any]:
    """What a TFLite model runs: op counts, float tensors, ops that compute in float.

    Returns:
      A dict with
        ops: {op name: count};
        n_ops: total op count;
        float_tensors: [{"name", "dtype"}] of every float (32/16-bit) tensor;
        float_ops: [{"index", "op", "float_tensors"}] of ops touching a float
          tensor, other than an input QUANTIZE (float in, integer out) and an
          output DEQUANTIZE (integer in, float out) — empty for a true int8 model;
        input / output: name, shape, dtype, scale, zero_point;
        size_bytes.
    """
    interp = _interpreter(tflite_bytes)
    tensors = {int(t["index"]): t for t in interp.get_tensor_details()}

    def is_float(i: int) -> bool:
        t = tensors.get(int(i))
        return t is not None and _dtype_name(t["dtype"]) in FLOAT_KINDS

    ops: Dict[str, int] = {}
    float_ops: List[Dict[str, Any]] = []
    for op in interp._get_ops_details():
        name = op["op_name"]
        ops[name] = ops.get(name, 0) + 1
        ins = [int(i) for i in op["inputs"] if int(i) >= 0]
        outs = [int(i) for i in op["outputs"] if int(i) >= 0]
        touched = [i for i in ins + outs if is_float(i)]
        if not touched:
            continue
        if name == "QUANTIZE" and all(not is_float(i) for i in outs):
            continue  # float input -> integer: the model's input edge
        if name == "DEQUANTIZE" and all(not is_float(i) for i in ins):
            # integer -> float: fine only as the model output (checked below).
            out_ids = {int(d["index"]) for d in interp.get_output_details()}
            if set(outs) <= out_ids:
                continue
        float_ops.append({"index": int(op["index"]), "op": name,
                          "float_tensors": [f"{tensors[i]['name']}:{_dtype_name(tensors[i]['dtype'])}"
                                            for i in touched]})
    float_tensors = [{"name": t["name"], "dtype": _dtype_name(t["dtype"])}
                     for t in tensors.values() if _dtype_name(t["dtype"]) in FLOAT_KINDS]
    return {"ops": dict(sorted(ops.items())), "n_ops": int(sum(ops.values())),
            "float_tensors": float_tensors, "float_ops": float_ops,
            "input": _quant(interp.get_input_details()[0]),
            "output": _quant(interp.get_output_details()[0]),
            "size_bytes": len(tflite_bytes)}


def runtime_requirements(tflite_bytes: bytes) -> Dict[str, Any]:
    """What a runtime needs to run the model, from its flatbuffer: the converter's
    `min_runtime_version` metadata (TensorFlow Lite's version numbering; None when absent) and
    the keys of its SignatureDefs ([] when it has none: the Interpreter API's input 0 / output 0,
    or LiteRT's CompiledModel at signature index 0, its default signature)."""
    from ai_edge_litert import schema_py_generated as schema
    buf = bytes(tflite_bytes)
    model = schema.Model.GetRootAsModel(buf, 0)
    version = None
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() != b"min_runtime_version":
            continue
        data = model.Buffers(entry.Buffer())
        raw = data.DataAsNumpy()
        raw = raw.tobytes() if not isinstance(raw, int) else buf[data.Offset():data.Offset() + data.Size()]
        version = raw.split(b"\0", 1)[0].decode("ascii")
    signatures = [model.SignatureDefs(i).SignatureKey().decode()
                  for i in range(model.SignatureDefsLength())]
    return {"min_runtime_version": version, "signature_defs": signatures}


# tensorflow/compiler/mlir/lite/schema/conversion_metadata.fbs: the enums' names.
_MODEL_TYPES = {0: "NONE", 1: "TF_SAVED_MODEL", 2: "KERAS_MODEL", 3: "TF_CONCRETE_FUNCTIONS",
                4: "TF_GRAPH_DEF", 5: "TF_MLIR", 6: "JAX", 7: "PYTORCH"}
_OPTIMIZATION_MODES = {1001: "PTQ_FLOAT16", 1002: "PTQ_DYNAMIC_RANGE", 1003: "PTQ_FULL_INTEGER",
                       1004: "PTQ_INT16", 2000: "QUANTIZATION_AWARE_TRAINING",
                       3001: "RANDOM_SPARSITY", 3002: "BLOCK_SPARSITY",
                       3003: "STRUCTURED_SPARSITY"}


def conversion_metadata(tflite_bytes: bytes) -> Optional[Dict[str, Any]]:
    """The converter's own record in the model (its CONVERSION_METADATA entry, TensorFlow 2.9 on):
    the TensorFlow version that converted it, the API, the input kind and the optimization modes;
    None when the model has no such entry."""
    import flatbuffers
    from flatbuffers import number_types as N
    from flatbuffers import table
    from ai_edge_litert import schema_py_generated as schema
    buf = bytes(tflite_bytes)
    model = schema.Model.GetRootAsModel(buf, 0)
    raw = None
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() == b"CONVERSION_METADATA":
            data = model.Buffers(entry.Buffer())
            arr = data.DataAsNumpy()
            raw = arr.tobytes() if not isinstance(arr, int) else buf[data.Offset():data.Offset() + data.Size()]
    if not raw:
        return None
    raw = bytearray(raw)
    root = table.Table(raw, flatbuffers.encode.Get(flatbuffers.packer.uoffset, raw, 0))

    def sub(t: table.Table, field: int) -> Optional[table.Table]:
        o = t.Offset(4 + 2 * field)
        return table.Table(t.Bytes, t.Indirect(t.Pos + o)) if o else None

    def scalar(t: Optional[table.Table], field: int, flags) -> Optional[int]:
        o = t.Offset(4 + 2 * field) if t else 0
        return int(t.Get(flags, t.Pos + o)) if o else None

    env, opts = sub(root, 0), sub(root, 1)
    version = None
    if env is not None and env.Offset(4):
        version = env.String(env.Pos + env.Offset(4)).decode("utf-8", "replace")
    modes = []
    if opts is not None and opts.Offset(4):
        vec, n = opts.Vector(opts.Offset(4)), opts.VectorLen(opts.Offset(4))
        modes = [int(opts.Get(N.Int32Flags, vec + 4 * k)) for k in range(n)]
    model_type = scalar(env, 2, N.Int32Flags)
    return {"tensorflow_version": version, "api_version": scalar(env, 1, N.Uint32Flags),
            "model_type": _MODEL_TYPES.get(model_type, model_type),
            "optimization_modes": [_OPTIMIZATION_MODES.get(m, m) for m in modes]}
