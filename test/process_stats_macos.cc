// process_stats.h on macOS: Mach task and thread info (no /proc, no pthread_getcpuclockid).
#include <mach/mach.h>
#include <malloc/malloc.h>
#include <pthread.h>

#include "test/process_stats.h"

namespace netpoll::testing {

std::size_t resident_bytes() {
  mach_task_basic_info_data_t info{};
  mach_msg_type_number_t count = MACH_TASK_BASIC_INFO_COUNT;
  if (::task_info(::mach_task_self(), MACH_TASK_BASIC_INFO, reinterpret_cast<task_info_t>(&info),
                  &count) != KERN_SUCCESS)
    return 0;
  return static_cast<std::size_t>(info.resident_size);
}

std::int64_t thread_cpu_ns(std::thread& t) {
  const mach_port_t port = ::pthread_mach_thread_np(t.native_handle());
  thread_basic_info_data_t info{};
  mach_msg_type_number_t count = THREAD_BASIC_INFO_COUNT;
  if (::thread_info(port, THREAD_BASIC_INFO, reinterpret_cast<thread_info_t>(&info), &count) !=
      KERN_SUCCESS)
    return -1;
  const auto us = [](time_value_t v) { return std::int64_t{v.seconds} * 1'000'000 + v.microseconds; };
  return (us(info.user_time) + us(info.system_time)) * 1000;
}

// The default zone keeps freed pages until there is memory pressure; this is that pressure.
void release_free_memory() { ::malloc_zone_pressure_relief(nullptr, 0); }

bool pin_this_thread(int) { return false; }

}  // namespace netpoll::testing
