#include "nodes/image/image_io.h"

#include <OpenImageIO/imageio.h>

#include <algorithm>
#include <cstdio>
#include <random>

#include "core/error.h"

namespace lattice {

namespace {

std::string lower_ext(const std::filesystem::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return e;
}

std::unique_ptr<OIIO::ImageInput> open_input(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw_invalid(path.string() + ": no such file");
  // Lattice images carry straight (unassociated) alpha: ask readers not to premultiply.
  OIIO::ImageSpec config;
  config.attribute("oiio:UnassociatedAlpha", 1);
  auto in = OIIO::ImageInput::open(path.string(), &config);
  if (!in) {
    std::string err = OIIO::geterror();
    if (err.empty()) err = "not a readable image";
    std::replace(err.begin(), err.end(), '\n', ' ');
    throw_invalid(path.string() + ": cannot read image: " + err);
  }
  return in;
}

}  // namespace

ImageHeader read_image_header(const std::filesystem::path& path) {
  auto in = open_input(path);
  const OIIO::ImageSpec& s = in->spec();
  return {s.width, s.height, std::min(s.nchannels, 4)};
}

std::shared_ptr<ImageData> read_image(const std::filesystem::path& path) {
  auto in = open_input(path);
  const OIIO::ImageSpec& s = in->spec();
  if (s.width <= 0 || s.height <= 0 || s.width > kMaxImageSide || s.height > kMaxImageSide || s.nchannels < 1)
    throw_invalid(path.string() + ": image size " + std::to_string(s.width) + "x" + std::to_string(s.height) +
                  " is not supported");
  const int channels = std::min(s.nchannels, 4);
  const std::string cs = s.get_string_attribute("oiio:ColorSpace");
  const bool linear = cs == "Linear" || cs == "linear" || s.format.basetype == OIIO::TypeDesc::HALF ||
                      s.format.basetype == OIIO::TypeDesc::FLOAT;
  auto img = std::make_shared<ImageData>(s.width, s.height, channels, linear);
  if (!in->read_image(0, 0, 0, channels, OIIO::TypeDesc::FLOAT, img->pixels.data())) {
    std::string err = in->geterror();
    std::replace(err.begin(), err.end(), '\n', ' ');
    throw_invalid(path.string() + ": cannot read image data: " + err);
  }
  in->close();
  return img;
}

void write_image(const std::filesystem::path& path, const ImageData& img, const std::string& depth,
                 const std::string* embedded_graph) {
  const std::string ext = lower_ext(path);
  OIIO::TypeDesc fmt = OIIO::TypeDesc::UINT8;
  if (depth == "16") fmt = OIIO::TypeDesc::UINT16;
  else if (depth == "half") fmt = OIIO::TypeDesc::HALF;
  else if (depth == "float") fmt = OIIO::TypeDesc::FLOAT;
  else if (depth == "auto" && (ext == ".exr" || ext == ".hdr")) fmt = OIIO::TypeDesc::HALF;
  if ((ext == ".png" || ext == ".jpg" || ext == ".jpeg") && (depth == "half" || depth == "float"))
    throw_eval(path.string() + ": " + ext.substr(1) + " cannot store " + depth + " data; use .exr or .tif");
  if ((ext == ".jpg" || ext == ".jpeg") && depth == "16") throw_eval(path.string() + ": JPEG cannot store 16-bit data");
  if (ext == ".exr" && (depth == "8" || depth == "16"))
    throw_eval(path.string() + ": EXR stores half or float data, not " + depth + "-bit integers");

  const std::filesystem::path dir = path.parent_path().empty() ? "." : path.parent_path();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::random_device rd;
  // The temporary keeps the extension so that OpenImageIO picks the same format.
  const std::filesystem::path tmp =
      dir / ("." + path.stem().string() + ".tmp" + std::to_string(rd() % 1000000) + path.extension().string());

  auto out = OIIO::ImageOutput::create(path.string());
  if (!out) throw_eval(path.string() + ": no image writer for '" + ext + "'");
  int channels = img.channels;
  if ((ext == ".jpg" || ext == ".jpeg") && channels == 4) channels = 3;  // JPEG has no alpha
  OIIO::ImageSpec spec(img.width, img.height, channels, fmt);
  if (channels == 4) spec.alpha_channel = 3;
  spec.attribute("oiio:UnassociatedAlpha", 1);  // straight alpha: store as given, never un-premultiply
  if (embedded_graph) spec.attribute(kEmbeddedGraphKey, *embedded_graph);
  spec.attribute("Software", "Lattice");
  if (!out->open(tmp.string(), spec)) {
    std::string err = out->geterror();
    std::replace(err.begin(), err.end(), '\n', ' ');
    throw_eval(path.string() + ": cannot write: " + err);
  }
  const OIIO::stride_t xstride = static_cast<OIIO::stride_t>(img.channels * sizeof(float));
  bool ok = out->write_image(OIIO::TypeDesc::FLOAT, img.pixels.data(), xstride);
  ok = out->close() && ok;
  if (!ok) {
    std::string err = out->geterror();
    std::replace(err.begin(), err.end(), '\n', ' ');
    std::filesystem::remove(tmp, ec);
    throw_eval(path.string() + ": write failed: " + err);
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw_eval(path.string() + ": cannot move the finished file into place: " + ec.message());
  }
}

std::optional<std::string> read_embedded_graph(const std::filesystem::path& path) {
  auto in = OIIO::ImageInput::open(path.string());
  if (!in) {
    (void)OIIO::geterror();
    return std::nullopt;
  }
  const OIIO::ParamValue* p = in->spec().find_attribute(kEmbeddedGraphKey);
  if (!p || p->type() != OIIO::TypeDesc::STRING) return std::nullopt;
  return std::string(p->get_string());
}

}  // namespace lattice
