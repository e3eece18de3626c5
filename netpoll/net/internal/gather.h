// GatherCursor: how far a gathered write of several buffers has got, so partial writes
// continue where they stopped (sendmsg on POSIX, WSASend on Windows).
#pragma once

#include <cstddef>
#include <span>

namespace netpoll::net {

class GatherCursor {
 public:
  using Buffers = std::span<const std::span<const std::byte>>;
  explicit GatherCursor(Buffers bufs) noexcept : bufs_(bufs) {
    for (auto b : bufs_) total_ += b.size();
  }
  std::size_t total() const noexcept { return total_; }
  bool done() const noexcept { return written_ == total_; }

  // Calls add(data, size) for each unwritten, non-empty piece in order, at most `max` of them,
  // until add returns false (it took only part of the piece, or wants no more).
  template <class F>
  void fill(std::size_t max, F add) const {
    std::size_t cnt = 0;
    for (std::size_t i = index_; i < bufs_.size() && cnt < max; ++i) {
      const std::size_t skip = i == index_ ? offset_ : 0;
      if (bufs_[i].size() == skip) continue;
      ++cnt;
      if (!add(bufs_[i].data() + skip, bufs_[i].size() - skip)) return;
    }
  }

  // n more bytes were written (n <= what is left).
  void advance(std::size_t n) noexcept {
    written_ += n;
    while (n > 0) {
      const std::size_t left = bufs_[index_].size() - offset_;
      if (n < left) {
        offset_ += n;
        return;
      }
      n -= left;
      ++index_;
      offset_ = 0;
    }
  }

 private:
  Buffers bufs_;
  std::size_t index_ = 0;   // first buffer not fully written
  std::size_t offset_ = 0;  // bytes of bufs_[index_] already written
  std::size_t total_ = 0;
  std::size_t written_ = 0;
};

}  // namespace netpoll::net
