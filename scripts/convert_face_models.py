"""Convert mediapipe's face models (Apache-2.0) from TFLite to the ONNX files fakescope ships.

    python scripts/convert_face_models.py MEDIAPIPE_DIR [--out src/fakescope/models/weights]

MEDIAPIPE_DIR is an unpacked mediapipe 0.10.21 wheel (or its installed package folder):
the three models are read from ``modules/face_detection`` and ``modules/face_landmark``.
Run once by a maintainer; needs the ``tflite`` schema package (pip install tflite) and
onnx (the [train] extra). Neither mediapipe nor TensorFlow is imported: the TFLite graph
is read as a flatbuffer and rewritten op by op.

- BlazeFace short range (128x128) and full range (192x192, sparse weights densified).
- FaceMesh with attention (192x192, 478 points): its three mediapipe custom ops
  (Landmarks2TransformMatrix, TransformTensorBilinear, TransformLandmarks) are expressed
  with standard ONNX operators, following mediapipe's reference kernels.

Weights stored as float16 are widened to float32 (onnxruntime's CPU kernels are float32);
activations are kept NCHW inside the graph, inputs stay NHWC like the originals.
``--check`` compares the outputs with the ai-edge-litert interpreter where it can load the
model (the detectors; the mesh needs mediapipe's custom ops, so it is compared end to end
by tests/test_face_models.py against the pipeline's previous outputs).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MODELS = {
    "face-detect-short": "modules/face_detection/face_detection_short_range.tflite",
    "face-detect-full": "modules/face_detection/face_detection_full_range_sparse.tflite",
    "face-mesh": "modules/face_landmark/face_landmark_with_attention.tflite",
}
OPSET = 18

_TFL_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}


class Converter:
    def __init__(self, path: Path) -> None:
        import tflite
        from tflite.BuiltinOperator import BuiltinOperator

        self.tflite = tflite
        self.op_names = {v: k for k, v in BuiltinOperator.__dict__.items() if not k.startswith("_")}
        self.buf = path.read_bytes()
        self.model = tflite.Model.GetRootAsModel(self.buf, 0)
        self.graph = self.model.Subgraphs(0)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.consts: dict[int, np.ndarray] = {}  # tflite tensor index -> folded constant
        self.names: dict[tuple[int, str], str] = {}  # (tensor, layout) -> onnx name
        self._uid = 0
        self.subsets: dict[str, list[int]] = {}

    # -- helpers -----------------------------------------------------------------
    def uid(self, stem: str) -> str:
        self._uid += 1
        return f"{stem}_{self._uid}"

    def tensor(self, i: int):  # type: ignore[no-untyped-def]
        return self.graph.Tensors(i)

    def shape(self, i: int) -> list[int]:
        return [int(d) for d in self.tensor(i).ShapeAsNumpy()]

    def raw(self, i: int) -> np.ndarray | None:
        t = self.tensor(i)
        data = self.model.Buffers(t.Buffer()).DataAsNumpy()
        if isinstance(data, int) or data.size == 0:
            return None
        dtype = _TFL_DTYPES[t.Type()]
        sp = t.Sparsity()
        if sp is not None:
            return self.densify(t, np.frombuffer(data.tobytes(), dtype))
        return np.frombuffer(data.tobytes(), dtype).reshape(self.shape(i))

    def densify(self, t, values: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
        """TFLite sparsity as these models use it: leading dimensions dense, the last one
        compressed (CSR segments + indices), no blocks."""
        sp = t.Sparsity()
        shape = [int(d) for d in t.ShapeAsNumpy()]
        order = list(sp.TraversalOrderAsNumpy())
        assert order == list(range(len(shape))) and sp.BlockMapLength() == 0, "unsupported sparsity"
        dims = [sp.DimMetadata(d) for d in range(sp.DimMetadataLength())]
        assert all(d.Format() == 0 for d in dims[:-1]) and dims[-1].Format() == 1

        def vec(union_type: int, table) -> np.ndarray:  # type: ignore[no-untyped-def]
            from tflite.Int32Vector import Int32Vector
            from tflite.Uint8Vector import Uint8Vector
            from tflite.Uint16Vector import Uint16Vector
            cls = {1: Int32Vector, 2: Uint16Vector, 3: Uint8Vector}[union_type]
            v = cls()
            v.Init(table.Bytes, table.Pos)
            return v.ValuesAsNumpy().astype(np.int64)

        last = dims[-1]
        segments = vec(last.ArraySegmentsType(), last.ArraySegments())
        indices = vec(last.ArrayIndicesType(), last.ArrayIndices())
        rows = int(np.prod(shape[:-1]))
        dense = np.zeros((rows, shape[-1]), values.dtype)
        for r in range(rows):
            lo, hi = segments[r], segments[r + 1]
            dense[r, indices[lo:hi]] = values[lo:hi]
        return dense.reshape(shape)

    def const(self, i: int) -> np.ndarray:
        if i in self.consts:
            return self.consts[i]
        v = self.raw(i)
        if v is None:
            raise KeyError(f"tensor {self.tensor(i).Name()} is not constant")
        return v

    def is_const(self, i: int) -> bool:
        if i in self.consts:
            return True
        return self.raw(i) is not None

    def init(self, value: np.ndarray, stem: str = "c") -> str:
        name = self.uid(stem)
        self.inits.append(numpy_helper.from_array(np.array(value, order="C"), name))  # keeps 0-d
        return name

    def node(self, op: str, inputs: list[str], stem: str = "t", n_out: int = 1, **attrs) -> str:
        outs = [self.uid(f"{op.lower()}") for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=self.uid(stem), **attrs))
        return outs[0]

    def get(self, i: int, layout: str) -> str:
        """The ONNX name of tflite tensor ``i`` in ``layout`` ("nchw" for 4-D activations,
        "nhwc" for the original order); transposes are inserted lazily and cached."""
        if (i, layout) in self.names:
            return self.names[(i, layout)]
        if self.is_const(i):
            v = self.const(i).astype(np.float32) if self.const(i).dtype == np.float16 else self.const(i)
            if layout == "nchw" and v.ndim == 4:
                v = v.transpose(0, 3, 1, 2)
            name = self.init(v)
        elif layout == "nchw":
            name = self.node("Transpose", [self.names[(i, "nhwc")]], perm=[0, 3, 1, 2])
        else:
            name = self.node("Transpose", [self.names[(i, "nchw")]], perm=[0, 2, 3, 1])
        self.names[(i, layout)] = name
        return name

    def put(self, i: int, name: str, layout: str) -> None:
        self.names[(i, layout)] = name

    def act(self, name: str, fused: int) -> str:
        if fused == 0:
            return name
        if fused == 1:
            return self.node("Relu", [name])
        if fused == 3:
            return self.node("Clip", [name, self.init(np.float32(0)), self.init(np.float32(6))])
        raise NotImplementedError(f"fused activation {fused}")

    @staticmethod
    def same_pads(size: list[int], kernel: list[int], stride: list[int], dil: list[int]) -> list[int]:
        begin, end = [], []
        for n, k, s, d in zip(size, kernel, stride, dil, strict=True):
            out = -(-n // s)
            total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
            begin.append(total // 2)
            end.append(total - total // 2)
        return begin + end

    def options(self, op, cls_name: str):  # type: ignore[no-untyped-def]
        mod = __import__(f"tflite.{cls_name}", fromlist=[cls_name])
        o = getattr(mod, cls_name)()
        t = op.BuiltinOptions()
        o.Init(t.Bytes, t.Pos)
        return o

    # -- ops ---------------------------------------------------------------------
    def convert(self) -> onnx.ModelProto:
        g = self.graph
        inputs, outputs = [], []
        for k in range(g.InputsLength()):
            i = g.Inputs(k)
            name = self.tensor(i).Name().decode()
            inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, self.shape(i)))
            self.put(i, name, "nhwc")
        for k in range(g.OperatorsLength()):
            self.convert_op(g.Operators(k))
        for k in range(g.OutputsLength()):
            i = g.Outputs(k)
            name = self.tensor(i).Name().decode()
            src = self.get(i, "nhwc" if len(self.shape(i)) == 4 else "plain")
            self.nodes.append(helper.make_node("Identity", [src], [name]))
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, self.shape(i)))
        graph = helper.make_graph(self.nodes, "converted", inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="fakescope convert_face_models.py")
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model

    def convert_op(self, op) -> None:  # type: ignore[no-untyped-def]
        oc = self.model.OperatorCodes(op.OpcodeIndex())
        kind = self.op_names[max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())]
        ins = [int(j) for j in op.InputsAsNumpy()]
        out = int(op.OutputsAsNumpy()[0])
        if kind == "DEQUANTIZE":
            self.consts[out] = self.const(ins[0]).astype(np.float32)
        elif kind == "DENSIFY":
            self.consts[out] = self.const(ins[0])
        elif kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            self.conv(op, kind, ins, out)
        elif kind == "MAX_POOL_2D":
            o = self.options(op, "Pool2DOptions")
            k, s = [o.FilterHeight(), o.FilterWidth()], [o.StrideH(), o.StrideW()]
            pads = self.same_pads(self.shape(ins[0])[1:3], k, s, [1, 1]) if o.Padding() == 0 else [0] * 4
            y = self.node("MaxPool", [self.get(ins[0], "nchw")], kernel_shape=k, strides=s, pads=pads)
            self.put(out, self.act(y, o.FusedActivationFunction()), "nchw")
        elif kind in ("ADD", "MUL"):
            cls = "AddOptions" if kind == "ADD" else "MulOptions"
            o = self.options(op, cls)
            layout = "nchw" if len(self.shape(out)) == 4 else "plain"
            a, b = (self.operand(j, layout, self.shape(out)) for j in ins)
            y = self.node("Add" if kind == "ADD" else "Mul", [a, b])
            self.put(out, self.act(y, o.FusedActivationFunction()), layout)
        elif kind == "RELU":
            self.put(out, self.node("Relu", [self.get(ins[0], "nchw")]), "nchw")
        elif kind == "PRELU":
            alpha = self.const(ins[1]).astype(np.float32)
            c = self.shape(out)[-1]
            slope = np.broadcast_to(alpha.reshape(-1)[-c:] if alpha.size >= c else alpha, (c,))
            # Relu(x) + slope * (x - Relu(x)) is PRelu exactly; onnxruntime's own PRelu
            # broadcasts the slope element by element (FaceMesh 10.7 ms -> 8.4 ms, same outputs).
            x = self.get(ins[0], "nchw")
            pos = self.node("Relu", [x])
            neg = self.node("Sub", [x, pos])
            scaled = self.node("Mul", [neg, self.init(slope.reshape(c, 1, 1).copy())])
            self.put(out, self.node("Add", [pos, scaled]), "nchw")
        elif kind == "PAD":
            p = self.const(ins[1]).astype(np.int64)  # [[n0,n1],[h0,h1],[w0,w1],[c0,c1]]
            order = [0, 3, 1, 2]
            pads = [int(p[d, 0]) for d in order] + [int(p[d, 1]) for d in order]
            y = self.node("Pad", [self.get(ins[0], "nchw"), self.init(np.array(pads, np.int64))])
            self.put(out, y, "nchw")
        elif kind == "RESHAPE":
            src = self.get(ins[0], "nhwc") if len(self.shape(ins[0])) == 4 else self.get(ins[0], "plain")
            shape = np.array(self.shape(out), np.int64)
            y = self.node("Reshape", [src, self.init(shape)])
            self.put(out, y, "nhwc" if len(shape) == 4 else "plain")
        elif kind == "CONCATENATION":
            o = self.options(op, "ConcatenationOptions")
            nd = len(self.shape(out))
            axis = o.Axis() % nd
            if nd == 4:
                axis = [0, 2, 3, 1][axis]
                srcs = [self.get(j, "nchw") for j in ins]
            else:
                srcs = [self.get(j, "plain") for j in ins]
            y = self.node("Concat", srcs, axis=axis)
            self.put(out, self.act(y, o.FusedActivationFunction()), "nchw" if nd == 4 else "plain")
        elif kind == "RESIZE_BILINEAR":
            o = self.options(op, "ResizeBilinearOptions")
            mode = ("align_corners" if o.AlignCorners() else
                    "half_pixel" if o.HalfPixelCenters() else "asymmetric")
            n, h, w, c = self.shape(out)
            sizes = self.init(np.array([n, c, h, w], np.int64))
            y = self.node("Resize", [self.get(ins[0], "nchw"), "", "", sizes], mode="linear",
                          coordinate_transformation_mode=mode)
            self.put(out, y, "nchw")
        elif kind == "DEPTH_TO_SPACE":
            o = self.options(op, "DepthToSpaceOptions")
            y = self.node("DepthToSpace", [self.get(ins[0], "nchw")], blocksize=o.BlockSize(), mode="DCR")
            self.put(out, y, "nchw")
        elif kind == "STRIDED_SLICE":
            begin, end, stride = (self.const(j) for j in ins[1:4])
            shape = self.shape(ins[0])
            assert (begin == 0).all() and (stride == 1).all() and (end >= np.array(shape)).all(), \
                "only identity slices are supported"
            self.put(out, self.get(ins[0], "nhwc") if len(shape) == 4 else self.get(ins[0], "plain"),
                     "nhwc" if len(shape) == 4 else "plain")
        elif kind == "CUSTOM":
            self.custom(op, oc.CustomCode().decode(), ins, out)
        else:
            raise NotImplementedError(kind)

    def operand(self, i: int, layout: str, out_shape: list[int]) -> str:
        if self.is_const(i):
            v = self.const(i).astype(np.float32)
            if layout == "nchw":
                if v.ndim == 4:
                    v = v.transpose(0, 3, 1, 2)
                elif v.size == out_shape[-1] and v.size > 1:
                    v = v.reshape(1, -1, 1, 1)
                elif v.size == 1:
                    v = v.reshape(())
                else:
                    raise NotImplementedError(f"broadcast of {v.shape} to NCHW")
            return self.init(v)
        nd = len(self.shape(i))
        if layout == "nchw":
            assert nd == 4
            return self.get(i, "nchw")
        return self.get(i, "plain")

    def conv(self, op, kind: str, ins: list[int], out: int) -> None:  # type: ignore[no-untyped-def]
        depthwise = kind == "DEPTHWISE_CONV_2D"
        o = self.options(op, "DepthwiseConv2DOptions" if depthwise else "Conv2DOptions")
        w = self.const(ins[1]).astype(np.float32)
        if depthwise:
            c_out = w.shape[3]
            weight = w.transpose(3, 0, 1, 2)  # [1,kh,kw,C*m] -> [C*m,1,kh,kw]
            group = self.shape(ins[0])[3]
        else:
            weight = w.transpose(0, 3, 1, 2)  # OHWI -> OIHW
            c_out, group = w.shape[0], 1
        k = list(weight.shape[2:])
        s = [o.StrideH(), o.StrideW()]
        d = [o.DilationHFactor(), o.DilationWFactor()]
        pads = self.same_pads(self.shape(ins[0])[1:3], k, s, d) if o.Padding() == 0 else [0] * 4
        args = [self.get(ins[0], "nchw"), self.init(weight)]
        if len(ins) > 2 and ins[2] >= 0:
            args.append(self.init(self.const(ins[2]).astype(np.float32).reshape(c_out)))
        y = self.node("Conv", args, kernel_shape=k, strides=s, dilations=d, pads=pads, group=group)
        self.put(out, self.act(y, o.FusedActivationFunction()), "nchw")

    # -- mediapipe's custom ops ------------------------------------------------------
    def scalar(self, x: float) -> str:
        return self.init(np.array(x, np.float32))

    def custom(self, op, code: str, ins: list[int], out: int) -> None:  # type: ignore[no-untyped-def]
        from flatbuffers import flexbuffers

        raw = bytes(op.CustomOptionsAsNumpy()) if op.CustomOptionsLength() else b""
        opts = flexbuffers.Loads(raw) if raw else {}
        if code == "Landmarks2TransformMatrix":
            # which region each crop is for: lips around the mouth corners, eyes otherwise
            key = {61: "lips", 33: "left_eye", 362: "right_eye"}[opts["left_rotation_idx"]]
            self.subsets[key] = list(opts["subset_idxs"])
            self.put(out, self.landmarks_to_matrix(self.get(ins[0], "plain"), opts), "plain")
        elif code == "TransformTensorBilinear":
            _, oh, ow, _ = self.shape(out)
            feats = self.get(ins[0], "nchw")
            h, w = self.shape(ins[0])[1:3]
            self.put(out, self.transform_bilinear(feats, self.get(ins[1], "plain"), h, w, oh, ow), "nchw")
        elif code == "TransformLandmarks":
            pts = self.get(ins[0], "plain")  # [1,N,2]
            m = self.get(ins[1], "plain")  # [1,4,4]
            n = self.shape(ins[0])[1]
            ones = self.init(np.ones((1, n, 1), np.float32))
            zeros = self.init(np.zeros((1, n, 1), np.float32))
            xyzw = self.node("Concat", [pts, zeros, ones], axis=2)  # [1,N,4]
            rows = self.node("Slice", [m, self.init(np.array([0], np.int64)),
                                       self.init(np.array([2], np.int64)),
                                       self.init(np.array([1], np.int64))])  # [1,2,4]
            rows_t = self.node("Transpose", [rows], perm=[0, 2, 1])  # [1,4,2]
            self.put(out, self.node("MatMul", [xyzw, rows_t]), "plain")
        else:
            raise NotImplementedError(code)

    def landmarks_to_matrix(self, lm: str, o: dict) -> str:
        """mediapipe's Landmarks2TransformMatrix v2: a 4x4 matrix mapping the output crop's
        pixel grid onto the landmarks' frame (rotation from two landmarks, centre and size
        from the subset's box in the rotated frame, times scale_x/scale_y)."""
        assert o["target_rotation_radians"] == 0.0
        i64 = lambda v: self.init(np.array(v, np.int64))  # noqa: E731
        xy = self.node("Slice", [lm, i64([0]), i64([2]), i64([2])])  # [1,468,2]
        left = self.node("Gather", [xy, i64(o["left_rotation_idx"])], axis=1)  # [1,2]
        right = self.node("Gather", [xy, i64(o["right_rotation_idx"])], axis=1)
        d = self.node("Sub", [right, left])  # (dx, dy)
        norm = self.node("Sqrt", [self.node("ReduceSum", [self.node("Mul", [d, d]), i64([1])],
                                            keepdims=1)])
        u = self.node("Div", [d, norm])  # (cos t, sin t) of t = atan2(dy, dx); r = -t
        cos_r = self.node("Slice", [u, i64([0]), i64([1]), i64([1])])  # [1,1]
        sin_t = self.node("Slice", [u, i64([1]), i64([2]), i64([1])])
        sin_r = self.node("Neg", [sin_t])
        pts = self.node("Gather", [xy, i64(list(o["subset_idxs"]))], axis=1)  # [1,K,2]
        px = self.node("Slice", [pts, i64([0]), i64([1]), i64([2])])  # [1,K,1]
        py = self.node("Slice", [pts, i64([1]), i64([2]), i64([2])])
        cr = self.node("Unsqueeze", [cos_r, i64([2])])  # [1,1,1]
        sr = self.node("Unsqueeze", [sin_r, i64([2])])
        rx = self.node("Sub", [self.node("Mul", [cr, px]), self.node("Mul", [sr, py])])
        ry = self.node("Add", [self.node("Mul", [sr, px]), self.node("Mul", [cr, py])])
        def span(v: str) -> tuple[str, str]:
            lo = self.node("ReduceMin", [v, i64([1, 2])], keepdims=0)  # [1]
            hi = self.node("ReduceMax", [v, i64([1, 2])], keepdims=0)
            return lo, hi
        xlo, xhi = span(rx)
        ylo, yhi = span(ry)
        half = self.scalar(0.5)
        cw = self.node("Sub", [xhi, xlo])
        ch = self.node("Sub", [yhi, ylo])
        mx = self.node("Mul", [self.node("Add", [xlo, xhi]), half])
        my = self.node("Mul", [self.node("Add", [ylo, yhi]), half])
        c1 = self.node("Reshape", [cos_r, i64([1])])
        s1 = self.node("Reshape", [sin_r, i64([1])])
        # back through the inverse rotation (angle -r)
        cx = self.node("Add", [self.node("Mul", [c1, mx]), self.node("Mul", [s1, my])])
        cy = self.node("Sub", [self.node("Mul", [c1, my]), self.node("Mul", [s1, mx])])
        ow, oh = float(o["output_width"]), float(o["output_height"])
        sx = self.node("Mul", [cw, self.scalar(o["scale_x"] / ow)])
        sy = self.node("Mul", [ch, self.scalar(o["scale_y"] / oh)])
        # A = R(-r) * diag(sx, sy), R(-r) = [[c, s], [-s, c]]
        a00 = self.node("Mul", [c1, sx])
        a01 = self.node("Mul", [s1, sy])
        a10 = self.node("Neg", [self.node("Mul", [s1, sx])])
        a11 = self.node("Mul", [c1, sy])
        hx, hy = self.scalar(ow / 2), self.scalar(oh / 2)
        def dot(u: str, v: str) -> str:
            return self.node("Add", [self.node("Mul", [u, hx]), self.node("Mul", [v, hy])])
        tx = self.node("Sub", [cx, dot(a00, a01)])
        ty = self.node("Sub", [cy, dot(a10, a11)])
        zero, one = self.init(np.zeros(1, np.float32)), self.init(np.ones(1, np.float32))
        flat = self.node("Concat", [a00, a01, zero, tx, a10, a11, zero, ty,
                                    zero, zero, one, zero, zero, zero, zero, one], axis=0)
        return self.node("Reshape", [flat, i64([1, 4, 4])])

    def transform_bilinear(self, feats: str, m: str, h: int, w: int, oh: int, ow: int) -> str:
        """mediapipe's TransformTensorBilinear v2 (align-corners corrected): each output
        pixel samples the matrix-mapped point bilinearly; points outside the input are 0."""
        i64 = lambda v: self.init(np.array(v, np.int64))  # noqa: E731
        gy, gx = np.mgrid[0:oh, 0:ow].astype(np.float32)
        # v2's correction T -> S*T*A: pixel centres shift by half a pixel on both sides
        grid = np.stack([gx + 0.5, gy + 0.5, np.zeros_like(gx), np.ones_like(gx)], -1)  # [oh,ow,4]
        rows = self.node("Slice", [m, i64([0]), i64([2]), i64([1])])  # [1,2,4]
        rows_t = self.node("Transpose", [rows], perm=[0, 2, 1])  # [1,4,2]
        pts = self.node("MatMul", [self.init(grid.reshape(1, oh * ow, 4)), rows_t])  # [1,P,2]
        pts = self.node("Sub", [pts, self.scalar(0.5)])
        lim = self.init(np.array([w - 1, h - 1], np.float32))
        inside = self.node("And", [self.node("GreaterOrEqual", [pts, self.scalar(0.0)]),
                                   self.node("LessOrEqual", [pts, lim])])
        inside = self.node("Cast", [inside], to=TensorProto.FLOAT)
        inside = self.node("ReduceProd", [inside, i64([2])], keepdims=0)  # [1,P]
        norm = self.node("Sub", [self.node("Mul", [pts, self.init(np.array([2 / (w - 1), 2 / (h - 1)],
                                                                          np.float32))]),
                                 self.scalar(1.0)])
        grid4 = self.node("Reshape", [norm, i64([1, oh, ow, 2])])
        sampled = self.node("GridSample", [feats, grid4], mode="bilinear", padding_mode="zeros",
                            align_corners=1)  # [1,C,oh,ow]
        mask = self.node("Reshape", [inside, i64([1, 1, oh, ow])])
        return self.node("Mul", [sampled, mask])


