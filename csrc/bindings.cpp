// pybind11 binding `qgac_fast._jpeg`: a thin layer over jpeg_codec.h, float_decode.h and
// distinct.h. It converts arguments, releases the GIL around all libjpeg work, hands the
// coefficient buffers to numpy without copying (a capsule owns them) and turns a failed Status into
// the matching Python exception.
// The public API with its documentation is qgac_fast/codec.py.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "distinct.h"
#include "float_decode.h"
#include "jpeg_codec.h"

namespace py = pybind11;

namespace {

const char* color_space_name(qgac::ColorSpace space) {
  switch (space) {
    case qgac::ColorSpace::kGray:
      return "gray";
    case qgac::ColorSpace::kRGB:
      return "rgb";
    default:
      return "ycbcr";
  }
}

qgac::ColorSpace parse_color_space(const std::string& name) {
  if (name == "gray") return qgac::ColorSpace::kGray;
  if (name == "ycbcr") return qgac::ColorSpace::kYCbCr;
  if (name == "rgb") return qgac::ColorSpace::kRGB;
  throw py::value_error("color_space must be 'gray', 'ycbcr' or 'rgb', got '" + name + "'");
}

// Raises the Python exception for a failed result.
[[noreturn]] void raise_error(const qgac::Result& result) {
  switch (result.status) {
    case qgac::Status::kOutOfMemory:
      PyErr_SetString(PyExc_MemoryError, result.message.c_str());
      throw py::error_already_set();
    case qgac::Status::kInvalidArgument:
      throw py::value_error(result.message);
    default: {
      // The exception classes live in Python so that they document and pickle like any other.
      const char* name = result.status == qgac::Status::kUnsupported ? "UnsupportedJPEGError" : "JPEGError";
      py::object type = py::module_::import("qgac_fast.errors").attr(name);
      PyErr_SetString(type.ptr(), result.message.c_str());
      throw py::error_already_set();
    }
  }
}

// (width, height, color_space, progressive, coefficients, tables, slots, sampling, markers), with
// one int16 (blocks_h, blocks_w, 8, 8) array and one int32 (8, 8) table per component (components
// that share a table share one array object) and markers a tuple of (code, payload bytes).
py::tuple to_python(qgac::JPEGData& data) {
  py::list tables;
  for (const auto& values : data.tables) {
    py::array_t<int32_t> table({8, 8});
    std::memcpy(table.mutable_data(), values.data(), sizeof(int32_t) * 64);
    tables.append(table);
  }
  py::list coefficients, component_tables, slots, sampling;
  for (auto& comp : data.components) {
    // The capsule takes ownership only once it exists, so nothing leaks if creating it fails.
    py::capsule owner(comp.coefficients.get(), [](void* p) { std::free(p); });
    int16_t* raw = comp.coefficients.release();
    coefficients.append(py::array_t<int16_t>({comp.blocks_h, comp.blocks_w, 8, 8}, raw, owner));
    component_tables.append(tables[comp.table_index]);
    slots.append(comp.table_slot);
    sampling.append(py::make_tuple(comp.h_samp, comp.v_samp));
  }
  py::list markers;
  for (const auto& marker : data.markers) {
    markers.append(py::make_tuple(marker.code, py::bytes(reinterpret_cast<const char*>(marker.data.data()),
                                                         marker.data.size())));
  }
  return py::make_tuple(data.width, data.height, color_space_name(data.color_space), data.progressive,
                        py::tuple(coefficients), py::tuple(component_tables), py::tuple(slots), py::tuple(sampling),
                        py::tuple(markers));
}

// A read-only, contiguous view of any buffer-protocol object, released with the GIL held. While
// it exists a bytearray cannot be resized under the reader.
class BufferView {
 public:
  explicit BufferView(const py::handle& obj) {
    if (PyObject_GetBuffer(obj.ptr(), &view_, PyBUF_SIMPLE) != 0) throw py::error_already_set();
  }
  ~BufferView() { PyBuffer_Release(&view_); }
  BufferView(const BufferView&) = delete;
  BufferView& operator=(const BufferView&) = delete;
  const uint8_t* data() const { return static_cast<const uint8_t*>(view_.buf); }
  size_t size() const { return static_cast<size_t>(view_.len); }

