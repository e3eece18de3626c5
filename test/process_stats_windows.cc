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

std::int64_t thread_cpu_ns(std::thread& t) {
  // std::thread is a winpthreads thread with the posix mingw runtime.
  const HANDLE h = pthread_gethandle(t.native_handle());
  FILETIME created, exited, kernel, user;
  if (!h || !GetThreadTimes(h, &created, &exited, &kernel, &user)) return -1;
  auto ns = [](FILETIME f) {
    return ((static_cast<std::int64_t>(f.dwHighDateTime) << 32) | f.dwLowDateTime) * 100;
  };
  return ns(kernel) + ns(user);
}

void release_free_memory() {}

}  // namespace netpoll::testing