# mediapipe's LandmarksRefinementCalculator for FaceMesh with attention: the lips and eyes
# sub-models' points replace the mesh's at these indices (the same lists the model's own
# Landmarks2TransformMatrix ops crop around), the irises are appended as 468..477.
REFINE = {
    "output_lips": "lips", "output_left_eye": "left_eye", "output_right_eye": "right_eye",
}


def refine_mesh(model: onnx.ModelProto, subsets: dict[str, list[int]]) -> onnx.ModelProto:
    """Rewrite FaceMesh's seven outputs as two: ``landmarks`` [1,478,2] (x, y in the 192 px
    input) and ``face_flag`` [1,1] (presence logit)."""
    g = model.graph
    nodes = list(g.node)
    inits = list(g.initializer)
    outs = {o.name: o for o in g.output}

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    def add(op: str, inputs: list[str], out: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [out], name=f"refine_{out}", **attrs))
        return out

    def xy(name: str, n: int, dims: int) -> str:
        r = add("Reshape", [name, const(f"{name}_shape", np.array([n, dims], np.int64))], f"{name}_pts")
        if dims == 2:
            return r
        return add("Slice", [r, const(f"{name}_s0", np.array([0], np.int64)),
                             const(f"{name}_s1", np.array([2], np.int64)),
                             const(f"{name}_ax", np.array([1], np.int64))], f"{name}_xy")

    mesh = xy("output_mesh_identity", 468, 3)
    for tensor, key in REFINE.items():
        idx = np.array(subsets[key], np.int64).reshape(-1, 1)
        upd = xy(tensor, len(idx), 2)
        mesh = add("ScatterND", [mesh, const(f"{tensor}_idx", idx), upd], f"mesh_with_{key}")
    irises = [xy(t, 5, 2) for t in ("output_left_iris", "output_right_iris")]
    pts = add("Concat", [mesh, *irises], "all_points", axis=0)
    add("Reshape", [pts, const("landmarks_shape", np.array([1, 478, 2], np.int64))], "landmarks")
    add("Reshape", ["conv_faceflag", const("flag_shape", np.array([1, 1], np.int64))], "face_flag")
    # the old outputs were Identity nodes named after the outputs: keep them as internals
    del outs
    new_graph = helper.make_graph(
        nodes, g.name, list(g.input),
        [helper.make_tensor_value_info("landmarks", TensorProto.FLOAT, [1, 478, 2]),
         helper.make_tensor_value_info("face_flag", TensorProto.FLOAT, [1, 1])], inits)
    out = helper.make_model(new_graph, opset_imports=list(model.opset_import),
                            producer_name=model.producer_name)
    out.ir_version = model.ir_version
    onnx.checker.check_model(out)
    return out


