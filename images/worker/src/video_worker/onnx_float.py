"""Rewrite a dynamically quantised ONNX export as the float graph it came from.

onnxruntime's dynamic quantisation keeps int8 weights and quantises every
activation at run time: DynamicQuantizeLinear before each ConvInteger, then a
Cast and a Mul back to float. On a CPU those extra passes over every activation
can cost more than the int8 convolutions save, so this turns each ConvInteger
back into a float Conv, with its weight dequantised once here, ``(w - zero_point)
* scale``. The input, output and metadata (class names, imgsz, stride, task) stay
as they were, so OnnxDetector and ultralytics load the result like the original.

    python -m video_worker.onnx_float yolov8n_int8.onnx yolov8n_float.onnx
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper


def to_float(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` with every DynamicQuantizeLinear -> ConvInteger -> Cast -> Mul chain as one Conv."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    consumers = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)

    replaced: dict[int, onnx.NodeProto] = {}  # index of the Mul that rescales a ConvInteger -> the Conv
    for conv in (node for node in graph.node if node.op_type == "ConvInteger"):
        quantised_input, weight_name, _, weight_zero_point = conv.input
        quantise = producer[quantised_input]
        [cast] = consumers[conv.output[0]]
        [rescale] = consumers[cast.output[0]]
        if quantise.op_type != "DynamicQuantizeLinear" or (cast.op_type, rescale.op_type) != ("Cast", "Mul"):
            raise ValueError(f"{conv.name}: not the DynamicQuantizeLinear -> ConvInteger -> Cast -> Mul "
                             "chain of onnxruntime's dynamic quantisation")
        # The Mul's factor is the activation's run-time scale times the weight's scale, an initializer.
        scales = producer[next(name for name in rescale.input if name != cast.output[0])]
        [weight_scale] = [weights[name] for name in scales.input if name in weights]
        quantised = weights[weight_name].astype(np.float32) - weights[weight_zero_point].astype(np.float32)
        per_channel = np.reshape(weight_scale, (-1,) + (1,) * (quantised.ndim - 1))
        float_name = weight_name.removesuffix("_quantized")
        graph.initializer.append(numpy_helper.from_array((quantised * per_channel).astype(np.float32), float_name))
        replaced[id(rescale)] = helper.make_node(
            "Conv", [quantise.input[0], float_name], list(rescale.output),
            name=conv.name.removesuffix("_quant"), **{a.name: helper.get_attribute_value(a) for a in conv.attribute},
        )

    if not replaced:
        raise ValueError("no ConvInteger in the graph: not a dynamically quantised model")
    nodes = [replaced.get(id(node), node) for node in graph.node]
    del graph.node[:]
    graph.node.extend(_live(nodes, {out.name for out in graph.output}))
    used = {name for node in graph.node for name in node.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    onnx.checker.check_model(model)
    return model


def _live(nodes: list[onnx.NodeProto], outputs: set[str]) -> list[onnx.NodeProto]:
    """``nodes`` without those whose results nothing reads (the quantisation chains the Convs replaced)."""
    needed = set(outputs)
    live = []
    for node in reversed(nodes):
        if needed.intersection(node.output):
            live.append(node)
            needed.update(node.input)
    return live[::-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a dynamically quantised ONNX model")
    parser.add_argument("dest", type=Path, help="where to write the float model")
    args = parser.parse_args()
    onnx.save(to_float(onnx.load(args.source)), args.dest)


if __name__ == "__main__":
    main()
