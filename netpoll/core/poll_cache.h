// PollCache: type-stable storage for PollDescs (Go's pollCache).
//
// PollDescs are carved from slabs that are never returned to the allocator while the cache
// lives, because the kernel can still report an event (or a timer can still fire) for a
// descriptor that was just closed; that event must land on valid memory, and the sequence in
// its token (PollDesc::token) tells it is stale. A token names its PollDesc by slot index, not
// by pointer, so the scheme is the same on every backend and address width.
//
// alloc/free are thread-safe (one lock, held for a few instructions); lookup is lock-free.
// Steady state allocates nothing: freed PollDescs go on a free list and are reused.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "netpoll/core/mutex.h"
#include "netpoll/core/poll_desc.h"
#include "netpoll/contract/event.h"

namespace netpoll {

class PollCache {
 public:
  // 256 x 128 B = one 32 KiB slab: few enough allocations that growth is rare, small enough
  // that a process with a handful of sockets does not pay much for it.
  static constexpr std::uint32_t kSlabSize = 256;
  // 4096 slabs = 1,048,576 descriptors per poller; the directory is 32 KiB.
  static constexpr std::uint32_t kMaxSlabs = 4096;

  PollCache();
  ~PollCache();
  PollCache(const PollCache&) = delete;
  PollCache& operator=(const PollCache&) = delete;

  // A PollDesc not in use, or nullptr when the cache is full or memory is exhausted.
  PollDesc* alloc() noexcept;
  // Returns `pd` for reuse and bumps its sequence, so events and timers for it become stale.
  void free(PollDesc* pd) noexcept;
  // The PollDesc a kernel token names, or nullptr if the token is stale or was never issued.
  PollDesc* lookup(Token t) const noexcept {
    const std::uint32_t index = PollDesc::token_index(t);
    if (index >= kSlabSize * kMaxSlabs) return nullptr;
    PollDesc* slab = slabs_[index / kSlabSize].load(std::memory_order_acquire);
    if (!slab) return nullptr;
    PollDesc* pd = &slab[index % kSlabSize];
    if (pd->fdseq_.load(std::memory_order_acquire) != PollDesc::token_seq(t)) return nullptr;
    return pd;
  }

  // Calls f(PollDesc*) for every PollDesc carved so far, in use or free (slabs live as long as
  // the cache, so no lock is held while f runs).
  template <class F>
  void for_each(F f) {
    std::uint32_t slabs;
    {
      MutexLock g(mu_);
      slabs = slab_count_;
    }
    for (std::uint32_t s = 0; s < slabs; ++s) {
      PollDesc* slab = slabs_[s].load(std::memory_order_acquire);
      for (std::uint32_t i = 0; i < kSlabSize; ++i) f(&slab[i]);
    }
  }

  std::size_t capacity() const noexcept;  // PollDescs carved so far
  std::size_t in_use() const noexcept;    // allocated and not yet freed

 private:
  mutable Mutex mu_;
  PollDesc* free_head_ NETPOLL_GUARDED_BY(mu_) = nullptr;
  std::uint32_t slab_count_ NETPOLL_GUARDED_BY(mu_) = 0;
  std::size_t in_use_ NETPOLL_GUARDED_BY(mu_) = 0;
  std::unique_ptr<std::atomic<PollDesc*>[]> slabs_;
};

}  // namespace netpoll
