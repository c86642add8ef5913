// The libjpeg-turbo coefficient codec: read a JPEG's quantized DCT coefficients, quantization
// tables and frame layout, and write them back losslessly. Plain C++ over the libjpeg v6b API;
// it knows nothing of Python, never throws, and reports every failure through a Status and a
// message so the caller can run it without any interpreter lock held.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace qgac {

enum class Status {
  kOk,
  kCorrupt,          // libjpeg rejected the data (or, when strict, warned about it)
  kUnsupported,      // a valid JPEG this build cannot read: CMYK/YCCK, 12-bit, lossless...
  kTooLarge,         // declared image size above the caller's pixel limit
  kOutOfMemory,      // libjpeg or the C++ allocator ran out of memory
  kInvalidArgument,  // write: arrays or parameters that do not describe a JPEG frame
};

// The JPEG's own colour space (what the file codes, not what a decoder would output).
enum class ColorSpace { kGray, kYCbCr, kRGB };

// Releases buffers from malloc / aligned_alloc (libjpeg's memory destination allocates its output
// with malloc, the reader its coefficient arrays with aligned_alloc).
struct FreeDeleter {
  void operator()(void* p) const;
};

struct Component {
  int h_samp = 1, v_samp = 1;  // sampling factors
  int table_slot = 0;          // DQT slot, 0..3
  int table_index = 0;         // read: index into JPEGData::tables of the table this component used
  // Block grid of the padded array libjpeg keeps: height and width in blocks rounded up to whole
  // multiples of the sampling factors, so the dummy blocks of edge MCUs are included.
  int blocks_h = 0, blocks_w = 0;
  // blocks_h * blocks_w * 64 coefficients, block by block in raster order, each block in natural
  // (row-major) order with row = vertical frequency. Left uninitialised by the allocation because
  // the reader overwrites every element; release with std::free.
  std::unique_ptr<int16_t[], FreeDeleter> coefficients;
};

// One APPn marker segment as the file holds it: its payload after the two length bytes.
struct Marker {
  int code = 0;  // JPEG_APP0 + n, i.e. 0xE0 + n
  std::vector<uint8_t> data;
};

struct JPEGData {
  int width = 0, height = 0;
  ColorSpace color_space = ColorSpace::kYCbCr;
  bool progressive = false;
  std::vector<Component> components;
  // Distinct quantization tables in natural order; components that share a DQT slot and its
  // contents share one entry.
  std::vector<std::array<int32_t, 64>> tables;
  // The APP1 (EXIF, XMP) and APP2 (ICC profile chunks, MPF) markers, in file order. Each is at
  // most 65533 bytes by the format, and together they are no larger than the input.
  std::vector<Marker> markers;
};

struct Result {
  Status status = Status::kOk;
  std::string message;  // libjpeg's formatted message, or ours
};

struct ReadOptions {
  bool strict = true;       // abort on libjpeg's recoverable warnings instead of accepting them
  uint64_t max_pixels = 0;  // width * height limit checked right after the header; 0 = none
  // Limit on width * height per byte of input, checked with max_pixels; 0 = none. Bounds the
  // arrays (and the work downstream) a small input can demand: see DEFAULT_MAX_PIXELS_PER_BYTE
  // in qgac_fast/codec.py for the reasoning behind the default.
  uint64_t max_pixels_per_byte = 0;
};

// Reads `size` bytes of JPEG data into `out`. Thread-safe: every call owns its libjpeg objects.
Result read_coefficients(const uint8_t* data, size_t size, const ReadOptions& options, JPEGData& out);

// Describes a frame to write; the coefficient pointers are borrowed from the caller.
struct WriteComponent {
  int h_samp = 1, v_samp = 1;
  int table_slot = 0;
  int blocks_h = 0, blocks_w = 0;  // must equal the padded grid libjpeg derives (see Component)
  const int16_t* coefficients = nullptr;
  const int32_t* table = nullptr;  // 64 entries, natural order
};

struct WriteRequest {
  int width = 0, height = 0;
  ColorSpace color_space = ColorSpace::kYCbCr;
  bool optimize = false;  // optimal Huffman tables instead of the standard ones
  std::vector<WriteComponent> components;
  // APPn markers (0xE0..0xEF, payload <= 65533 bytes) written after the JFIF/Adobe marker, in order.
  std::vector<Marker> markers;
};

using MallocBuffer = std::unique_ptr<unsigned char[], FreeDeleter>;

// Encodes `request` losslessly (baseline, or extended sequential when a table exceeds 255) into
// `out` / `out_size`. Shapes, sampling factors and tables are validated first (kInvalidArgument).
Result write_coefficients(const WriteRequest& request, MallocBuffer& out, size_t& out_size);

// Decodes the frame `request` describes to 8-bit pixels with libjpeg itself, as a file of those
// coefficients would decode: a lossless in-memory transcode (write_coefficients) read back by
// libjpeg's decompressor with its accurate integer IDCT and, when `fancy`, its default fancy
// upsampling (otherwise sample replication). `out` must hold channels * height * width bytes; it
// receives planar channel-major samples: R, G, B for YCbCr and RGB frames, one plane for gray.
Result decode_pixels(const WriteRequest& request, bool fancy, uint8_t* out);

// The libjpeg-turbo version the extension was compiled against, e.g. "libjpeg-turbo 2.1.5 (API 62)".
std::string libjpeg_version();

}  // namespace qgac
