#include "core/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace lattice {
namespace {

std::string file_with_header(const std::string& header, size_t data_bytes) {
  std::string out;
  uint64_t n = header.size();
  out.append(reinterpret_cast<const char*>(&n), 8);
  out += header;
  out.append(data_bytes, '\0');
  return out;
}

void expect_refused(const std::string& bytes, const std::string& fragment) {
  try {
    SafetensorsFile f({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, "bad.safetensors");
    ADD_FAILURE() << "accepted; expected: " << fragment;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).rfind("bad.safetensors", 0), 0u) << e.what();
  }
}

TEST(Safetensors, RoundTripThroughAFile) {
  HostTensor a = HostTensor::from_f32({2, 2}, {1, 2, 3, 4});
  HostTensor b;
  b.dtype = DType::BF16;
  b.shape = {3};
  for (float v : {0.5f, -2.0f, 8.0f}) {
    uint16_t h = float_to_bf16(v);
    b.data.push_back(static_cast<uint8_t>(h & 0xff));
    b.data.push_back(static_cast<uint8_t>(h >> 8));
  }
  const auto path = std::filesystem::temp_directory_path() / ("st_" + std::to_string(::getpid()) + ".safetensors");
  write_safetensors(path, {{"w.a", &a}, {"w.b", &b}}, {{"class", "Test"}});
  SafetensorsFile f(path);
  ASSERT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.metadata().at("class"), "Test");
  EXPECT_EQ(f.load("w.a").to_f32(), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(f.load("w.b").to_f32(), (std::vector<float>{0.5f, -2.0f, 8.0f}));
  EXPECT_EQ(f.find("w.b")->shape, (std::vector<int64_t>{3}));
  EXPECT_THROW(f.load("nope"), Error);
  std::filesystem::remove(path);
}

TEST(Safetensors, MalformedFilesAreRefusedNamingTheProblem) {
  expect_refused("abc", "too short");
  std::string long_header = file_with_header("{}", 0);
  long_header[0] = 100;  // claims 100 header bytes; the file has 2
  expect_refused(long_header, "exceeds the file size");
  expect_refused(file_with_header("{not json", 0), "malformed header JSON");
  expect_refused(file_with_header("[1,2]", 0), "not a JSON object");
  expect_refused(file_with_header(R"({"t":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}})", 4), "unknown dtype 'F33'");
  expect_refused(file_with_header(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4), "tensor 't': shape [2]");
  expect_refused(file_with_header(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}})", 4), "outside the data section");
  expect_refused(file_with_header(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4), "outside the data section");
  expect_refused(file_with_header(R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4), "non-negative");
  expect_refused(file_with_header(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4), "data_offsets");
  expect_refused(file_with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
                                      "b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12), "overlap");
  expect_refused(file_with_header(R"({"t":{"dtype":"U8","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,0]}})", 0),
                 "too large");
  expect_refused(file_with_header(R"({"__metadata__":{"k":1}})", 0), "__metadata__");
}

}  // namespace
}  // namespace lattice