def check_with_litert(tfl: Path, onnx_path: Path, n: int = 5) -> float:
    """Largest absolute difference of every output over ``n`` random inputs."""
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(tfl))
    it.allocate_tensors()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(n):
        inp = it.get_input_details()[0]
        x = rng.uniform(-1, 1, inp["shape"]).astype(np.float32)
        it.set_tensor(inp["index"], x)
        it.invoke()
        ref = {d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()}
        got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {inp["name"]: x}), strict=True))
        for k, v in ref.items():
            worst = max(worst, float(np.abs(v - got[k]).max()))
    return worst


CARDS = {
    "face-detect-short": dict(
        task="face detection, faces within ~2 m of the camera (BlazeFace short range)",
        architecture="BlazeFace short range: 128x128 input, 896 SSD anchors (strides 8, 16), "
                     "box + 6 keypoints per anchor",
        input=dict(kind="face_detector", size=128, margin=1.0, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                   layout="NHWC", border="black"),
        outputs={"regressors": "[1,896,16] box (cx, cy, w, h) and 6 keypoints, pixels of the input, "
                               "relative to the anchor centre",
                 "classificators": "[1,896,1] face logit per anchor"},
        threshold=0.5),
    "face-detect-full": dict(
        task="face detection, small and distant faces (BlazeFace full range)",
        architecture="BlazeFace full range (sparse weights densified): 192x192 input, 2304 SSD anchors "
                     "(stride 4), box + 6 keypoints per anchor",
        input=dict(kind="face_detector", size=192, margin=1.0, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                   layout="NHWC", border="black"),
        outputs={"Identity": "[1,2304,16] box (cx, cy, w, h) and 6 keypoints, pixels of the input, "
                             "relative to the anchor centre",
                 "Identity_1": "[1,2304,1] face logit per anchor"},
        threshold=0.5),
    "face-mesh": dict(
        task="478 face landmarks (FaceMesh with attention: mesh, refined lips, eyes, irises)",
        architecture="FaceMesh with attention: 192x192 face crop -> 468-point mesh; lips and eye "
                     "sub-networks on attention crops of a 48x48 feature map; irises; mediapipe's "
                     "custom crop ops as ONNX GridSample",
        input=dict(kind="face_landmarks", size=192, margin=1.5, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
                   layout="NHWC", border="replicate"),
        outputs={"landmarks": "[1,478,2] x, y in input pixels (mesh refined by lips and eyes; irises "
                              "468-477)",
                 "face_flag": "[1,1] face-presence logit"},
        threshold=0.5),
}


