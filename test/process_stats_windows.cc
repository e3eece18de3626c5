#include <windows.h>
#include <psapi.h>
#include <pthread.h>

#include <cstdint>

#include "test/process_stats.h"

namespace netpoll::testing {

std::size_t raise_fd_limit() { return SIZE_MAX; }

std::size_t open_fd_count() {
  DWORD n = 0;
  return GetProcessHandleCount(GetCurrentProcess(), &n) ? n : 0;
}

std::size_t resident_bytes() {
  PROCESS_MEMORY_COUNTERS pmc{};
  pmc.cb = sizeof pmc;
  return GetProcessMemoryInfo(GetCurrentProcess(), &pmc, sizeof pmc) ? pmc.WorkingSetSize : 0;
}

namespace {
std::int64_t handle_cpu_ns(HANDLE h) {
  FILETIME created, exited, kernel, user;
  if (!h || !GetThreadTimes(h, &created, &exited, &kernel, &user)) return -1;
  auto ns = [](FILETIME f) {
    return ((static_cast<std::int64_t>(f.dwHighDateTime) << 32) | f.dwLowDateTime) * 100;
  };
  return ns(kernel) + ns(user);
}
}  // namespace

std::int64_t thread_cpu_ns(std::thread& t) {
  // std::thread is a winpthreads thread with the posix mingw runtime.
  return handle_cpu_ns(pthread_gethandle(t.native_handle()));
}

std::int64_t this_thread_cpu_ns() { return handle_cpu_ns(GetCurrentThread()); }

void release_free_memory() {}

bool pin_this_thread(int) { return false; }

}  // namespace netpoll::testing
