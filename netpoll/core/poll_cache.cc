#include "netpoll/core/poll_cache.h"

#include <mutex>
#include <new>

namespace netpoll {

PollCache::PollCache() : slabs_(new std::atomic<PollDesc*>[kMaxSlabs]) {
  for (std::uint32_t i = 0; i < kMaxSlabs; ++i) slabs_[i].store(nullptr, std::memory_order_relaxed);
}

PollCache::~PollCache() {
  for (std::uint32_t i = 0; i < slab_count_; ++i) delete[] slabs_[i].load(std::memory_order_relaxed);
}

PollDesc* PollCache::alloc() noexcept {
  MutexLock g(mu_);
  if (!free_head_) {
    if (slab_count_ == kMaxSlabs) return nullptr;
    PollDesc* slab = new (std::nothrow) PollDesc[kSlabSize];
    if (!slab) return nullptr;
    const std::uint32_t base = slab_count_ * kSlabSize;
    // Push in reverse so the lowest index is handed out first (keeps tokens dense).
    for (std::uint32_t i = kSlabSize; i-- > 0;) {
      slab[i].index_ = base + i;
      slab[i].set_next_free(free_head_);
      free_head_ = &slab[i];
    }
    // Release: lookup() on the poller thread sees the initialised PollDescs.
    slabs_[slab_count_++].store(slab, std::memory_order_release);
  }
  PollDesc* pd = free_head_;
  free_head_ = pd->next_free();
  pd->set_next_free(nullptr);
  ++in_use_;
  return pd;
}

void PollCache::free(PollDesc* pd) noexcept {
  {
    // Under the PollDesc's lock, as Go does: set_event_error compares the sequence under it.
    MutexLock g(pd->lock_);
    std::uint32_t seq = pd->fdseq_.load(std::memory_order_relaxed) + 1;
    pd->fdseq_.store(seq == 0 ? 1 : seq, std::memory_order_release);
  }
  MutexLock g(mu_);
  pd->set_next_free(free_head_);
  free_head_ = pd;
  --in_use_;
}

std::size_t PollCache::capacity() const noexcept {
  MutexLock g(mu_);
  return std::size_t{slab_count_} * kSlabSize;
}

std::size_t PollCache::in_use() const noexcept {
  MutexLock g(mu_);
  return in_use_;
}

}  // namespace netpoll