 private:
  Py_buffer view_;
};

qgac::ReadOptions read_options(bool strict, uint64_t max_pixels, uint64_t max_pixels_per_byte) {
  qgac::ReadOptions options;
  options.strict = strict;
  options.max_pixels = max_pixels;
  options.max_pixels_per_byte = max_pixels_per_byte;
  return options;
}

py::tuple read_buffer(const py::object& src, bool strict, uint64_t max_pixels,
                      uint64_t max_pixels_per_byte) {
  BufferView buffer(src);
  const qgac::ReadOptions options = read_options(strict, max_pixels, max_pixels_per_byte);
  qgac::JPEGData data;
  qgac::Result result;
  {
    py::gil_scoped_release release;
    result = qgac::read_coefficients(buffer.data(), buffer.size(), options, data);
  }
  if (result.status != qgac::Status::kOk) raise_error(result);
  return to_python(data);
}

using CoefficientArray = py::array_t<int16_t, py::array::c_style>;
using TableArray = py::array_t<int32_t, py::array::c_style>;

// The frame of a write or decode request: size, colour space and each component's arrays
// (borrowed: the arrays must outlive the request).
qgac::WriteRequest frame_request(int width, int height, const std::string& color_space,
                                 const std::vector<CoefficientArray>& coefficients,
                                 const std::vector<TableArray>& tables, const std::vector<int>& slots,
                                 const std::vector<std::pair<int, int>>& sampling) {
  const size_t n = coefficients.size();
  if (tables.size() != n || slots.size() != n || sampling.size() != n) {
    throw py::value_error("coefficients, tables, slots and sampling need one entry per component");
  }
  qgac::WriteRequest request;
  request.width = width;
  request.height = height;
  request.color_space = parse_color_space(color_space);
  for (size_t ci = 0; ci < n; ++ci) {
    const CoefficientArray& coef = coefficients[ci];
    if (coef.ndim() != 4 || coef.shape(2) != 8 || coef.shape(3) != 8) {
      throw py::value_error("component " + std::to_string(ci) + ": coefficients must have shape (blocks_h, blocks_w, 8, 8)");
    }
    if (tables[ci].size() != 64) {
      throw py::value_error("component " + std::to_string(ci) + ": quantization table must have 64 entries");
    }
    qgac::WriteComponent comp;
    comp.h_samp = sampling[ci].first;
    comp.v_samp = sampling[ci].second;
    comp.table_slot = slots[ci];
    comp.blocks_h = static_cast<int>(coef.shape(0));
    comp.blocks_w = static_cast<int>(coef.shape(1));
    comp.coefficients = coef.data();
    comp.table = tables[ci].data();
    request.components.push_back(comp);
  }
  return request;
}

py::bytes write_jpeg(int width, int height, const std::string& color_space, const std::vector<CoefficientArray>& coefficients,
                const std::vector<TableArray>& tables, const std::vector<int>& slots,
                const std::vector<std::pair<int, int>>& sampling, bool optimize,
                const std::vector<std::pair<int, py::bytes>>& markers) {
  qgac::WriteRequest request = frame_request(width, height, color_space, coefficients, tables, slots, sampling);
  request.optimize = optimize;
  for (const auto& [code, payload] : markers) {
    const std::string_view bytes = payload;
    request.markers.push_back(qgac::Marker{code, std::vector<uint8_t>(bytes.begin(), bytes.end())});
  }
  qgac::MallocBuffer out;
  size_t size = 0;
  qgac::Result result;
  {
    py::gil_scoped_release release;
    result = qgac::write_coefficients(request, out, size);
  }
  if (result.status != qgac::Status::kOk) raise_error(result);
  return py::bytes(reinterpret_cast<const char*>(out.get()), size);
}

// uint8 (channels, height, width) pixels of the frame, decoded by libjpeg (see decode_pixels).
py::array_t<uint8_t> decode_pixels(int width, int height, const std::string& color_space,
                                   const std::vector<CoefficientArray>& coefficients,
                                   const std::vector<TableArray>& tables, const std::vector<int>& slots,
                                   const std::vector<std::pair<int, int>>& sampling, bool fancy) {
  qgac::WriteRequest request = frame_request(width, height, color_space, coefficients, tables, slots, sampling);
  if (width < 1 || height < 1) throw py::value_error("image size must be positive");
  const py::ssize_t channels = request.color_space == qgac::ColorSpace::kGray ? 1 : 3;
  py::array_t<uint8_t> out({channels, static_cast<py::ssize_t>(height), static_cast<py::ssize_t>(width)});
  uint8_t* pixels = out.mutable_data();
  qgac::Result result;
  {
    py::gil_scoped_release release;
    result = qgac::decode_pixels(request, fancy, pixels);
  }
  if (result.status != qgac::Status::kOk) raise_error(result);
  return out;
}

using FloatArray = py::array_t<float, py::array::c_style>;

// Decodes normalised float planes into `out` (see float_decode.h; qgac_fast/native.py checks the
// arguments first, and the shapes are checked again here, since a wrong one would read out of bounds).
void float_decode(const FloatArray& luma, const std::optional<FloatArray>& chroma, const std::optional<FloatArray>& mean,
                  const std::optional<FloatArray>& scale, const std::optional<FloatArray>& bins,
                  const std::optional<FloatArray>& half_steps, const FloatArray& dct, const FloatArray& colour,
                  py::array_t<uint8_t, py::array::c_style>& out, int threads) {
  if (luma.ndim() != 3 || luma.shape(1) % 8 || luma.shape(2) % 8) {
    throw py::value_error("luma must be (n, h, w) with h and w multiples of 8");
  }
  const py::ssize_t n = luma.shape(0), h = luma.shape(1), w = luma.shape(2), channels = chroma ? 3 : 1;
  if (chroma && (chroma->ndim() != 4 || chroma->shape(0) != n || chroma->shape(1) != 2 || chroma->shape(2) != h ||
                 chroma->shape(3) != w)) {
    throw py::value_error("chroma must be (n, 2, h, w) on the luma's grid");
  }
  if (mean.has_value() != scale.has_value()) throw py::value_error("mean and std go together");
  for (const auto* table : {mean ? &*mean : nullptr, scale ? &*scale : nullptr}) {
    if (table && (table->ndim() != 3 || table->shape(0) != channels || table->shape(1) != 8 || table->shape(2) != 8)) {
      throw py::value_error("mean and std must be (channels, 8, 8)");
    }
  }
  if (bins.has_value() != half_steps.has_value()) throw py::value_error("bins and half_steps go together");
  if (bins && (bins->ndim() != 3 || bins->shape(0) != n || bins->shape(1) != h || bins->shape(2) != w ||
               half_steps->ndim() != 2 || half_steps->shape(0) != n || half_steps->shape(1) != 64)) {
    throw py::value_error("bins must be (n, h, w) as the luma and half_steps (n, 64)");
  }
  if (dct.size() != 64 || colour.size() != 9) throw py::value_error("dct must be (8, 8) and colour (3, 3)");
  if (out.ndim() != 4 || out.shape(0) != n || out.shape(1) != channels || out.shape(2) > h || out.shape(3) > w) {
    throw py::value_error("out must be (n, channels, height, width) within the planes");
  }
  qgac::FloatDecodeRequest request;
  request.luma = luma.data();
  request.chroma = chroma ? chroma->data() : nullptr;
  request.mean = mean ? mean->data() : nullptr;
  request.std = scale ? scale->data() : nullptr;
  request.bins = bins ? bins->data() : nullptr;
  request.half_steps = half_steps ? half_steps->data() : nullptr;
  request.dct = dct.data();
  request.colour = colour.data();
  request.n = n;
  request.plane_h = h;
  request.plane_w = w;
  request.height = out.shape(2);
  request.width = out.shape(3);
  request.out = out.mutable_data();
  request.threads = threads;
  py::gil_scoped_release release;
  qgac::float_decode(request);
}

// The first occurrence of each distinct row of a 2-D byte array, as ascending int64 indices.
py::array_t<int64_t> distinct_rows(const py::array_t<uint8_t, py::array::c_style>& rows) {
  if (rows.ndim() != 2) throw py::value_error("rows must be 2-D");
  std::vector<int64_t> kept;
  {
    py::gil_scoped_release release;
    kept = qgac::distinct_rows(rows.data(), rows.shape(0), rows.shape(1));
  }
  py::array_t<int64_t> out(static_cast<py::ssize_t>(kept.size()));
  if (!kept.empty()) std::memcpy(out.mutable_data(), kept.data(), kept.size() * sizeof(int64_t));
  return out;
}

}  // namespace

