// A cursor over a fuzzer's input bytes: every read is defined (zeros once the input ends), so
// any byte string decodes to some operation sequence. Ours rather than libFuzzer's
// FuzzedDataProvider so the same targets build with GCC for the Bazel replay tests.
#pragma once

#include <cstddef>
#include <cstdint>

namespace netpoll::fuzz {

class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) noexcept : p_(data), end_(data + size) {}
  bool done() const noexcept { return p_ == end_; }
  std::uint8_t byte() noexcept { return p_ == end_ ? 0 : *p_++; }
  std::uint16_t u16() noexcept {
    const std::uint16_t lo = byte();
    return static_cast<std::uint16_t>(lo | (byte() << 8));
  }
  // A value in [0, n) (n > 0).
  unsigned below(unsigned n) noexcept { return byte() % n; }

 private:
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

}  // namespace netpoll::fuzz
