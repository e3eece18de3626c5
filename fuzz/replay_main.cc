// A main for the fuzz targets outside libFuzzer (GCC, Bazel): runs LLVMFuzzerTestOneInput once
// per file named on the command line or found in a directory named there. This is how every
// tools/test configuration (native, ASan+UBSan, TSan) replays the committed seed corpora.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

#include "test/ran_marker.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {
// std::filesystem, not stat/opendir: the address replay test is also built for Windows, where
// <dirent.h> is a mingw-w64 extra that MSVC does not have.
void collect(const std::string& path, std::vector<std::string>& out) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);  // follows symlinks, as stat() does
  if (ec || !fs::exists(st)) return;
  if (!fs::is_directory(st)) {
    out.push_back(path);
    return;
  }
  for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name[0] != '.') collect(path + "/" + name, out);
  }
}
}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) collect(argv[i], files);
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "replay: no inputs found\n");
    return 1;
  }
  for (const std::string& f : files) {
    std::ifstream in(f, std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  }
  std::printf("replay: %zu inputs, all passed\n", files.size());
  return netpoll::testing::report_ran(0);
}
