// A free list of fixed-size buffers for the echo servers whose sessions hold no buffer while
// idle (B5's idle_pool: netpoll's pooled session, the Asio servers' --idle-pool): a buffer is
// taken for one read and its write, then given back. Single-threaded; every buffer ever made
// is freed with the pool.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <vector>

namespace netpoll::bench {

template <std::size_t N>
class BufferPool {
 public:
  struct Buffer {
    std::array<std::byte, N> data;
    Buffer* next = nullptr;
  };
  Buffer* take() {
    if (Buffer* b = free_list_) {
      free_list_ = b->next;
      return b;
    }
    all_.push_back(std::make_unique<Buffer>());
    return all_.back().get();
  }
  void give(Buffer* b) noexcept {
    b->next = free_list_;
    free_list_ = b;
  }

 private:
  Buffer* free_list_ = nullptr;
  std::vector<std::unique_ptr<Buffer>> all_;
};

}  // namespace netpoll::bench