PYBIND11_MODULE(_jpeg, m) {
  m.doc() = "libjpeg-turbo coefficient codec (private; use qgac_fast.codec).";
  m.def("read_buffer", &read_buffer, py::arg("src"), py::arg("strict"), py::arg("max_pixels"),
        py::arg("max_pixels_per_byte"),
        "Read a JPEG held in a contiguous buffer; a limit of 0 disables that limit.");
  m.def("write", &write_jpeg, py::arg("width"), py::arg("height"), py::arg("color_space"), py::arg("coefficients"),
        py::arg("tables"), py::arg("slots"), py::arg("sampling"), py::arg("optimize"),
        py::arg("markers"), "Encode coefficient arrays losslessly with APPn (code, payload) markers; returns the JPEG "
        "file as bytes.");
  m.def("decode_pixels", &decode_pixels, py::arg("width"), py::arg("height"), py::arg("color_space"),
        py::arg("coefficients"), py::arg("tables"), py::arg("slots"), py::arg("sampling"), py::arg("fancy"),
        "Decode coefficient arrays to uint8 (channels, height, width) pixels with libjpeg.");
  m.def("float_decode", &float_decode, py::arg("luma").noconvert(), py::arg("chroma").noconvert(),
        py::arg("mean").noconvert(), py::arg("std").noconvert(), py::arg("bins").noconvert(),
        py::arg("half_steps").noconvert(), py::arg("dct").noconvert(),
        py::arg("colour").noconvert(), py::arg("out").noconvert(), py::arg("threads"),
        "Decode normalised float32 coefficient planes on one grid (Y clamped to its bins) into a uint8 "
        "(n, channels, height, width) array.");
  m.def("distinct_rows", &distinct_rows, py::arg("rows").noconvert(),
        "Ascending indices of the first occurrence of each distinct row of a 2-D uint8 array.");
  // what qgac_fast/native.py asks of the build: float_decode takes the quantization bins
  m.attr("FLOAT_DECODE_BINS") = true;
  m.attr("LIBJPEG_VERSION") = qgac::libjpeg_version();
}
