"""A static YOLOv8 detection export re-sized to another input, for rectangular (minimal letterbox) inference.

An export with a static input bakes its size into the head: the N anchors (sum over the head's strides s
of (H/s)(W/s)) have their points (grid cell centres) and strides as constants, and the DFL's reshapes
name N. Everything else (convolutions, the x2 upsamples and their concats, channel splits) runs at any
size that is a multiple of the largest stride. This regenerates those constants for another size, as
ultralytics' ``make_anchors`` computes them, so a 16:9 frame runs at 384x640 instead of padded to 640x640.
A graph whose N-sized constants are not exactly these is not a head this knows: ValueError, not a guess.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import onnx
from onnx import numpy_helper

GRID_CELL_OFFSET = 0.5  # anchor points are grid cell centres, in cells (ultralytics' make_anchors)


def with_input_size(model: onnx.ModelProto, hw: tuple[int, int]) -> onnx.ModelProto:
    """A copy of ``model`` whose input is 1x3xHxW and whose anchors, strides and reshapes fit it."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    [image] = [i for i in graph.input if i.name not in {t.name for t in graph.initializer}]
    [output] = graph.output
    image_dims, output_dims = _dims(image), _dims(output)
    if (len(image_dims), len(output_dims)) != (4, 3):
        raise ValueError(f"input {image_dims} and output {output_dims}: not a YOLOv8 detection export's "
                         "1x3xHxW and 1x(4+classes)xN")
    sizes = (*image_dims[2:], output_dims[2])
    if not all(isinstance(d, int) for d in sizes):
        raise ValueError(f"input {image_dims} or output {output_dims} has no static size: nothing to re-size")
    height, width, anchors = (int(d) for d in sizes)
    old_hw = (height, width)

    constants = list(_constants(graph))
    stride_tensors = [t for t in constants if tuple(t.dims) == (1, anchors)]
    if len(stride_tensors) != 1:
        raise ValueError(f"{len(stride_tensors)} constants shaped (1, {anchors}) where a YOLOv8 head has one, "
                         "its anchors' strides")
    strides = tuple(int(s) for s in dict.fromkeys(numpy_helper.to_array(stride_tensors[0]).ravel().tolist()))
    if any(side % max(strides) or side < max(strides) for side in hw):
        raise ValueError(f"input {hw} is not made of multiples of the head's largest stride {max(strides)}")
    old_points, old_strides = anchor_grid(old_hw, strides)
    points, stride_of = anchor_grid(hw, strides)

    rewritten = set()
    for tensor in constants:
        value = numpy_helper.to_array(tensor)
        if value.shape == (1, 2, anchors) and np.array_equal(value, old_points[None]):
            new, kind = points[None], "points"
        elif value.shape == (1, anchors) and np.array_equal(value, old_strides[None]):
            new, kind = stride_of[None], "strides"
        elif value.dtype == np.int64 and value.ndim == 1 and (value == anchors).sum() == 1:
            new, kind = np.where(value == anchors, len(stride_of), value), "reshapes"
        elif anchors in value.shape:
            raise ValueError(f"constant {tensor.name} {value.shape}: sized by the {anchors} anchors but neither "
                             f"their points nor their strides at {old_hw}")
        else:
            continue
        tensor.CopyFrom(numpy_helper.from_array(new.astype(value.dtype), tensor.name))
        rewritten.add(kind)
    if not {"points", "strides"} <= rewritten:
        raise ValueError(f"no anchor points or strides for {old_hw} among the constants: not a YOLOv8 head")

    _set_dims(image, (*image_dims[:2], *hw))
    _set_dims(output, (*output_dims[:2], len(stride_of)))
    del graph.value_info[:]  # shapes at the old size; onnxruntime infers them again
    onnx.checker.check_model(model)
    return model


def anchor_grid(hw: tuple[int, int], strides: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Anchor points (2 x N: x, y in cells, row-major per stride) and their strides (N), as make_anchors."""
    points, stride_of = [], []
    for stride in strides:
        rows, cols = hw[0] // stride, hw[1] // stride
        y, x = np.meshgrid(np.arange(rows) + GRID_CELL_OFFSET, np.arange(cols) + GRID_CELL_OFFSET, indexing="ij")
        points.append(np.stack([x.ravel(), y.ravel()]))
        stride_of.append(np.full(rows * cols, stride))
    return np.concatenate(points, 1).astype(np.float32), np.concatenate(stride_of).astype(np.float32)


def _constants(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Every constant tensor: the initializers and the Constant nodes' values."""
    yield from graph.initializer
    for node in graph.node:
        if node.op_type == "Constant":
            yield from (a.t for a in node.attribute if a.name == "value")


def _dims(value: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in value.type.tensor_type.shape.dim]


def _set_dims(value: onnx.ValueInfoProto, dims: tuple[int | str, ...]) -> None:
    shape = value.type.tensor_type.shape
    del shape.dim[:]
    for d in dims:
        shape.dim.add().CopyFrom(onnx.TensorShapeProto.Dimension(dim_value=d) if isinstance(d, int)
                                 else onnx.TensorShapeProto.Dimension(dim_param=d))
