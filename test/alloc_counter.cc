// Kept in its own translation unit: inlined into a caller, GCC 12 misreads the malloc/free
// pairing below as a new/delete mismatch (-Wmismatched-new-delete).
#include "test/alloc_counter.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace {
std::atomic<std::uint64_t> g_allocs{0};
std::atomic<std::uint64_t> g_frees{0};
std::atomic<std::uint64_t> g_bytes{0};
thread_local int tls_fail = 0;
void counted_free(void* p) noexcept {
  if (p) g_frees.fetch_add(1, std::memory_order_relaxed);
  std::free(p);
}
}

std::uint64_t netpoll::testing::allocation_count() noexcept {
  return g_allocs.load(std::memory_order_relaxed);
}

std::uint64_t netpoll::testing::allocated_bytes() noexcept {
  return g_bytes.load(std::memory_order_relaxed);
}

std::int64_t netpoll::testing::live_allocation_count() noexcept {
  return static_cast<std::int64_t>(g_allocs.load(std::memory_order_relaxed) -
                                   g_frees.load(std::memory_order_relaxed));
}

void netpoll::testing::fail_allocations_on_this_thread(int n) noexcept { tls_fail = n; }

void* operator new(std::size_t n) {
  if (tls_fail > 0) {
    --tls_fail;
    throw std::bad_alloc();
  }
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  g_bytes.fetch_add(n, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
// Over-aligned blocks come from malloc too (std::aligned_alloc is missing on Windows): the
// block is over-allocated, aligned, and the malloc'd pointer stored just below it.
void* operator new(std::size_t n, std::align_val_t a) {
  if (tls_fail > 0) {
    --tls_fail;
    throw std::bad_alloc();
  }
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  g_bytes.fetch_add(n, std::memory_order_relaxed);
  const std::size_t al = static_cast<std::size_t>(a);
  void* raw = std::malloc(n + al + sizeof(void*));
  if (!raw) throw std::bad_alloc();
  const std::uintptr_t start = reinterpret_cast<std::uintptr_t>(raw) + sizeof(void*);
  void* p = reinterpret_cast<void*>((start + al - 1) / al * al);
  static_cast<void**>(p)[-1] = raw;
  return p;
}
namespace {
void counted_free_aligned(void* p) noexcept {
  if (!p) return;
  g_frees.fetch_add(1, std::memory_order_relaxed);
  std::free(static_cast<void**>(p)[-1]);
}
}  // namespace
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new[](std::size_t n, std::align_val_t a) { return operator new(n, a); }
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { counted_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { counted_free_aligned(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { counted_free_aligned(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { counted_free_aligned(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { counted_free_aligned(p); }
