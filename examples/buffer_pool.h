// BufferPool: a free list of fixed-size buffers for the connections of one Loop thread, so a
// connection holds a buffer only while it has bytes to handle (Conn::Readable waits without
// one). A buffer is allocated the first time the pool is empty and kept for reuse: a server
// ends up with as many as it had connections busy at once, not one per connection.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

namespace netpoll::examples {

template <class T>
class Pool {
 public:
  Pool() = default;
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // A lease returns its object on destruction (or give()); the pool must outlive its leases.
  class Lease {
   public:
    Lease() noexcept = default;
    Lease(Pool* p, T* t) noexcept : pool_(p), t_(t) {}
    Lease(Lease&& o) noexcept : pool_(o.pool_), t_(std::exchange(o.t_, nullptr)) {}
    Lease& operator=(Lease&& o) noexcept {
      if (this != &o) {
        give();
        pool_ = o.pool_;
        t_ = std::exchange(o.t_, nullptr);
      }
      return *this;
    }
    ~Lease() { give(); }
    explicit operator bool() const noexcept { return t_ != nullptr; }
    T* operator->() const noexcept { return t_; }
    T& operator*() const noexcept { return *t_; }
    void give() noexcept {
      if (t_) pool_->free_.push_back(std::exchange(t_, nullptr));  // room reserved by take()
    }

   private:
    Pool* pool_ = nullptr;
    T* t_ = nullptr;
  };

  // `make()` builds a new object when none is free (may throw std::bad_alloc, as may the first
  // take() that grows the lists).
  template <class Make>
  Lease take(Make make) {
    if (free_.empty()) {
      all_.push_back(make());
      // Every object can be free at once: a give() never allocates.
      free_.reserve(all_.size());
      return Lease(this, all_.back().get());
    }
    T* t = free_.back();
    free_.pop_back();
    return Lease(this, t);
  }
  std::size_t size() const noexcept { return all_.size(); }  // objects made so far

 private:
  std::vector<std::unique_ptr<T>> all_;
  std::vector<T*> free_;
};

// The read buffers of the echo examples' connections on this thread (each Loop runs on one).
using EchoBuffer = std::array<std::byte, 64 * 1024>;
inline Pool<EchoBuffer>& echo_buffers() {
  thread_local Pool<EchoBuffer> pool;
  return pool;
}

}  // namespace netpoll::examples
