// Counts every heap allocation in the process (global operator new is replaced in
// alloc_counter.cc), so benchmarks report allocations per operation as a measurement.
#pragma once

#include <cstdint>

namespace netpoll::testing {
std::uint64_t allocation_count() noexcept;
}  // namespace netpoll::testing