def write_card(out: Path, name: str, digest: str, tflite_rel: str, tflite_sha: str) -> None:
    """The model's card; metrics (agreement with mediapipe, detection recall) are added by
    ``scripts/face_models_check.py`` after measuring."""
    import datetime as dt

    from fakescope.models.card import ModelCard

    path = out / f"{name}.card.json"
    metrics = []
    if path.is_file():
        old = ModelCard.load(path)
        metrics = [m.model_dump() for m in old.metrics] if old.sha256 == digest else []
    c = CARDS[name]
    card = ModelCard(
        name=name, version="0.10.21", task=c["task"], file=f"{name}.onnx", sha256=digest,
        architecture=c["architecture"], input=c["input"], outputs=c["outputs"],
        threshold=c["threshold"], inconclusive_band=(0.0, 0.0),
        training_data=["Google's own data (mediapipe model cards: BlazeFace, MediaPipe Face Mesh "
                       "with attention); not retrained by fakescope"],
        training_command=f"python scripts/convert_face_models.py MEDIAPIPE_DIR  # {tflite_rel}, "
                         f"tflite sha256 {tflite_sha}",
        starting_weights={"name": f"mediapipe 0.10.21 {Path(tflite_rel).name}",
                          "source": "https://pypi.org/project/mediapipe/0.10.21/ (wheel contents)",
                          "license": "Apache-2.0"},
        license="Apache-2.0 (mediapipe's model; converted to ONNX by fakescope)",
        metrics=metrics,
        limitations=["Converted, not retrained: the accuracy and biases are mediapipe's (see its model "
                     "cards); fakescope measures only agreement with the original and recall on its own "
                     "dev faces."],
        created=dt.date.today(),
    )
    card.save(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mediapipe_dir", type=Path)
    ap.add_argument("--out", type=Path, default=Path("src/fakescope/models/weights"))
    ap.add_argument("--check", action="store_true", help="compare with ai-edge-litert (detectors)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, rel in MODELS.items():
        src = args.mediapipe_dir / rel
        conv = Converter(src)
        model = conv.convert()
        if name == "face-mesh":
            model = refine_mesh(model, conv.subsets)
        dest = args.out / f"{name}.onnx"
        onnx.save(model, dest)
        digest = hashlib.sha256(dest.read_bytes()).hexdigest()
        tflite_sha = hashlib.sha256(src.read_bytes()).hexdigest()
        write_card(args.out, name, digest, rel, tflite_sha)
        line = {"model": name, "from": rel, "tflite_sha256": tflite_sha,
                "onnx": str(dest), "sha256": digest, "bytes": dest.stat().st_size}
        if args.check and name != "face-mesh":
            line["max_abs_diff_vs_tflite"] = check_with_litert(src, dest)
        print(json.dumps(line))


if __name__ == "__main__":
    main()
