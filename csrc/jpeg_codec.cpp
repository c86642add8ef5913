// The libjpeg-turbo side of the coefficient codec (see jpeg_codec.h): an error manager that
// longjmps instead of exiting, the coefficient reader, the lossless writer and a file reader.
//
// Every libjpeg call runs inside a "guarded" function that calls setjmp first and holds only
// trivially destructible locals, so a longjmp from libjpeg's error_exit skips no destructor. The
// libjpeg objects, the error manager and all C++ objects live in a context owned by the caller,
// which destroys the libjpeg object on every path.

#include "jpeg_codec.h"

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include <sys/mman.h>

// jpeglib.h needs size_t and FILE declared before it is included.
#include <jerror.h>
#include <jpeglib.h>

namespace qgac {

static_assert(sizeof(JCOEF) == sizeof(int16_t), "libjpeg built with a JCOEF other than 16 bits");
static_assert(sizeof(JBLOCK) == 64 * sizeof(int16_t), "unexpected JBLOCK layout");

void FreeDeleter::operator()(void* p) const { std::free(p); }

namespace {

constexpr size_t kBlockBytes = sizeof(JBLOCK);

struct ErrorManager {
  jpeg_error_mgr pub;  // first member: libjpeg hands us &pub and we cast back
  jmp_buf jump;
  bool strict = true;
  char message[JMSG_LENGTH_MAX] = {};
};

[[noreturn]] void on_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// level < 0 is a warning: libjpeg recovered from corrupt data and would go on. Strict mode makes
// it fatal; otherwise it is accepted silently. Levels >= 0 are trace output.
void on_emit_message(j_common_ptr cinfo, int level) {
  if (level < 0 && reinterpret_cast<ErrorManager*>(cinfo->err)->strict) on_error_exit(cinfo);
}

void install_error_manager(ErrorManager& err, bool strict) {
  jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error_exit;
  err.pub.emit_message = on_emit_message;
  err.strict = strict;
}

// Sorts libjpeg's fatal messages: "valid JPEG, but a feature this build does not read", memory
// exhaustion, and everything else (corrupt data).
Status classify(int msg_code) {
  switch (msg_code) {
    case JERR_BAD_PRECISION:    // 12/16-bit samples in an 8-bit build
    case JERR_SOF_UNSUPPORTED:  // lossless, hierarchical, ...
    case JERR_NOT_COMPILED:
    case JERR_ARITH_NOTIMPL:
    case JERR_EMPTY_IMAGE:  // height defined by a DNL marker
    case JERR_NOTIMPL:
      return Status::kUnsupported;
    case JERR_OUT_OF_MEMORY:
    case JERR_NO_BACKING_STORE:
    case JERR_TFILE_CREATE:
      return Status::kOutOfMemory;
    default:
      return Status::kCorrupt;
  }
}

void set_error(Result& result, Status status, const char* message) {
  result.status = status;
  result.message = message;
}

int round_up(int value, int multiple) { return (value + multiple - 1) / multiple * multiple; }

// ---------------------------------------------------------------------------------------------
// Reading

struct ReadContext {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  const uint8_t* data;
  size_t size;
  const ReadOptions* options;
  JPEGData* out;
  Result* result;
};

const char* color_space_unsupported(J_COLOR_SPACE space) {
  switch (space) {
    case JCS_GRAYSCALE:
    case JCS_YCbCr:
    case JCS_RGB:
      return nullptr;
    case JCS_CMYK:
      return "CMYK JPEGs are not supported";
    case JCS_YCCK:
      return "YCCK JPEGs are not supported";
    default:
      return "JPEGs with an unknown colour space are not supported";
  }
}

// Uninitialised storage for `count` coefficients, released with std::free. Arrays of 2 MiB and
// more are aligned to 2 MiB and offered transparent huge pages: a fresh 6 MB array otherwise costs
// ~1500 page faults on first touch, which measured as a third of a 2 MP read.
int16_t* allocate_coefficients(size_t count) {
  constexpr size_t kHugePage = size_t{2} << 20;
  const size_t bytes = count * sizeof(int16_t);
  if (bytes < kHugePage) return static_cast<int16_t*>(std::malloc(bytes > 0 ? bytes : 1));
  const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* p = std::aligned_alloc(kHugePage, rounded);
  if (p != nullptr) madvise(p, rounded, MADV_HUGEPAGE);  // advice only: failure changes nothing
  return static_cast<int16_t*>(p);
}

// Copies component `ci`'s whole padded block array out of libjpeg, one memcpy per block row.
// Returns false (result set) when the output buffer cannot be allocated.
bool copy_component(ReadContext& ctx, int ci, jvirt_barray_ptr array) {
  jpeg_decompress_struct& cinfo = ctx.cinfo;
  const jpeg_component_info& info = cinfo.comp_info[ci];
  Component& comp = ctx.out->components[ci];
  comp.h_samp = info.h_samp_factor;
  comp.v_samp = info.v_samp_factor;
  comp.table_slot = info.quant_tbl_no;
  comp.blocks_h = round_up(static_cast<int>(info.height_in_blocks), info.v_samp_factor);
  comp.blocks_w = round_up(static_cast<int>(info.width_in_blocks), info.h_samp_factor);
  const size_t row_bytes = static_cast<size_t>(comp.blocks_w) * kBlockBytes;
  comp.coefficients.reset(allocate_coefficients(static_cast<size_t>(comp.blocks_h) * comp.blocks_w * 64));
  if (!comp.coefficients) {
    set_error(*ctx.result, Status::kOutOfMemory, "out of memory for the coefficient arrays");
    return false;
  }
  auto* dst = reinterpret_cast<unsigned char*>(comp.coefficients.get());
  // The decoder requested its arrays with at least v_samp rows of access per call.
  const int step = info.v_samp_factor;
  for (int row = 0; row < comp.blocks_h; row += step) {
    JBLOCKARRAY rows = (*cinfo.mem->access_virt_barray)(reinterpret_cast<j_common_ptr>(&cinfo), array,
                                                        static_cast<JDIMENSION>(row),
                                                        static_cast<JDIMENSION>(step), FALSE);
    for (int r = 0; r < step; ++r) {
      std::memcpy(dst + static_cast<size_t>(row + r) * row_bytes, rows[r], row_bytes);
    }
  }
  return true;
}

// Refuses a frame header naming a table slot outside 0..3 (a DQT's Tq is 4 bits, of which JPEG
// allows 0..3). libjpeg stores the SOF's byte as is and checks it only when the component's first
// scan starts (JERR_NO_QUANT_TABLE), so a component in no scan (a truncated file, a crafted one)
// would otherwise index quant_tbl_ptrs out of bounds in component_table. Returns false with the
// result set.
bool check_table_slots(ReadContext& ctx) {
  const jpeg_decompress_struct& cinfo = ctx.cinfo;
  for (int ci = 0; ci < cinfo.num_components; ++ci) {
    const jpeg_component_info& info = cinfo.comp_info[ci];
    if (info.quant_tbl_no < 0 || info.quant_tbl_no >= NUM_QUANT_TBLS) {
      char message[160];
      std::snprintf(message, sizeof message,
                    "component %d (id %d) names quantization table slot %d in the frame header; JPEG has "
                    "slots 0..%d", ci, info.component_id, info.quant_tbl_no, NUM_QUANT_TBLS - 1);
      set_error(*ctx.result, Status::kCorrupt, message);
      return false;
    }
  }
  return true;
}

// The table a component was decoded with: libjpeg latches a copy when the component's first scan
// starts (a later DQT may redefine the slot); before that, and for a component in no scan, only
// the slot's current table exists (the slot is in range: check_table_slots ran first).
const JQUANT_TBL* component_table(const jpeg_decompress_struct& cinfo, int ci) {
  const jpeg_component_info& info = cinfo.comp_info[ci];
  if (info.quant_table != nullptr) return info.quant_table;
  return cinfo.quant_tbl_ptrs[info.quant_tbl_no];
}

// Sets the result to an error when a component has no table at all.
void collect_tables(ReadContext& ctx) {
  JPEGData& out = *ctx.out;
  int slot_of_table[MAX_COMPONENTS];
  for (int ci = 0; ci < ctx.cinfo.num_components; ++ci) {
    const JQUANT_TBL* table = component_table(ctx.cinfo, ci);
    if (table == nullptr) {  // a component in no scan whose slot no DQT defined
      char message[160];
      std::snprintf(message, sizeof message, "component %d (id %d): quantization table slot %d was not defined",
                    ci, ctx.cinfo.comp_info[ci].component_id, ctx.cinfo.comp_info[ci].quant_tbl_no);
      set_error(*ctx.result, Status::kCorrupt, message);
      return;
    }
    std::array<int32_t, 64> values;
    std::copy(table->quantval, table->quantval + 64, values.begin());
    const int slot = ctx.cinfo.comp_info[ci].quant_tbl_no;
    int index = 0;
    while (index < static_cast<int>(out.tables.size()) &&
           !(slot_of_table[index] == slot && out.tables[index] == values)) {
      ++index;
    }
    if (index == static_cast<int>(out.tables.size())) {
      out.tables.push_back(values);
      slot_of_table[index] = slot;
    }
    out.components[ci].table_index = index;
  }
}

// Guarded: see the file comment. Returns with ctx.result set.
void decode(ReadContext& ctx) {
  jpeg_decompress_struct& cinfo = ctx.cinfo;
  Result& result = *ctx.result;
  if (setjmp(ctx.err.jump)) {
    set_error(result, classify(ctx.err.pub.msg_code), ctx.err.message);
    return;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, ctx.data, static_cast<unsigned long>(ctx.size));
  // Metadata the outputs carry: EXIF (APP1) and the ICC profile (APP2, possibly in several
  // chunks). 0xFFFF keeps whole markers: a segment's length field cannot exceed it.
  jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_save_markers(&cinfo, JPEG_APP0 + 2, 0xFFFF);
  jpeg_read_header(&cinfo, TRUE);
  if (!check_table_slots(ctx)) return;

  // The bomb guard: nothing large has been allocated yet.
  const uint64_t pixels = static_cast<uint64_t>(cinfo.image_width) * cinfo.image_height;
  if (ctx.options->max_pixels != 0 && pixels > ctx.options->max_pixels) {
    char message[160];
    std::snprintf(message, sizeof message,
                  "image of %ux%u = %llu pixels exceeds the pixel limit of %llu (max_pixels)",
                  cinfo.image_width, cinfo.image_height, static_cast<unsigned long long>(pixels),
                  static_cast<unsigned long long>(ctx.options->max_pixels));
    set_error(result, Status::kTooLarge, message);
    return;
  }
  // pixels <= 2**32, so a size above that divided by the ratio passes without the product
  // overflowing.
  const uint64_t ratio = ctx.options->max_pixels_per_byte;
  if (ratio != 0 && ctx.size <= UINT64_MAX / ratio && pixels > ratio * ctx.size) {
    char message[256];
    std::snprintf(message, sizeof message,
                  "image of %ux%u = %llu pixels in %zu bytes exceeds the limit of %llu pixels per byte of "
                  "input (max_pixels_per_byte): a likely decompression bomb",
                  cinfo.image_width, cinfo.image_height, static_cast<unsigned long long>(pixels), ctx.size,
                  static_cast<unsigned long long>(ratio));
    set_error(result, Status::kTooLarge, message);
    return;
  }
  if (const char* message = color_space_unsupported(cinfo.jpeg_color_space)) {
    set_error(result, Status::kUnsupported, message);
    return;
  }

  jvirt_barray_ptr* arrays = jpeg_read_coefficients(&cinfo);
  if (arrays == nullptr) {  // only a suspending data source returns this; ours never suspends
    set_error(result, Status::kCorrupt, "libjpeg suspended while reading coefficients");
    return;
  }

  JPEGData& out = *ctx.out;
  out.width = static_cast<int>(cinfo.image_width);
  out.height = static_cast<int>(cinfo.image_height);
  out.color_space = cinfo.jpeg_color_space == JCS_GRAYSCALE ? ColorSpace::kGray
                    : cinfo.jpeg_color_space == JCS_RGB     ? ColorSpace::kRGB
                                                            : ColorSpace::kYCbCr;
  out.progressive = cinfo.progressive_mode != 0;
  out.components.resize(static_cast<size_t>(cinfo.num_components));
  for (int ci = 0; ci < cinfo.num_components; ++ci) {
    if (!copy_component(ctx, ci, arrays[ci])) return;
  }
  collect_tables(ctx);
  // std::bad_alloc from here is caught by read_coefficients; libjpeg is not in the middle of a call.
  for (jpeg_saved_marker_ptr m = cinfo.marker_list; m != nullptr; m = m->next) {
    out.markers.push_back(Marker{m->marker, std::vector<uint8_t>(m->data, m->data + m->data_length)});
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

struct WriteContext {
  jpeg_compress_struct cinfo;
  ErrorManager err;
  unsigned char* buffer = nullptr;  // malloc'd and grown by jpeg_mem_dest
  unsigned long size = 0;
  const WriteRequest* request;
  Result* result;
};

J_COLOR_SPACE to_libjpeg(ColorSpace space) {
  switch (space) {
    case ColorSpace::kGray:
      return JCS_GRAYSCALE;
    case ColorSpace::kRGB:
      return JCS_RGB;
    default:
      return JCS_YCbCr;
  }
}

// 8-bit Huffman coding has categories for |AC| <= 1023 and DC differences up to 11 bits, which
// DC values in -1024..1023 guarantee. libjpeg-turbo's SIMD encoder does not check this itself and
// would write a corrupt file, so every coefficient is checked: first one flat min/max reduction
// against -1023..1023 (vectorised, ~0.2 ms for 2 MP), and only if that fails (an error, or a DC of
// exactly -1024) the exact per-position scan.
constexpr int kMinCoefficient[2] = {-1024, -1023};  // DC, AC
constexpr int kMaxCoefficient = 1023;
// A marker segment's 16-bit length counts itself, so its payload is at most 65533 bytes.
constexpr size_t kMaxMarkerBytes = 65533;

bool codable(int16_t value, size_t position) {
  return value >= kMinCoefficient[position % 64 != 0] && value <= kMaxCoefficient;
}

// Index of the first coefficient 8-bit JPEG cannot code, or `count` if there is none.
size_t first_uncodable(const int16_t* coefficients, size_t count) {
  int16_t low = 0, high = 0;
  for (size_t i = 0; i < count; ++i) {
    low = std::min(low, coefficients[i]);
    high = std::max(high, coefficients[i]);
  }
  if (low >= kMinCoefficient[1] && high <= kMaxCoefficient) return count;
  size_t i = 0;
  while (i < count && codable(coefficients[i], i)) ++i;
  return i;
}

// Checks the request against the frame libjpeg will derive from it, so the copies below stay in
// bounds and the caller gets a message naming the offending component.
bool validate(const WriteRequest& request, Result& result) {
  char message[320];
  auto fail = [&]() {
    set_error(result, Status::kInvalidArgument, message);
    return false;
  };
  const int n = static_cast<int>(request.components.size());
  const int expected = request.color_space == ColorSpace::kGray ? 1 : 3;
  if (n != expected) {
    std::snprintf(message, sizeof message, "colour space needs %d components, got %d", expected, n);
    return fail();
  }
  if (request.width < 1 || request.height < 1 || request.width > JPEG_MAX_DIMENSION ||
      request.height > JPEG_MAX_DIMENSION) {
    std::snprintf(message, sizeof message, "image size %dx%d outside 1..%ld", request.width, request.height,
                  static_cast<long>(JPEG_MAX_DIMENSION));
    return fail();
  }
  int max_h = 1, max_v = 1, mcu_blocks = 0;
  for (int ci = 0; ci < n; ++ci) {
    const WriteComponent& c = request.components[ci];
    if (c.h_samp < 1 || c.h_samp > MAX_SAMP_FACTOR || c.v_samp < 1 || c.v_samp > MAX_SAMP_FACTOR) {
      std::snprintf(message, sizeof message, "component %d: sampling factors (%d, %d) outside 1..%d", ci,
                    c.h_samp, c.v_samp, MAX_SAMP_FACTOR);
      return fail();
    }
    if (c.table_slot < 0 || c.table_slot >= NUM_QUANT_TBLS) {
      std::snprintf(message, sizeof message, "component %d: table slot %d outside 0..%d", ci, c.table_slot,
                    NUM_QUANT_TBLS - 1);
      return fail();
    }
    for (int k = 0; k < 64; ++k) {
      if (c.table[k] < 1 || c.table[k] > 65535) {
        std::snprintf(message, sizeof message, "component %d: quantization value %d outside 1..65535", ci,
                      static_cast<int>(c.table[k]));
        return fail();
      }
    }
    for (int other = 0; other < ci; ++other) {
      const WriteComponent& o = request.components[other];
      if (o.table_slot == c.table_slot && !std::equal(o.table, o.table + 64, c.table)) {
        std::snprintf(message, sizeof message,
                      "components %d and %d share table slot %d but have different quantization tables", other,
                      ci, c.table_slot);
        return fail();
      }
    }
    max_h = std::max(max_h, c.h_samp);
    max_v = std::max(max_v, c.v_samp);
    mcu_blocks += c.h_samp * c.v_samp;
  }
  for (const Marker& m : request.markers) {
    if (m.code < JPEG_APP0 || m.code > JPEG_APP0 + 15 || m.data.size() > kMaxMarkerBytes) {
      std::snprintf(message, sizeof message, "marker 0x%X of %zu bytes: only APP0..APP15 (0xE0..0xEF) markers of at "
                    "most %zu bytes can be written", m.code, m.data.size(), kMaxMarkerBytes);
      return fail();
    }
  }
  if (n > 1 && mcu_blocks > C_MAX_BLOCKS_IN_MCU) {
    std::snprintf(message, sizeof message, "sampling factors give %d blocks per MCU; JPEG allows at most %d",
                  mcu_blocks, C_MAX_BLOCKS_IN_MCU);
    return fail();
  }
  for (int ci = 0; ci < n; ++ci) {
    const WriteComponent& c = request.components[ci];
    // Same arithmetic as libjpeg's initial_setup, then rounded up to whole MCUs.
    const long width_blocks = (static_cast<long>(request.width) * c.h_samp + max_h * DCTSIZE - 1) / (max_h * DCTSIZE);
    const long height_blocks = (static_cast<long>(request.height) * c.v_samp + max_v * DCTSIZE - 1) / (max_v * DCTSIZE);
    const int want_w = round_up(static_cast<int>(width_blocks), c.h_samp);
    const int want_h = round_up(static_cast<int>(height_blocks), c.v_samp);
    if (c.blocks_h != want_h || c.blocks_w != want_w) {
      std::snprintf(message, sizeof message,
                    "component %d: coefficient array has %dx%d blocks, but a %dx%d image with sampling (%d, %d) "
                    "of max (%d, %d) needs %dx%d blocks (height x width, padded to whole MCUs)",
                    ci, c.blocks_h, c.blocks_w, request.height, request.width, c.h_samp, c.v_samp, max_h, max_v,
                    want_h, want_w);
      return fail();
    }
  }
  for (int ci = 0; ci < n; ++ci) {
    const WriteComponent& c = request.components[ci];
    const size_t count = static_cast<size_t>(c.blocks_h) * c.blocks_w * 64;
    const size_t i = first_uncodable(c.coefficients, count);
    if (i < count) {
      const size_t block = i / 64;
      const int k = static_cast<int>(i % 64);
      std::snprintf(message, sizeof message,
                    "component %d: coefficient %d in block (%zu, %zu) at (%d, %d) is outside what 8-bit JPEG can "
                    "code (DC -1024..1023, AC -1023..1023)",
                    ci, static_cast<int>(c.coefficients[i]), block / c.blocks_w, block % c.blocks_w, k / 8, k % 8);
      return fail();
    }
  }
  return true;
}

// Guarded: see the file comment. Returns with ctx.result set; on success ctx.buffer holds the file.
void encode(WriteContext& ctx) {
  jpeg_compress_struct& cinfo = ctx.cinfo;
  const WriteRequest& request = *ctx.request;
  if (setjmp(ctx.err.jump)) {
    set_error(*ctx.result, classify(ctx.err.pub.msg_code), ctx.err.message);
    return;
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, &ctx.buffer, &ctx.size);
  const int n = static_cast<int>(request.components.size());
  const J_COLOR_SPACE space = to_libjpeg(request.color_space);
  cinfo.image_width = static_cast<JDIMENSION>(request.width);
  cinfo.image_height = static_cast<JDIMENSION>(request.height);
  cinfo.input_components = n;
  cinfo.in_color_space = space;
  jpeg_set_defaults(&cinfo);
  // Writes the JFIF or Adobe marker that makes readers infer this colour space again.
  jpeg_set_colorspace(&cinfo, space);
  cinfo.optimize_coding = request.optimize ? TRUE : FALSE;

  jvirt_barray_ptr arrays[MAX_COMPONENTS];
  for (int ci = 0; ci < n; ++ci) {
    const WriteComponent& c = request.components[ci];
    jpeg_component_info& info = cinfo.comp_info[ci];
    info.h_samp_factor = c.h_samp;
    info.v_samp_factor = c.v_samp;
    info.quant_tbl_no = c.table_slot;
    // Installed as is, not through jpeg_add_quant_table, which would clamp values above 32767.
    JQUANT_TBL*& table = cinfo.quant_tbl_ptrs[c.table_slot];
    if (table == nullptr) table = jpeg_alloc_quant_table(reinterpret_cast<j_common_ptr>(&cinfo));
    for (int k = 0; k < 64; ++k) table->quantval[k] = static_cast<UINT16>(c.table[k]);
    table->sent_table = FALSE;
    arrays[ci] = (*cinfo.mem->request_virt_barray)(reinterpret_cast<j_common_ptr>(&cinfo), JPOOL_IMAGE, FALSE,
                                                   static_cast<JDIMENSION>(c.blocks_w),
                                                   static_cast<JDIMENSION>(c.blocks_h),
                                                   static_cast<JDIMENSION>(c.v_samp));
  }
  (*cinfo.mem->realize_virt_arrays)(reinterpret_cast<j_common_ptr>(&cinfo));
  for (int ci = 0; ci < n; ++ci) {
    const WriteComponent& c = request.components[ci];
    const size_t row_bytes = static_cast<size_t>(c.blocks_w) * kBlockBytes;
    const auto* src = reinterpret_cast<const unsigned char*>(c.coefficients);
    for (int row = 0; row < c.blocks_h; row += c.v_samp) {
      JBLOCKARRAY rows = (*cinfo.mem->access_virt_barray)(reinterpret_cast<j_common_ptr>(&cinfo), arrays[ci],
                                                          static_cast<JDIMENSION>(row),
                                                          static_cast<JDIMENSION>(c.v_samp), TRUE);
      for (int r = 0; r < c.v_samp; ++r) {
        std::memcpy(rows[r], src + static_cast<size_t>(row + r) * row_bytes, row_bytes);
      }
    }
  }
  // realize_virt_arrays again inside is a no-op for arrays that already have memory.
  jpeg_write_coefficients(&cinfo, arrays);
  // After the SOI and JFIF/Adobe markers jpeg_write_coefficients wrote, before the frame (as
  // jpegtran copies markers).
  for (const Marker& m : request.markers) {
    jpeg_write_marker(&cinfo, m.code, m.data.data(), static_cast<unsigned int>(m.data.size()));
  }
  jpeg_finish_compress(&cinfo);
}

// ---------------------------------------------------------------------------------------------
// Decoding to pixels

struct PixelContext {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  const unsigned char* data;
  size_t size;
  bool fancy;
  int channels, width, height;  // the expected output, checked against libjpeg's
  uint8_t* out;
  Result* result;
};

// Guarded: see the file comment. Returns with ctx.result set; on success ctx.out holds the pixels.
void decompress_pixels(PixelContext& ctx) {
  jpeg_decompress_struct& cinfo = ctx.cinfo;
  if (setjmp(ctx.err.jump)) {
    set_error(*ctx.result, classify(ctx.err.pub.msg_code), ctx.err.message);
    return;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, ctx.data, static_cast<unsigned long>(ctx.size));
  jpeg_read_header(&cinfo, TRUE);
  cinfo.out_color_space = cinfo.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
  cinfo.dct_method = JDCT_ISLOW;
  cinfo.do_fancy_upsampling = ctx.fancy ? TRUE : FALSE;
  jpeg_start_decompress(&cinfo);
  if (cinfo.output_components != ctx.channels || static_cast<int>(cinfo.output_width) != ctx.width ||
      static_cast<int>(cinfo.output_height) != ctx.height) {
    set_error(*ctx.result, Status::kInvalidArgument, "libjpeg's output does not have the frame's size");
    return;
  }
  // From libjpeg's pool, so a longjmp leaks nothing: jpeg_destroy_decompress frees it.
  const JDIMENSION stride = cinfo.output_width * static_cast<JDIMENSION>(ctx.channels);
  JSAMPARRAY rows = (*cinfo.mem->alloc_sarray)(reinterpret_cast<j_common_ptr>(&cinfo), JPOOL_IMAGE, stride,
                                               static_cast<JDIMENSION>(cinfo.rec_outbuf_height));
  const size_t width = cinfo.output_width;
  const size_t plane = width * cinfo.output_height;
  while (cinfo.output_scanline < cinfo.output_height) {
    const size_t first = cinfo.output_scanline;
    const JDIMENSION got = jpeg_read_scanlines(&cinfo, rows, static_cast<JDIMENSION>(cinfo.rec_outbuf_height));
    for (JDIMENSION r = 0; r < got; ++r) {
      const JSAMPLE* src = rows[r];
      for (int c = 0; c < ctx.channels; ++c) {  // interleaved scanline -> one row of each plane
        uint8_t* dst = ctx.out + c * plane + (first + r) * width;
        for (size_t x = 0; x < width; ++x) dst[x] = src[x * ctx.channels + c];
      }
    }
  }
  jpeg_finish_decompress(&cinfo);
}

}  // namespace

Result read_coefficients(const uint8_t* data, size_t size, const ReadOptions& options, JPEGData& out) {
  Result result;
  ReadContext ctx;
  std::memset(&ctx.cinfo, 0, sizeof ctx.cinfo);
  install_error_manager(ctx.err, options.strict);
  ctx.cinfo.err = &ctx.err.pub;
  ctx.data = data;
  ctx.size = size;
  ctx.options = &options;
  ctx.out = &out;
  ctx.result = &result;
  try {
    decode(ctx);
  } catch (const std::bad_alloc&) {  // from out.components / tables / markers, never inside libjpeg
    set_error(result, Status::kOutOfMemory, "out of memory");
  }
  jpeg_destroy_decompress(&ctx.cinfo);
  if (result.status != Status::kOk) out = JPEGData();
  return result;
}

Result write_coefficients(const WriteRequest& request, MallocBuffer& out, size_t& out_size) {
  Result result;
  if (!validate(request, result)) return result;
  WriteContext ctx;
  std::memset(&ctx.cinfo, 0, sizeof ctx.cinfo);
  install_error_manager(ctx.err, true);
  ctx.cinfo.err = &ctx.err.pub;
  ctx.request = &request;
  ctx.result = &result;
  encode(ctx);
  jpeg_destroy_compress(&ctx.cinfo);
  // jpeg_mem_dest's buffer outlives the compressor; on failure it is ours to free.
  MallocBuffer buffer(ctx.buffer);
  if (result.status == Status::kOk) {
    out = std::move(buffer);
    out_size = ctx.size;
  }
  return result;
}

Result decode_pixels(const WriteRequest& request, bool fancy, uint8_t* out) {
  MallocBuffer file;
  size_t file_size = 0;
  Result result = write_coefficients(request, file, file_size);
  if (result.status != Status::kOk) return result;
  PixelContext ctx;
  std::memset(&ctx.cinfo, 0, sizeof ctx.cinfo);
  install_error_manager(ctx.err, true);
  ctx.cinfo.err = &ctx.err.pub;
  ctx.data = file.get();
  ctx.size = file_size;
  ctx.fancy = fancy;
  ctx.channels = request.color_space == ColorSpace::kGray ? 1 : 3;
  ctx.width = request.width;
  ctx.height = request.height;
  ctx.out = out;
  ctx.result = &result;
  decompress_pixels(ctx);
  jpeg_destroy_decompress(&ctx.cinfo);
  return result;
}

#define QGAC_STRINGIFY_(x) #x
#define QGAC_STRINGIFY(x) QGAC_STRINGIFY_(x)

std::string libjpeg_version() {
#ifdef LIBJPEG_TURBO_VERSION
  return "libjpeg-turbo " QGAC_STRINGIFY(LIBJPEG_TURBO_VERSION) " (API " QGAC_STRINGIFY(JPEG_LIB_VERSION) ")";
#else
  return "libjpeg (API " QGAC_STRINGIFY(JPEG_LIB_VERSION) ")";
#endif
}

}  // namespace qgac
