// Counts every heap allocation in the process (global operator new is replaced in
// alloc_counter.cc), so benchmarks report allocations per operation as a measurement.
#pragma once

#include <cstdint>

namespace netpoll::testing {
std::uint64_t allocation_count() noexcept;
// The bytes those allocations asked for (malloc's own overhead not included).
std::uint64_t allocated_bytes() noexcept;
// Allocations not yet freed (operator new minus operator delete of non-null pointers): equal
// before and after a piece of work means it left nothing behind on the heap.
std::int64_t live_allocation_count() noexcept;
// The next `n` allocations on the calling thread throw std::bad_alloc (out-of-memory paths).
void fail_allocations_on_this_thread(int n) noexcept;
}  // namespace netpoll::testing
